"""Bad input: every CHECK rejects a bad value under its own name; the UNIQUEs hold."""

from __future__ import annotations

import pytest
from psycopg import errors

from pg import TestDB, rejected_checks

# (table, SET clause that breaks it, constraint expected)
BAD_UPDATES = [
    ("users", "email = 'not-an-email'", "chk_users_email_format"),
    ("users", "email = 'a@b.c'", "chk_users_email_format"),
    ("users", "name = 'A'", "chk_users_name_length"),
    ("users", "failed_login_attempts = -1", "chk_users_failed_attempts"),
    ("user_sessions", "expires_at = created_at - interval '1 second'", "chk_sessions_expires_future"),
    ("user_sessions", "expires_at = created_at", "chk_sessions_expires_future"),
    ("api_keys", "name = 'ab'", "chk_api_keys_name_length"),
    ("api_keys", "usage_count = -1", "chk_api_keys_usage_count"),
    ("organizations", "slug = 'Acme'", "chk_organizations_slug_format"),
    ("organizations", "slug = 'acme corp'", "chk_organizations_slug_format"),
    ("organizations", "name = 'A'", "chk_organizations_name_length"),
    ("recordings", "name = 'ab'", "chk_recordings_name_length"),
    ("recordings", "url = 'ftp://example.test/'", "chk_recordings_url_format"),
    ("recordings", "url = 'javascript:alert(1)'", "chk_recordings_url_format"),
    ("recordings", "duration_ms = -1", "chk_recordings_duration"),
    ("recordings", "step_count = -1", "chk_recordings_step_count"),
    ("recordings", "file_size_bytes = -1", "chk_recordings_file_size"),
    ("recordings", "compression_ratio = 1.01", "chk_recordings_compression"),
    ("recordings", "compression_ratio = -0.01", "chk_recordings_compression"),
    ("recording_steps", "step_number = 0", "chk_steps_step_number"),
    ("recording_steps", "timestamp_ms = -1", "chk_steps_timestamp"),
    ("recording_steps", "execution_time_ms = -1", "chk_steps_execution_time"),
    ("playback_sessions", "current_step = -1", "chk_playback_current_step"),
    ("playback_sessions", "total_steps = 0", "chk_playback_total_steps"),
    ("playback_sessions", "progress_percentage = 100.01", "chk_playback_progress"),
    ("playback_sessions", "progress_percentage = -1", "chk_playback_progress"),
    ("playback_sessions", "success_rate = 101", "chk_playback_success_rate"),
    ("playback_sessions", "error_count = -1", "chk_playback_error_count"),
    ("playback_sessions", "retry_count = -1", "chk_playback_retry_count"),
    ("playback_step_results", "step_number = 0", "chk_step_results_step_number"),
    ("playback_step_results", "execution_time_ms = -5", "chk_step_results_execution_time"),
    ("playback_step_results", "retry_count = -1", "chk_step_results_retry_count"),
    ("analytics_events", "created_at = 'infinity'", "chk_analytics_events_created_at_finite"),
    ("analytics_events", "created_at = '1999-12-31 23:59:59+00'", "chk_analytics_events_created_at_range"),
    ("analytics_events", "created_at = '2100-01-01 00:00:00+00'", "chk_analytics_events_created_at_range"),
    ("file_storage", "file_size_bytes = 0", "chk_file_storage_size"),
    ("file_storage", "compression_ratio = 1.5", "chk_file_storage_compression"),
    ("webhooks", "url = 'hooks.example.test'", "chk_webhooks_url_format"),
    ("webhooks", "name = 'ab'", "chk_webhooks_name_length"),
    ("webhooks", "events = '{}'", "chk_webhooks_events_not_empty"),
    ("webhook_deliveries", "attempt_count = -1", "chk_webhook_deliveries_attempt_count"),
    ("webhook_deliveries", "max_attempts = 0", "chk_webhook_deliveries_max_attempts"),
    ("webhook_deliveries", "status_code = 99", "chk_webhook_deliveries_status_code"),
    ("webhook_deliveries", "status_code = 600", "chk_webhook_deliveries_status_code"),
    ("audit_logs", "created_at = '-infinity'", "chk_audit_logs_created_at_finite"),
    ("audit_logs", "created_at = '294276-12-31 00:00:00+00'", "chk_audit_logs_created_at_range"),
    ("organization_invitations", "expires_at = created_at", "chk_organization_invitations_expiry"),
    ("retention_policies", "retention_days = 0", "chk_retention_days"),
    ("retention_policies", "table_name = 'users'", "chk_retention_policies_table_name"),
]


@pytest.fixture
def rows(db: TestDB, make, world) -> dict[str, str]:
    """One valid row in every table with a CHECK, as a WHERE clause selecting it."""
    recording = make.recording(world.alice)
    session = make.session(recording, world.alice)
    webhook = make.webhook(world.alice)
    made = {
        "users": world.alice,
        "organizations": world.acme,
        "recordings": recording,
        "recording_steps": make.step(recording, 1),
        "playback_sessions": session,
        "playback_step_results": make.result(session, 1),
        "file_storage": make.file(recording),
        "webhooks": webhook,
        "webhook_deliveries": make.delivery(webhook),
        "user_sessions": make.insert("user_sessions", user_id=world.alice, session_token="t",
                                     expires_at="2999-01-01"),
        "api_keys": make.insert("api_keys", user_id=world.alice, name="key", key_hash="h", key_prefix="rk_"),
        "analytics_events": make.insert("analytics_events", event_type="api_request", event_category="api"),
        "organization_invitations": make.insert("organization_invitations", organization_id=world.acme,
                                                token_hash=b"not-a-token", invited_by=world.alice,
                                                expires_at="2999-01-01"),
    }
    where = {table: f"id = '{value}'" for table, value in made.items()}
    where["audit_logs"] = "TRUE"  # written by the audit trigger above
    where["retention_policies"] = "table_name = 'audit_logs'"
    return where


