"""updated_at triggers and the audit trigger (one row per change, secrets redacted)."""

from __future__ import annotations

import json

import psycopg

from pg import TestDB

SECRET = "argon2id$v=19$m=65536$SECRET-HASH"

UPDATED_AT_TABLES = ["users", "recordings", "playback_sessions", "organizations", "analytics_summaries",
                     "file_storage", "webhooks", "security_events", "retention_policies"]


def test_updated_at_is_set_on_update(db: TestDB, make, world) -> None:
    recording = make.recording(world.alice)
    ids = {
        "users": world.alice, "organizations": world.acme, "recordings": recording,
        "playback_sessions": make.session(recording, world.alice),
        "analytics_summaries": make.insert("analytics_summaries", summary_type="error_stats", time_period="daily",
                                           period_start="2026-01-01", period_end="2026-01-02", metrics="{}"),
        "file_storage": make.file(recording),
        "webhooks": make.webhook(world.alice),
        "security_events": make.insert("security_events", event_type="failed_login", severity="low",
                                       description="x"),
        "retention_policies": db.scalar("SELECT id FROM replay.retention_policies LIMIT 1"),
    }
    assert sorted(ids) == sorted(UPDATED_AT_TABLES)
    old = "2000-01-01 00:00:00+00"
    with psycopg.connect(db.url, autocommit=True) as conn:
        for table, row in ids.items():
            conn.execute(f"ALTER TABLE replay.{table} DISABLE TRIGGER USER")
            conn.execute(f"UPDATE replay.{table} SET updated_at = %s WHERE id = %s", (old, row))
            conn.execute(f"ALTER TABLE replay.{table} ENABLE TRIGGER USER")
        for table, row in ids.items():
            # an update that does not touch updated_at still moves it to now
            conn.execute(f"UPDATE replay.{table} SET created_at = created_at WHERE id = %s", (row,))
            moved = conn.execute(
                f"SELECT updated_at > now() - interval '1 minute' FROM replay.{table} WHERE id = %s", (row,)
            ).fetchone()[0]
            assert moved, table


def audit_rows(db: TestDB, resource_id) -> list[tuple]:
    return db.query(
        """SELECT action::text, resource_type, user_id, old_values, new_values, details, status::text
           FROM replay.audit_logs WHERE resource_id = %s ORDER BY created_at, action""",
        (resource_id,),
    )


def test_one_audit_row_per_user_change_and_no_secret_stored(db: TestDB, make, world) -> None:
    user = make.user("eve", password_hash=SECRET)
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("UPDATE replay.users SET name = 'Eve E', password_hash = %s WHERE id = %s",
                     (SECRET + "-new", user))
        conn.execute("DELETE FROM replay.users WHERE id = %s", (user,))
    rows = audit_rows(db, user)
    assert [(r[0], r[1], r[6]) for r in rows] == [
        ("create", "users", "success"), ("update", "users", "success"), ("delete", "users", "success"),
    ]
    created, updated, deleted = rows
    assert created[3] is None and created[4]["name"] == "eve"
    assert updated[3]["name"] == "eve" and updated[4]["name"] == "Eve E"
    assert updated[5] == {"changedColumns": ["name", "password_hash", "updated_at"]}
    assert deleted[3]["name"] == "Eve E" and deleted[4] is None
    for row in rows:
        for values in (row[3], row[4]):
            if values is not None:
                assert values["password_hash"] == "[REDACTED]"
    stored = db.scalar("SELECT string_agg(coalesce(old_values::text, '') || coalesce(new_values::text, ''), '')"
                       " FROM replay.audit_logs")
    assert "SECRET-HASH" not in stored


