"""Bad input is an error, never a silent result, and no timestamp breaks shared maintenance
(issue 11, items 6 and 7), for the functions replay_app calls."""

from __future__ import annotations

import pytest
from psycopg import errors

from pg import TestDB

NULL = errors.NullValueNotAllowed       # 22004
INVALID = errors.InvalidParameterValue  # 22023
MISSING = errors.NoDataFound            # P0002
DENIED = errors.InsufficientPrivilege   # 42501


def test_functions_refuse_null_empty_negative_and_huge_arguments(app, make, world) -> None:
    mine = make.recording(world.bob)
    theirs = make.recording(world.carol)
    hook = make.webhook(world.bob, secret_key="whsec")
    cases = [
        ("SELECT replay.calculate_compression_ratio(10, 20)", INVALID),  # 2.00: outside the columns' 0..1
        ("SELECT replay.calculate_compression_ratio(-10, 5)", INVALID),
        ("SELECT replay.calculate_compression_ratio(9223372036854775807, -1)", INVALID),
        ("SELECT * FROM replay.get_recording_step_stats(NULL)", NULL),
        ("SELECT * FROM replay.get_recording_step_stats(%(theirs)s)", MISSING),  # private to carol
        ("SELECT * FROM replay.get_recording_step_stats(gen_random_uuid())", MISSING),
        ("SELECT * FROM replay.search_recordings(NULL)", NULL),
        ("SELECT * FROM replay.search_recordings('')", INVALID),
        ("SELECT * FROM replay.search_recordings('   ')", INVALID),
        ("SELECT * FROM replay.search_recordings(repeat('x', 1001))", INVALID),
        ("SELECT replay.authenticate_session(NULL)", NULL),
        ("SELECT replay.authenticate_session('')", INVALID),
        ("SELECT * FROM replay.authenticate_api_key(NULL)", NULL),
        ("SELECT * FROM replay.authenticate_api_key('')", INVALID),
        ("SELECT replay.webhook_signature(NULL, 'p')", NULL),
        ("SELECT replay.webhook_signature(%(hook)s, NULL)", NULL),
        ("SELECT replay.webhook_signature(gen_random_uuid(), 'p')", MISSING),
        ("SELECT replay.create_organization(NULL, 'slug')", NULL),
        ("SELECT replay.create_organization('Name', NULL)", NULL),
        ("SELECT replay.create_organization('Name', 'Bad Slug')", errors.CheckViolation),
        ("SELECT replay.record_login(NULL, false)", NULL),
        ("SELECT replay.accept_invitation(NULL)", NULL),
        ("SELECT replay.invite_member(NULL, 'member')", NULL),
    ]
    with app.as_user(world.bob) as conn:
        for statement, error in cases:
            assert app.denied(conn, statement, {"theirs": theirs, "hook": hook}) is error, statement
        # and the same functions, given good arguments, answer
        assert conn.execute("SELECT replay.calculate_compression_ratio(20, 10)").fetchone()[0] == pytest.approx(0.5)
        assert conn.execute("SELECT total_steps FROM replay.get_recording_step_stats(%s)", (mine,)).fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM replay.search_recordings('recording')").fetchone() == (1,)
        assert conn.execute("SELECT replay.authenticate_session('no-such-token')").fetchone() == (None,)


def test_the_predicates_policies_use_answer_false_for_nothing(app, world) -> None:
    """Documented: a NULL organization or user is one you are not a member of (policies call
    them with NULL columns, which must not fail a query)."""
    with app.as_user(world.alice) as conn:
        for predicate in ("replay.has_org_role(NULL)", "replay.has_org_role(NULL, '{owner}')",
                          "replay.is_co_member(NULL)", "replay.recording_writable(NULL, NULL, 'team')",
                          "replay.webhook_accessible(NULL, NULL)"):
            assert conn.execute(f"SELECT coalesce({predicate}, FALSE)").fetchone() == (False,), predicate


def test_no_tenant_timestamp_reaches_the_partition_engine(app, db: TestDB, world) -> None:
    with app.as_user(world.bob) as conn:  # the application cannot choose an event's time
        assert app.denied(conn, "INSERT INTO replay.analytics_events (event_type, event_category, user_id,"
                                " created_at) VALUES ('api_request', 'api', %s, '294276-12-31')",
                          (world.bob,)) is DENIED
    # whoever writes (the owner role here), the range holds, by name
    for parent, at in (("analytics_events", "294276-12-31"), ("analytics_events", "1999-12-31 23:59:59+00"),
                       ("audit_logs", "2100-01-01 00:00:00+00"), ("audit_logs", "0044-03-15 BC")):
        columns = ("event_type, event_category", "'api_request', 'api'") if parent == "analytics_events" else (
            "action, resource_type, status", "'read', 'recordings', 'success'")
        with pytest.raises(errors.CheckViolation) as exc:
            db.execute(f"INSERT INTO replay.{parent} ({columns[0]}, created_at) VALUES ({columns[1]}, %s)", (at,))
        assert exc.value.diag.constraint_name == f"chk_{parent}_created_at_range", at
    db.execute("CALL ops.run_maintenance()")
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE parent_schema = 'replay'"
                     " AND action = 'error'") == 0
    validated = db.query("SELECT c.relname, bool_and(con.convalidated) FROM pg_constraint con JOIN pg_class c"
                         " ON c.oid = con.conrelid WHERE con.conname LIKE 'chk_%%_created_at_range'"
                         " AND c.relnamespace = 'replay'::regnamespace AND NOT c.relispartition GROUP BY 1 ORDER BY 1")
    assert validated == [("analytics_events", True), ("audit_logs", True)]


def test_maintenance_functions_refuse_bad_arguments_too(db: TestDB) -> None:
    """The owner's maintenance functions (never granted to replay_app) raise as well: nothing
    answers a bad argument by doing nothing."""
    for statement, error in [
        ("SELECT replay.archive_old_data(NULL)", MISSING),  # no retention policy names it
        ("SELECT replay.archive_old_data('users', 30)", INVALID),  # not a table archival knows
        ("SELECT replay.archive_old_data('recordings', 0)", INVALID),
        ("SELECT replay.archive_old_data('recordings', -1)", INVALID),
        ("SELECT replay.cleanup_old_audit_logs(0)", INVALID),
        ("SELECT replay.create_monthly_partition(NULL, '2026-01')", INVALID),
        ("SELECT replay.create_monthly_partition('audit_logs', NULL)", INVALID),
        ("SELECT replay.create_monthly_partition('audit_logs', '2026-13')", INVALID),
        ("SELECT replay.create_monthly_partition('users', '2026-01')", INVALID),
    ]:
        with pytest.raises(error):
            db.execute(statement)