def test_every_check_rejects_a_bad_value_by_name(db: TestDB, rows: dict[str, str]) -> None:
    assert rejected_checks(db.url, "replay", BAD_UPDATES, rows) == BAD_UPDATES


def test_every_check_constraint_is_exercised(db: TestDB) -> None:
    checks = {r[0] for r in db.query(
        """SELECT con.conname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
           WHERE c.relnamespace = 'replay'::regnamespace AND con.contype = 'c' AND NOT c.relispartition"""
    )}
    assert checks == {constraint for _, _, constraint in BAD_UPDATES}


def test_good_values_pass_the_checks(db: TestDB, make, world) -> None:
    make.user("ok", email="First.Last+tag@sub.example.co")
    make.org("a-1-b")
    make.recording(world.alice, url="HTTP://EXAMPLE.TEST/", compression_ratio=1, duration_ms=0)
    make.webhook(world.alice, events=["a", "b"])
    # empty webhook events: the seed's array_length() check let them through
    with pytest.raises(errors.CheckViolation) as exc:
        make.webhook(world.alice, events=[])
    assert exc.value.diag.constraint_name == "chk_webhooks_events_not_empty"
    with pytest.raises(errors.NotNullViolation):
        make.webhook(world.alice, events=None)


def test_analytics_summaries_unique_with_null_dimensions(db: TestDB, make, world) -> None:
    def summary(user, org) -> None:
        make.insert("analytics_summaries", summary_type="recording_stats", time_period="daily",
                    period_start="2026-01-01", period_end="2026-01-02", user_id=user, organization_id=org,
                    metrics='{"count": 1}')

    for user, org in [(world.alice, world.acme), (None, world.acme), (None, None), (world.alice, None)]:
        summary(user, org)
        with pytest.raises(errors.UniqueViolation) as exc:
            summary(user, org)  # org-level (NULL user) and global (both NULL) duplicates too
        assert exc.value.diag.constraint_name.startswith("analytics_summaries_summary_type")
    assert db.scalar("SELECT count(*) FROM replay.analytics_summaries") == 4


def test_unique_constraints(db: TestDB, make, world) -> None:
    with pytest.raises(errors.UniqueViolation) as exc:
        make.org(name="ACME")  # idx_organizations_name_lower: names are unique ignoring case
    assert exc.value.diag.constraint_name == "idx_organizations_name_lower"
    with pytest.raises(errors.UniqueViolation) as exc:
        make.org("acme", name="Acme two")
    assert exc.value.diag.constraint_name == "organizations_slug_key"
    with pytest.raises(errors.UniqueViolation) as exc:
        make.member(world.acme, world.alice, "member")
    assert exc.value.diag.constraint_name == "organization_members_organization_id_user_id_key"
    session = make.session(make.recording(world.alice), world.alice)
    make.result(session, 1)
    with pytest.raises(errors.UniqueViolation) as exc:
        make.result(session, 1)
    assert exc.value.diag.constraint_name == "playback_step_results_session_id_step_number_key"
    email = db.scalar("SELECT email FROM replay.users WHERE id = %s", (world.alice,))
    with pytest.raises(errors.UniqueViolation) as exc:
        make.user("again", email=email)
    assert exc.value.diag.constraint_name == "users_email_key"


def test_foreign_keys_cascade_and_set_null(db: TestDB, make, world) -> None:
    recording = make.recording(world.bob, world.acme)
    make.step(recording, 1)
    session = make.session(recording, world.alice)
    make.insert("analytics_events", event_type="playback_started", event_category="playback",
                user_id=world.alice, recording_id=recording, session_id=session)
    db.execute("UPDATE replay.organization_members SET invited_by = %s WHERE user_id = %s", (world.alice, world.bob))
    db.execute("DELETE FROM replay.users WHERE id = %s", (world.alice,))  # an inviter can leave
    assert db.scalar("SELECT invited_by FROM replay.organization_members WHERE user_id = %s", (world.bob,)) is None
    # playback_sessions.user_id and analytics_events.user_id: ON DELETE SET NULL
    assert db.scalar("SELECT user_id FROM replay.playback_sessions WHERE id = %s", (session,)) is None
    assert db.scalar("SELECT count(*) FROM replay.analytics_events WHERE user_id IS NULL") == 1
    db.execute("DELETE FROM replay.recordings WHERE id = %s", (recording,))
    # steps, sessions and events of the recording: ON DELETE CASCADE
    for table in ("recording_steps", "playback_sessions", "analytics_events"):
        assert db.scalar(f"SELECT count(*) FROM replay.{table}") == 0, table
