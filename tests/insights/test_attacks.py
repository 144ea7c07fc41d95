"""The tenant boundary (docs/security.md, insights): what insights_app acting for one project can
read, write, reference and call, and what the read-only role never sees."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from pg import TestDB

TABLES = ["users", "sessions", "events", "rage_click_events", "heatmap_points", "journey_steps",
          "latency_metrics", "emotion_predictions", "experience_scores", "replay_chunks", "error_logs"]


@dataclass
class Tenant:
    project: uuid.UUID
    user: uuid.UUID
    session: uuid.UUID
    event: int


def _tenant(make, name: str) -> Tenant:
    project = make.project(name)
    user = make.user(project, f"{name}@example.test")
    session = make.session(project, user, ip_address="10.0.0.1", user_agent="UA", device_id="dev")
    make.clicks(project, session, [(0, 1, 1, "home", "b"), (100, 1, 1, "home", "b"), (200, 1, 1, "home", "b")])
    event = make.conn.execute("SELECT max(event_id) FROM insights.events WHERE session_id = %s",
                              (session,)).fetchone()[0]
    for table, cols in [("heatmap_points", {"screen": "home", "x": 1, "y": 1}),
                        ("latency_metrics", {"api": "/a", "latency_ms": 5}),
                        ("emotion_predictions", {"emotion": "joy", "confidence": 0.5, "event_id": event}),
                        ("replay_chunks", {"chunk_index": 0, "chunk_data": "[]"}),
                        ("error_logs", {"message": "boom"})]:
        make.insert(table, project, {"session_id": session, **cols})
    for function in ("detect_rage_clicks", "build_journey", "calculate_experience_score"):
        make.conn.execute(f"SELECT set_config('app.project_id', %s, false), insights.{function}(%s)",
                          (str(project), session))
    return Tenant(project, user, session, event)


@pytest.fixture
def tenants(make) -> tuple[Tenant, Tenant]:
    return _tenant(make, "alice"), _tenant(make, "bob")


def _counts(db: TestDB, project: uuid.UUID) -> dict[str, int]:
    return {t: db.scalar(f"SELECT count(*) FROM insights.{t} WHERE project_id = %s", (project,)) for t in TABLES}


def test_a_definer_function_refuses_another_projects_session(db: TestDB, app, tenants) -> None:
    alice, bob = tenants
    before = db.query("SELECT tableoid::regclass::text, id, xmin::text FROM insights.rage_click_events"
                      " UNION ALL SELECT tableoid::regclass::text, id, xmin::text FROM insights.journey_steps"
                      " UNION ALL SELECT tableoid::regclass::text, id, xmin::text FROM insights.experience_scores"
                      " ORDER BY 1, 2")
    with app.as_project(alice.project) as conn:
        for function in ("detect_rage_clicks", "build_journey", "calculate_experience_score"):
            assert app.error(conn, f"SELECT insights.{function}(%s)", (bob.session,)) == "P0002", function
            assert conn.execute(f"SELECT insights.{function}(%s)", (alice.session,)).fetchone()[0] is not None
        assert app.error(conn, "SELECT insights.detect_rage_clicks(%s, 2, '1 hour', 100000)", (bob.session,)) \
            == "P0002"
        conn.commit()
    after = db.query("SELECT tableoid::regclass::text, id, xmin::text FROM insights.rage_click_events"
                     " UNION ALL SELECT tableoid::regclass::text, id, xmin::text FROM insights.journey_steps"
                     " UNION ALL SELECT tableoid::regclass::text, id, xmin::text FROM insights.experience_scores"
                     " ORDER BY 1, 2")
    assert after == before, "nobody's derived rows rewritten (alice's were already current)"


def test_a_project_sees_and_changes_only_its_rows(db: TestDB, app, tenants) -> None:
    alice, bob = tenants
    bobs = _counts(db, bob.project)
    assert all(n >= 1 for n in bobs.values()), bobs
    with app.as_project(alice.project) as conn:
        for table in TABLES:
            seen = conn.execute(f"SELECT DISTINCT project_id FROM insights.{table}").fetchall()
            assert seen == [(alice.project,)], table
            conn.execute(f"DELETE FROM insights.{table} WHERE project_id = %s", (bob.project,)) \
                if table not in ("rage_click_events", "journey_steps", "experience_scores") else None
        assert conn.execute("SELECT project_id FROM insights.projects").fetchall() == [(alice.project,)]
        assert conn.execute("UPDATE insights.sessions SET ended_at = now() WHERE session_id = %s",
                            (bob.session,)).rowcount == 0
        conn.commit()
    assert _counts(db, bob.project) == bobs
    with app.as_project(None) as conn:  # nobody: no rows, no error
        assert all(conn.execute(f"SELECT count(*) FROM insights.{t}").fetchone()[0] == 0 for t in TABLES)


def test_references_stay_inside_the_project(app, tenants) -> None:
    alice, bob = tenants
    with app.as_project(alice.project) as conn:
        at = "'2030-03-10 12:00:00+00'"
        assert app.error(conn, f"INSERT INTO insights.events (session_id, event_type, occurred_at)"
                               f" VALUES (%s, 'click', {at})", (bob.session,)) == "23503"
        assert app.error(conn, "INSERT INTO insights.heatmap_points (session_id, screen, x, y) VALUES (%s, 'h', 1, 1)",
                         (bob.session,)) == "23503"
        assert app.error(conn, "UPDATE insights.sessions SET user_id = %s WHERE session_id = %s",
                         (bob.user, alice.session)) == "23503"
        # bob's event, named with its time: refused by the composite key; without it, not found (RLS)
        occurred = "(SELECT min(occurred_at) FROM insights.events)"
        assert app.error(conn, f"INSERT INTO insights.emotion_predictions (session_id, event_id, event_occurred_at,"
                               f" emotion, confidence) VALUES (%s, %s, {occurred}, 'joy', 0.5)",
                         (alice.session, bob.event)) == "23503"
        assert app.error(conn, "INSERT INTO insights.emotion_predictions (session_id, event_id, emotion, confidence)"
                               " VALUES (%s, %s, 'joy', 0.5)", (alice.session, bob.event)) == "23514"
        # a row for another project: project_id is the database's (not granted), and RLS checks it
        assert app.error(conn, "INSERT INTO insights.sessions (project_id) VALUES (%s)", (bob.project,)) == "42501"
        assert app.error(conn, "SELECT insights.erase_user(%s)", (bob.user,)) == "P0002"
        assert conn.execute("SELECT count(*) FROM insights.heatmap('home', '2000-01-01', '2099-01-01')"
                            ).fetchone()[0] == 1


def test_database_assigned_values_are_not_writable(app, tenants) -> None:
    alice, _ = tenants
    with app.as_project(alice.project) as conn:
        for statement in [
            "INSERT INTO insights.rage_click_events (session_id, click_count, first_click_at, last_click_at)"
            " VALUES (%(s)s, 3, now(), now())",
            "INSERT INTO insights.journey_steps (session_id, step_num, screen) VALUES (%(s)s, 1, 'x')",
            "INSERT INTO insights.experience_scores (session_id, score) VALUES (%(s)s, 100)",
            "UPDATE insights.experience_scores SET score = 100",
            "UPDATE insights.rage_click_events SET click_count = 99",
            "UPDATE insights.sessions SET started_at = now()",
            "UPDATE insights.sessions SET session_id = gen_random_uuid()",
            "UPDATE insights.users SET created_at = now()",
            "INSERT INTO insights.replay_chunks (session_id, chunk_index, chunk_data, recorded_at)"
            " VALUES (%(s)s, 1, '[]', now())",
            "UPDATE insights.events SET screen = 'x'",
            "INSERT INTO insights.projects (name) VALUES ('mine')",
        ]:
            assert app.error(conn, statement, {"s": alice.session}) == "42501", statement
        # generated: refused before privileges are looked at
        assert app.error(conn, "UPDATE insights.sessions SET duration_ms = 1") == "428C9"
        assert app.error(conn, "INSERT INTO insights.events (event_id, session_id, event_type)"
                               " VALUES (1, %s, 'click')", (alice.session,)) == "428C9"


def test_read_only_role_never_sees_personal_data(db: TestDB, tenants) -> None:
    with db.as_role("schema_tool_readonly") as conn:
        for column in ("users.email", "sessions.ip_address", "sessions.user_agent", "replay_chunks.chunk_data"):
            table, name = column.split(".")
            with pytest.raises(Exception) as exc:
                with conn.transaction():
                    conn.execute(f"SELECT {name} FROM insights.{table}")
            assert getattr(exc.value, "sqlstate", None) == "42501", column
        assert conn.execute("SELECT count(*) FROM insights.sessions WHERE duration_ms IS NULL").fetchone()[0] == 2
        assert conn.execute("SELECT count(DISTINCT project_id) FROM insights.events").fetchone()[0] == 2


def test_erase_user_keeps_anonymous_analytics(db: TestDB, make, app, tenants) -> None:
    alice, bob = tenants
    second = make.session(alice.project, alice.user, ip_address="10.0.0.2", user_agent="UA2")
    events = db.scalar("SELECT count(*) FROM insights.events WHERE project_id = %s", (alice.project,))
    with app.as_project(alice.project) as conn:
        assert conn.execute("SELECT insights.erase_user(%s)", (alice.user,)).fetchone()[0] == 2
        assert app.error(conn, "SELECT insights.erase_user(%s)", (alice.user,)) == "P0002"
        assert app.error(conn, "SELECT insights.erase_user(NULL)") == "22004"
        conn.commit()
    with app.as_project(None) as conn:
        assert app.error(conn, "SELECT insights.erase_user(%s)", (bob.user,)) == "42501"
    assert db.query("SELECT user_id, ip_address, user_agent, device_id FROM insights.sessions"
                    " WHERE session_id IN (%s, %s)", (alice.session, second)) == [(None, None, None, None)] * 2
    assert db.scalar("SELECT count(*) FROM insights.users WHERE user_id = %s", (alice.user,)) == 0
    assert db.scalar("SELECT count(*) FROM insights.events WHERE project_id = %s", (alice.project,)) == events
    assert db.query("SELECT ip_address, user_agent FROM insights.sessions WHERE session_id = %s",
                    (bob.session,)) == [("10.0.0.1", "UA")]
