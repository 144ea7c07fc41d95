"""The tenant boundary (docs/security.md, capture): what capture_app acting for one user can
read, write, probe and call, and what the read-only role never sees."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg.types.json import Jsonb

from capture.support import page, sha
from pg import TestDB

RECORD = "SELECT capture.record_event(%s, now(), 'click', %s, %s)"
CLICK = Jsonb({"x": 1, "y": 1})
SHARED = page(100)


@dataclass
class Tenant:
    user: uuid.UUID
    replay: uuid.UUID
    event: int
    own_page: str


@pytest.fixture
def tenants(db: TestDB, make, app) -> tuple[Tenant, Tenant]:
    """alice and bob: a replay each, an event on a page of their own and one on a shared page."""
    made = []
    for n, name in enumerate(("alice", "bob")):
        user = make.user(name, github_id=1000 + n)
        replay = make.replay(user)
        with app.as_user(user) as conn:
            event = conn.execute(RECORD, (replay, CLICK, page(n))).fetchone()[0]
            conn.execute(RECORD, (replay, CLICK, SHARED))
            conn.commit()
        made.append(Tenant(user, replay, event, page(n)))
    return made[0], made[1]


def _rows(conn: psycopg.Connection, sql: str, params: object = None) -> list[tuple]:
    return conn.execute(sql, params).fetchall()


def test_a_user_reads_only_their_own_rows_and_the_pages_of_their_events(app, tenants) -> None:
    alice, bob = tenants
    with app.as_user(alice.user) as conn:
        assert _rows(conn, "SELECT user_id FROM capture.users") == [(alice.user,)]
        assert _rows(conn, "SELECT replay_id FROM capture.replays") == [(alice.replay,)]
        assert {r[0] for r in _rows(conn, "SELECT replay_id FROM capture.events")} == {alice.replay}
        assert {r[0] for r in _rows(conn, "SELECT html_hash FROM capture.webstates")} == {
            sha(alice.own_page), sha(SHARED)}
        # the page view of a replay: events with their HTML
        shown = _rows(conn, "SELECT e.event_id, w.html_content FROM capture.events e"
                            " LEFT JOIN capture.webstates w ON w.html_hash = e.webstate_hash"
                            " WHERE e.replay_id = %s ORDER BY e.event_id", (alice.replay,))
        assert [html for _, html in shown] == [alice.own_page, SHARED]
    for nobody in (None, ""):
        with app.as_user(nobody) as conn:
            for table in ("users", "replays", "events", "webstates"):
                assert _rows(conn, f"SELECT count(*) FROM capture.{table}") == [(0,)]
    with app.as_user("not-a-uuid") as conn:
        assert app.error(conn, "SELECT count(*) FROM capture.replays") == "22P02"


def test_nobody_can_probe_for_or_reference_a_page_by_its_hash(app, tenants) -> None:
    alice, bob = tenants
    with app.as_user(alice.user) as conn:
        assert _rows(conn, "SELECT html_content FROM capture.webstates WHERE html_hash = %s",
                     (sha(bob.own_page),)) == []
        assert app.error(conn, "INSERT INTO capture.events (replay_id, timestamp, event_type, webstate_hash)"
                               " VALUES (%s, now(), 'click', %s)", (alice.replay, sha(bob.own_page))) == "42501"
        assert app.error(conn, "INSERT INTO capture.webstates (html_content) VALUES ('x')") == "42501"
        for call in ("capture.store_webstate('x')", "capture.ensure_webstates(ARRAY['x'])"):
            assert app.error(conn, f"SELECT {call}") == "42501"
        # when a page was first captured (by anyone) is not readable
        assert app.error(conn, "SELECT captured_at FROM capture.webstates") == "42501"
        # recording a page that exists looks exactly like recording a new one
        known = conn.execute(RECORD, (alice.replay, CLICK, bob.own_page)).fetchone()
        new = conn.execute(RECORD, (alice.replay, CLICK, page(999))).fetchone()
        assert [type(known[0]), type(new[0])] == [int, int]


def test_a_user_cannot_change_or_delete_another_users_rows(db: TestDB, app, tenants) -> None:
    alice, bob = tenants
    with app.as_user(alice.user) as conn:
        for statement in (
            "UPDATE capture.users SET name = 'pwned' WHERE user_id = %(bob)s",
            "DELETE FROM capture.users WHERE user_id = %(bob)s",
            "DELETE FROM capture.replays WHERE replay_id = %(replay)s",
            "DELETE FROM capture.events WHERE replay_id = %(replay)s",
        ):
            with conn.transaction():
                assert conn.execute(statement, {"bob": bob.user, "replay": bob.replay}).rowcount == 0
        assert app.error(conn, "SELECT capture.end_replay(%s)", (bob.replay,)) == "P0002"
        assert app.error(conn, RECORD, (bob.replay, CLICK, None)) == "P0002"
        assert app.error(conn, "SELECT capture.record_events(%s, %s)",
                         (bob.replay, Jsonb([{"timestamp": 0, "event_type": "click"}]))) == "P0002"
        assert app.error(conn, "INSERT INTO capture.replays (user_id, initial_url) VALUES (%s, 'https://a.test/')",
                         (bob.user,)) == "42501"
        conn.commit()
    assert db.scalar("SELECT count(*) FROM capture.events WHERE replay_id = %s", (bob.replay,)) == 2
    # bob deletes his replay although alice's events show the same page
    with app.as_user(bob.user) as conn:
        assert conn.execute("DELETE FROM capture.replays WHERE replay_id = %s", (bob.replay,)).rowcount == 1
        conn.commit()
    assert db.scalar("SELECT count(*) FROM capture.events") == 2


def test_values_the_database_assigns_are_not_writable(app, tenants) -> None:
    alice, _ = tenants
    denied = [
        "UPDATE capture.users SET created_at = now() - interval '1 year'",
        "UPDATE capture.users SET github_id = 5",
        "UPDATE capture.users SET user_id = gen_random_uuid()",
        "INSERT INTO capture.replays (replay_id, initial_url) VALUES (gen_random_uuid(), 'https://a.test/')",
        "INSERT INTO capture.replays (initial_url, start_time) VALUES ('https://a.test/', now() - interval '1 day')",
        "INSERT INTO capture.replays (initial_url, end_time) VALUES ('https://a.test/', now())",
        "UPDATE capture.replays SET end_time = NULL",
        "UPDATE capture.events SET timestamp = now()",
        "INSERT INTO capture.events (replay_id, timestamp, event_type) VALUES (gen_random_uuid(), now(), 'click')",
        "UPDATE capture.webstates SET html_content = 'rewritten'",
        "DELETE FROM capture.webstates",
        "SELECT * FROM capture.monthly_reports",
        "SELECT capture.generate_monthly_report('2024-01-01')",
        "SELECT capture.prune_webstates()",
    ]
    with app.as_user(alice.user) as conn:
        assert [(s, app.error(conn, s)) for s in denied] == [(s, "42501") for s in denied]
        # what a user may do with their own rows
        assert conn.execute("UPDATE capture.users SET name = 'Alice A.', email = 'a2@example.test'").rowcount == 1
        new = conn.execute("INSERT INTO capture.replays (initial_url) VALUES ('https://a.test/x')"
                           " RETURNING user_id, start_time = now(), end_time").fetchone()
        assert new == (alice.user, True, None)


def test_app_grants_are_exactly_these(db: TestDB) -> None:
    tables = db.query("""SELECT table_name, privilege_type FROM information_schema.table_privileges
                         WHERE grantee = 'capture_app' AND table_schema = 'capture' ORDER BY 1, 2""")
    assert tables == [("events", "DELETE"), ("events", "SELECT"), ("replays", "DELETE"), ("replays", "SELECT"),
                      ("users", "DELETE"), ("users", "SELECT")]
    columns = db.query("""SELECT table_name, column_name, privilege_type FROM information_schema.column_privileges
                          WHERE grantee = 'capture_app' AND table_schema = 'capture'
                            AND (table_name, privilege_type) NOT IN (
                                ('events', 'SELECT'), ('replays', 'SELECT'), ('users', 'SELECT'))
                          ORDER BY 1, 3, 2""")
    assert columns == [("replays", "initial_url", "INSERT"), ("users", "email", "UPDATE"),
                       ("users", "name", "UPDATE"), ("webstates", "html_content", "SELECT"),
                       ("webstates", "html_hash", "SELECT")]
    functions = db.query("""SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'capture'::regnamespace
                              AND has_function_privilege('capture_app', p.oid, 'EXECUTE') ORDER BY 1""")
    assert [r[0] for r in functions] == ["current_user_id", "end_replay", "find_user_id", "record_event",
                                         "record_events", "record_events", "register_user"]
    assert db.query("SELECT rolinherit, rolcanlogin FROM pg_roles WHERE rolname = 'capture_app'") == [(False, False)]
    assert db.scalar("SELECT count(*) FROM pg_roles WHERE rolname = 'capture_worker'") == 0


def test_read_only_role_sees_every_row_but_no_personal_column(db: TestDB, tenants) -> None:
    with db.as_role("schema_tool_readonly") as conn:
        counts = [conn.execute(f"SELECT count(*) FROM capture.{t}").fetchone()[0]
                  for t in ("users", "replays", "events", "webstates")]
        assert counts == [2, 2, 4, 3]
        conn.execute("SELECT user_id, name, created_at FROM capture.users")
        conn.execute("SELECT html_hash, captured_at FROM capture.webstates")
        conn.execute("SELECT event_id, replay_id, timestamp, event_type, webstate_hash FROM capture.events")
        conn.execute("SELECT * FROM capture.replays")
        conn.execute("SELECT * FROM capture.monthly_reports")
        for column in ("users.email", "users.github_id", "webstates.html_content", "events.event_data"):
            table, name = column.split(".")
            assert (column, _denied(conn, f"SELECT {name} FROM capture.{table}")) == (column, "42501")
        for call in ("capture.find_user_id('alice@example.test')", "capture.prune_webstates()"):
            assert _denied(conn, f"SELECT {call}") == "42501"


def _denied(conn: psycopg.Connection, sql: str) -> str | None:
    try:
        with conn.transaction():
            conn.execute(sql)
    except psycopg.Error as exc:
        return exc.sqlstate
    return None


def test_registration_and_sign_in_lookup(db: TestDB, app) -> None:
    with app.as_user(None) as conn:  # before anyone signs in
        alice = conn.execute("SELECT capture.register_user('Alice@Example.test', 'Alice', 77)").fetchone()[0]
        assert conn.execute("SELECT capture.find_user_id('ALICE@example.TEST')").fetchone()[0] == alice
        assert conn.execute("SELECT capture.find_user_id(p_github_id => 77)").fetchone()[0] == alice
        for call, sqlstate in (
            ("capture.find_user_id('nobody@example.test')", "P0002"),
            ("capture.find_user_id(p_github_id => 78)", "P0002"),
            ("capture.find_user_id()", "22004"),
            ("capture.find_user_id('alice@example.test', 77)", "22023"),
            ("capture.register_user('alice@EXAMPLE.test', 'Again')", "23505"),
            ("capture.register_user('x@example.test', 'X', 77)", "23505"),
            ("capture.register_user('not an email', 'X')", "23514"),
            ("capture.register_user(NULL, 'X')", "22004"),
            ("capture.register_user('y@example.test', NULL)", "22004"),
        ):
            assert (call, app.error(conn, f"SELECT {call}")) == (call, sqlstate)
        # the new user's row is not visible until the session acts for them
        assert _rows(conn, "SELECT count(*) FROM capture.users") == [(0,)]
