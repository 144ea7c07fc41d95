"""Attacks on values the database assigns and on secrets (issue 11, items 2 and 5), as
replay_app acting for the attacker: account state, billing, counters, API key hashes,
credential-bearing columns read by reporting."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from psycopg import errors

from pg import TestDB

NO_GRANT = errors.InsufficientPrivilege
ACCOUNT = "SELECT role, is_active, is_verified, failed_login_attempts, locked_until, last_login_at, deleted_at" \
          " FROM replay.users WHERE id = %s"


def test_users_cannot_write_their_own_account_state(app, db: TestDB, world) -> None:
    before = db.query(ACCOUNT, (world.bob,))
    with app.as_user(world.bob) as conn:
        for change in ("role = 'admin'", "is_verified = TRUE", "locked_until = NULL", "failed_login_attempts = 0",
                       "is_active = TRUE", "deleted_at = NULL", "last_login_at = now()", "created_at = now()",
                       "updated_at = now()"):
            assert app.denied(conn, f"UPDATE replay.users SET {change} WHERE id = %s", (world.bob,)) is NO_GRANT, change
        assert app.affected(conn, "UPDATE replay.users SET name = 'Bobby' WHERE id = %s", (world.bob,)) == 1
    newcomer = uuid.uuid4()
    with app.as_user(newcomer) as conn:  # signing up as a verified admin
        assert app.denied(conn, "INSERT INTO replay.users (id, email, password_hash, name, role, is_verified)"
                                " VALUES (%s, 'n@example.test', 'h', 'Newbie', 'admin', TRUE)",
                          (newcomer,)) is NO_GRANT
    assert db.query(ACCOUNT, (world.bob,)) == before


def test_logins_are_recorded_by_the_database(app, db: TestDB, make, world) -> None:
    email = db.scalar("SELECT email FROM replay.users WHERE id = %s", (world.bob,))
    record = "SELECT replay.record_login(%s, %s)"
    with app.as_user(None) as conn:  # before anyone is known: failures only
        for _ in range(5):
            assert conn.execute(record, (email, False)).fetchone() == (None,)
        assert conn.execute(record, ("nobody@example.test", False)).fetchone() == (None,)  # same answer
        conn.commit()
    locked = db.query("SELECT failed_login_attempts, locked_until > now() + interval '14 minutes'"
                      " FROM replay.users WHERE id = %s", (world.bob,))
    assert locked == [(5, True)]
    with app.as_user(world.bob) as conn, pytest.raises(NO_GRANT):  # locked: no success recorded
        conn.execute(record, (email, True))
    with app.as_user(world.alice) as conn, pytest.raises(NO_GRANT):  # nor by someone else
        conn.execute(record, (email, True))
    db.execute("UPDATE replay.users SET locked_until = now() - interval '1 second' WHERE id = %s", (world.bob,))
    with app.as_user(world.bob) as conn:
        assert conn.execute(record, (email, True)).fetchone() == (world.bob,)
        for args, error in (((None, True), errors.NullValueNotAllowed), ((email, None), errors.NullValueNotAllowed),
                            ((" ", False), errors.InvalidParameterValue)):
            with pytest.raises(error), conn.transaction():
                conn.execute(record, args)
        conn.commit()
    assert db.query("SELECT failed_login_attempts, locked_until, last_login_at IS NOT NULL FROM replay.users"
                    " WHERE id = %s", (world.bob,)) == [(0, None, True)]


def test_verification_and_closing_an_account(app, db: TestDB, world) -> None:
    db.execute("UPDATE replay.users SET is_verified = TRUE WHERE id = %s", (world.bob,))
    with app.as_user(world.bob) as conn:  # a new address is not verified
        conn.execute("UPDATE replay.users SET email = 'bob.new@example.test' WHERE id = %s", (world.bob,))
        assert conn.execute("SELECT is_verified FROM replay.users WHERE id = %s", (world.bob,)).fetchone() == (False,)
        conn.execute("SELECT replay.mark_email_verified()")
        assert conn.execute("SELECT is_verified FROM replay.users WHERE id = %s", (world.bob,)).fetchone() == (True,)
        conn.execute("SELECT replay.close_account()")
        conn.commit()
    assert db.query("SELECT is_active, deleted_at IS NOT NULL FROM replay.users WHERE id = %s",
                    (world.bob,)) == [(False, True)]
    for function in ("replay.mark_email_verified()", "replay.close_account()"):
        with app.as_user(None) as conn, pytest.raises(NO_GRANT):
            conn.execute(f"SELECT {function}")


def test_owners_cannot_set_their_subscription(app, db: TestDB, world) -> None:
    billing = "SELECT subscription_plan, subscription_status, subscription_expires_at FROM replay.organizations" \
              " WHERE id = %s"
    before = db.query(billing, (world.acme,))
    with app.as_user(world.alice) as conn:
        for change in ("subscription_plan = 'enterprise'", "subscription_status = 'active'",
                       "subscription_expires_at = '2999-01-01'", "created_at = now()"):
            assert app.denied(conn, f"UPDATE replay.organizations SET {change} WHERE id = %s",
                              (world.acme,)) is NO_GRANT, change
        assert app.affected(conn, "UPDATE replay.organizations SET description = 'ours' WHERE id = %s",
                            (world.acme,)) == 1
    assert db.query(billing, (world.acme,)) == before


def test_api_key_counters_limits_and_hashes(app, db: TestDB, make, world) -> None:
    raw = "rk_live_0123456789abcdef"
    stored = hashlib.sha256(raw.encode()).hexdigest()
    key = make.insert("api_keys", user_id=world.bob, name="ci key", key_hash=stored, key_prefix="rk_live")
    with app.as_user(world.bob) as conn:
        for change in ("usage_count = 0", "last_used_at = NULL", "rate_limit_per_hour = 1000000",
                       "key_hash = 'x'", "created_at = now()"):
            assert app.denied(conn, f"UPDATE replay.api_keys SET {change} WHERE id = %s", (key,)) is NO_GRANT, change
        assert app.denied(conn, "INSERT INTO replay.api_keys (user_id, name, key_hash, key_prefix,"
                                " rate_limit_per_hour) VALUES (%s, 'big', 'h2', 'rk', 1000000)",
                          (world.bob,)) is NO_GRANT
    authenticate = "SELECT user_id FROM replay.authenticate_api_key(%s)"
    with app.as_user(None) as conn:
        # whoever reads the stored hash (a backup, a log) holds no credential
        assert conn.execute(authenticate, (stored,)).fetchall() == []
        assert conn.execute(authenticate, (raw,)).fetchall() == [(world.bob,)]
        for bad, error in ((None, errors.NullValueNotAllowed), ("", errors.InvalidParameterValue)):
            with pytest.raises(error), conn.transaction():
                conn.execute(authenticate, (bad,))
        conn.commit()
    assert db.query("SELECT usage_count FROM replay.api_keys WHERE id = %s", (key,)) == [(1,)]


def test_webhook_counters_follow_deliveries(app, db: TestDB, make, world) -> None:
    hook = make.webhook(world.bob)
    with app.as_user(world.bob) as conn:
        for change in ("success_count = 1000", "failure_count = 0", "last_triggered_at = now()"):
            assert app.denied(conn, f"UPDATE replay.webhooks SET {change} WHERE id = %s", (hook,)) is NO_GRANT
        delivered, failed = (conn.execute("INSERT INTO replay.webhook_deliveries (webhook_id, event_type, payload)"
                                          " VALUES (%s, 'recording_created', '{}') RETURNING id", (hook,)).fetchone()[0]
                             for _ in range(2))
        conn.execute("UPDATE replay.webhook_deliveries SET status = 'delivered', status_code = 200 WHERE id = %s",
                     (delivered,))
        conn.execute("UPDATE replay.webhook_deliveries SET status = 'failed', attempt_count = 3 WHERE id = %s",
                     (failed,))
        conn.execute("UPDATE replay.webhook_deliveries SET attempt_count = 4 WHERE id = %s", (failed,))
        conn.commit()
    assert db.query("SELECT success_count, failure_count, last_triggered_at IS NOT NULL FROM replay.webhooks"
                    " WHERE id = %s", (hook,)) == [(1, 1, True)]


def test_time_and_triage_columns_are_the_databases(app, db: TestDB, make, world) -> None:
    recording = make.recording(world.bob)
    with app.as_user(world.bob) as conn:
        for statement, params in [
            ("INSERT INTO replay.analytics_events (event_type, event_category, user_id, created_at)"
             " VALUES ('api_request', 'api', %s, '2099-12-01')", (world.bob,)),
            ("INSERT INTO replay.analytics_events (id, event_type, event_category, user_id)"
             " VALUES (gen_random_uuid(), 'api_request', 'api', %s)", (world.bob,)),
            ("INSERT INTO replay.security_events (event_type, severity, description, user_id, resolved_by)"
             " VALUES ('failed_login', 'low', 'd', %s, %s)", (world.bob, world.bob)),
            ("INSERT INTO replay.recordings (user_id, name, url, created_at) VALUES (%s, 'old one',"
             " 'https://e.test/', '2001-01-01')", (world.bob,)),
            ("UPDATE replay.recordings SET user_id = %s WHERE id = %s", (world.alice, recording)),
            ("UPDATE replay.file_storage SET archived = TRUE", None),
            ("UPDATE replay.playback_sessions SET user_id = %s", (world.alice,)),
        ]:
            assert app.denied(conn, statement, params) is NO_GRANT, statement
        # deleted_at: the tenant deletes, the database says when
        conn.execute("UPDATE replay.recordings SET deleted_at = '2001-01-01', last_accessed_at = '2099-01-01'"
                     " WHERE id = %s", (recording,))
        conn.commit()
    assert db.query("SELECT deleted_at > now() - interval '1 minute', last_accessed_at <= now()"
                    " FROM replay.recordings WHERE id = %s", (recording,)) == [(True, True)]
    assert db.scalar("SELECT count(*) FROM replay.analytics_events") == 0


CREDENTIALS = [
    ("users", "password_hash"), ("user_sessions", "session_token"), ("user_sessions", "refresh_token"),
    ("api_keys", "key_hash"), ("webhooks", "secret_key"), ("webhooks", "headers"),
    ("playback_sessions", "session_token"), ("playback_sessions", "browser_session_id"),
    ("webhook_deliveries", "payload"), ("webhook_deliveries", "headers"), ("webhook_deliveries", "response_body"),
    ("webhook_deliveries", "response_headers"), ("recording_steps", "interaction_data"),
    ("recording_steps", "dom_snapshot"), ("recording_steps", "dom_mutations"),
    ("playback_step_results", "error_details"), ("playback_step_results", "network_requests"),
    ("playback_step_results", "console_logs"), ("organization_invitations", "token_hash"),
]


def test_reporting_reads_no_credential_bearing_column(db: TestDB, make, world) -> None:
    make.webhook(world.bob, secret_key="whsec", headers='{"Authorization": "Bearer s3cret"}')
    for table, column in CREDENTIALS:
        with db.as_role("schema_tool_readonly") as conn, pytest.raises(NO_GRANT):
            conn.execute(f"SELECT {column} FROM replay.{table}")
    with db.as_role("schema_tool_readonly") as conn:  # the rest of every row stays readable
        assert conn.execute("SELECT count(url) FROM replay.webhooks").fetchone() == (1,)
        assert conn.execute("SELECT count(interaction_type) FROM replay.recording_steps").fetchone() == (0,)