def test_one_audit_row_per_recording_change_with_the_actor(db: TestDB, make, world, app) -> None:
    with app.as_user(world.alice) as conn:
        recording = conn.execute(
            "INSERT INTO replay.recordings (user_id, name, url) VALUES (%s, 'Checkout flow', 'https://shop.test/')"
            " RETURNING id", (world.alice,)).fetchone()[0]
        conn.execute("UPDATE replay.recordings SET status = 'completed' WHERE id = %s", (recording,))
        conn.execute("UPDATE replay.recordings SET tags = '{checkout}' WHERE id = %s", (recording,))
        conn.execute("DELETE FROM replay.recordings WHERE id = %s", (recording,))
        # replay_app cannot read other people's audit rows, but sees its own actions
        rows = conn.execute(
            "SELECT action::text, user_id FROM replay.audit_logs WHERE resource_id = %s ORDER BY 1",
            (recording,)).fetchall()
        assert rows == [("create", world.alice), ("delete", world.alice), ("update", world.alice),
                        ("update", world.alice)]
        conn.commit()
    rows = audit_rows(db, recording)
    assert [r[0] for r in rows].count("update") == 2 and len(rows) == 4
    assert {r[1] for r in rows} == {"recordings"}


def test_multi_row_statements_write_one_row_each(db: TestDB, make, world) -> None:
    recordings = [make.recording(world.bob) for _ in range(3)]
    db.execute("UPDATE replay.recordings SET category = 'smoke' WHERE user_id = %s", (world.bob,))
    counts = db.query("SELECT resource_id, count(*) FILTER (WHERE action = 'update') FROM replay.audit_logs"
                      " WHERE resource_type = 'recordings' GROUP BY resource_id")
    assert dict(counts) == {r: 1 for r in recordings}


def test_audit_rows_cannot_be_written_by_the_application(db: TestDB, world, app) -> None:
    for table in ("users", "recordings"):
        events = db.scalar("SELECT tgtype FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s",
                           (f"replay.{table}", f"audit_{table}_trigger"))
        assert events == 1 + 4 + 8 + 16  # ROW + INSERT + DELETE + UPDATE, AFTER (no BEFORE bit)
    with app.as_user(world.alice) as conn:
        assert app.denied(conn, "INSERT INTO replay.audit_logs (action, resource_type, status) "
                                "VALUES ('delete', 'users', 'success')") is psycopg.errors.InsufficientPrivilege
        assert app.denied(conn, "DELETE FROM replay.audit_logs") is psycopg.errors.InsufficientPrivilege


def test_a_user_deleting_their_own_account_is_audited(db: TestDB, world, app) -> None:
    with app.as_user(world.dave) as conn:
        conn.execute("DELETE FROM replay.users WHERE id = %s", (world.dave,))
        conn.commit()
    rows = audit_rows(db, world.dave)
    # the actor is gone, so the row carries no user_id (it could not reference them)
    assert [(r[0], r[2]) for r in rows] == [("create", None), ("delete", None)]


def test_redaction_covers_every_secret_column(db: TestDB, make, world) -> None:
    """The function redacts every secret of the schema, wherever it is attached."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        for table in ("user_sessions", "api_keys", "webhooks"):
            conn.execute(f"CREATE TRIGGER audit_test AFTER INSERT ON replay.{table}"
                         " FOR EACH ROW EXECUTE FUNCTION replay.audit_trigger_function()")
    make.insert("user_sessions", user_id=world.alice, session_token="SECRET-1", refresh_token="SECRET-2",
                expires_at="2999-01-01")
    make.insert("api_keys", user_id=world.alice, name="key", key_hash="SECRET-3", key_prefix="rk_")
    make.webhook(world.alice, secret_key="SECRET-4")
    rows = db.query("SELECT resource_type, new_values FROM replay.audit_logs"
                    " WHERE resource_type IN ('user_sessions', 'api_keys', 'webhooks')")
    assert len(rows) == 3
    assert all("SECRET-" not in json.dumps(values) for _, values in rows)
    redacted = {table: sorted(k for k, v in values.items() if v == "[REDACTED]") for table, values in rows}
    assert redacted == {"user_sessions": ["refresh_token", "session_token"], "api_keys": ["key_hash"],
                        "webhooks": ["secret_key"]}
