"""Monthly partitions of analytics_events and audit_logs: inserts never fail for want of
a partition, pruning, the seed's partition functions delegating to the ops engine, and
retention driven by replay.retention_policies."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from pg import TestDB, concurrently, errors as failures

PARENTS = ["analytics_events", "audit_logs"]
# the ends of the range every partition key is bounded to (chk_<table>_created_at_range)
FAR = ["2000-01-01 00:00:00+00", "2001-12-31 23:59:59+00", "2090-06-15 12:00:00+00", "2099-12-31 23:59:59+00"]


def insert_event(db: TestDB, parent: str, at: str) -> None:
    if parent == "analytics_events":
        db.execute("INSERT INTO replay.analytics_events (event_type, event_category, created_at)"
                   " VALUES ('api_request', 'api', %s)", (at,))
    else:
        db.execute("INSERT INTO replay.audit_logs (action, resource_type, status, created_at)"
                   " VALUES ('read', 'recordings', 'success', %s)", (at,))


def months_ago(db: TestDB, n: int) -> str:
    return db.scalar("SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') - make_interval(months => %s),"
                     " 'YYYY-MM')", (n,))


def partitions(db: TestDB, parent: str) -> list[str]:
    return [r[0] for r in db.query(
        "SELECT partition_name FROM ops.partitions WHERE parent_schema = 'replay' AND parent_table = %s"
        " ORDER BY is_default, lower_bound", (parent,))]


def test_no_insert_fails_for_want_of_a_partition(db: TestDB) -> None:
    for parent in PARENTS:
        for at in [*FAR, "now"]:
            insert_event(db, parent, at)
        waiting = db.scalar(f"SELECT count(*) FROM replay.{parent}_default")
        assert waiting == len(FAR)  # "now" went to this month's partition
    db.execute("CALL ops.run_maintenance()")
    archived = [r[0] for r in db.query("SELECT relname FROM pg_class WHERE relkind = 'r'"
                                       " AND relnamespace = 'replay_archive'::regnamespace")]
    for parent in PARENTS:
        assert db.scalar(f"SELECT count(*) FROM replay.{parent}_default") == 0
        # far-past months got their partition and then retention detached it into the archive
        assert db.scalar(f"SELECT count(*) FROM replay.{parent}") == 3
        assert sorted(a for a in archived if a.startswith(parent)) == [f"{parent}_2000_01", f"{parent}_2001_12"]
        assert f"{parent}_2099_12" in partitions(db, parent)


def test_infinite_timestamps_are_rejected_by_name(db: TestDB) -> None:
    for parent in PARENTS:
        with pytest.raises(errors.CheckViolation) as exc:
            insert_event(db, parent, "infinity")
        assert exc.value.diag.constraint_name in (f"chk_{parent}_created_at_finite", f"chk_{parent}_created_at_range")


def test_partition_pruning_by_created_at(db: TestDB) -> None:
    for parent in PARENTS:
        check_pruning(db, parent)


def check_pruning(db: TestDB, parent: str) -> None:
    this_month = months_ago(db, 0)
    next_month = months_ago(db, -1)
    plan = "\n".join(r[0] for r in db.query(
        f"EXPLAIN (COSTS OFF) SELECT * FROM replay.{parent}"
        f" WHERE created_at >= '{this_month}-01 00:00+00' AND created_at < '{next_month}-01 00:00+00'"))
    scanned = {p for p in partitions(db, parent) if p in plan}
    assert scanned == {f"{parent}_{this_month.replace('-', '_')}"}
    # and at run time, with a parameter
    with psycopg.connect(db.url) as conn:
        conn.execute("SET plan_cache_mode = force_generic_plan")
        conn.execute(f"PREPARE q(timestamptz) AS SELECT count(*) FROM replay.{parent} WHERE created_at = $1")
        plan = "\n".join(r[0] for r in conn.execute("EXPLAIN (ANALYZE, COSTS OFF) EXECUTE q(now())"))
    assert "Subplans Removed" in plan


def test_create_monthly_partition_is_idempotent_and_drains_the_default(db: TestDB) -> None:
    month = months_ago(db, 6)
    insert_event(db, "audit_logs", f"{month}-10 10:00+00")
    for spelling in (month, month.replace("-", "_")):  # the seed passes YYYY_MM, documents YYYY-MM
        db.execute("SELECT replay.create_monthly_partition('audit_logs', %s)", (spelling,))
    name = f"audit_logs_{month.replace('-', '_')}"
    assert name in partitions(db, "audit_logs")
    assert db.scalar(f"SELECT count(*) FROM replay.{name}") == 1
    assert db.scalar("SELECT count(*) FROM replay.audit_logs_default") == 0
    # indexes come from the parent
    assert db.scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = 'replay' AND tablename = %s", (name,)) == \
        db.scalar("SELECT count(*) FROM pg_indexes WHERE schemaname = 'replay' AND tablename = 'audit_logs'")
    db.execute("SELECT replay.create_monthly_partition('analytics_events', %s)", (month,))
    assert f"analytics_events_{month.replace('-', '_')}" in partitions(db, "analytics_events")


def test_create_monthly_partition_rejects_bad_arguments(db: TestDB) -> None:
    bad = [("audit_logs", "2026-13"), ("audit_logs", "202601"), ("audit_logs", None), ("users", "2026-01"),
           ("nope", "2026-01"), (None, "2026-01")]
    with psycopg.connect(db.url) as conn:
        for args in bad:
            with pytest.raises(errors.InvalidParameterValue), conn.transaction():
                conn.execute("SELECT replay.create_monthly_partition(%s, %s)", args)


def test_ensure_future_partitions_is_idempotent_and_safe_concurrently(db: TestDB) -> None:
    ahead = months_ago(db, -3).replace("-", "_")
    for parent in PARENTS:
        db.execute(f"DROP TABLE replay.{parent}_{ahead}")
    results = concurrently(3, db.url, lambda conn, i: conn.execute(
        "SELECT replay.ensure_future_partitions()").fetchone())
    assert failures(results) == []
    db.execute("SELECT replay.ensure_future_partitions()")
    for parent in PARENTS:
        assert f"{parent}_{ahead}" in partitions(db, parent)
        assert len(partitions(db, parent)) == 5  # default + this month + 3 ahead


def make_old_audit_partitions(db: TestDB, *ages: int) -> dict[int, str]:
    names = {}
    for age in ages:
        month = months_ago(db, age)
        db.execute("SELECT replay.create_monthly_partition('audit_logs', %s)", (month,))
        insert_event(db, "audit_logs", f"{month}-15 00:00+00")
        names[age] = f"audit_logs_{month.replace('-', '_')}"
    return names


def test_cleanup_old_audit_logs_uses_bounds_and_spares_current_future_default(db: TestDB) -> None:
    names = make_old_audit_partitions(db, 3, 14)
    insert_event(db, "audit_logs", "2001-05-05 00:00+00")  # waits in DEFAULT
    before = set(partitions(db, "audit_logs"))
    # default: the retention policy (365 days): the 14-month-old and the 2001 month go
    assert db.scalar("SELECT replay.cleanup_old_audit_logs()") == 2
    assert db.scalar("SELECT replay.cleanup_old_audit_logs()") == 0
    assert names[14] not in partitions(db, "audit_logs") and names[3] in partitions(db, "audit_logs")
    # 1 day: every past month goes, never this month, a future month, or the default
    assert db.scalar("SELECT replay.cleanup_old_audit_logs(1)") == 1
    left = partitions(db, "audit_logs")
    assert left == sorted(before - {names[3], names[14]}, key=left.index)
    assert "audit_logs_default" in left and len(left) == 5
    # the policy archives: detached, not dropped
    kept = db.query("SELECT relname FROM pg_class WHERE relnamespace = 'replay_archive'::regnamespace"
                    " AND relkind = 'r' ORDER BY 1")
    assert [r[0] for r in kept] == ["audit_logs_2001_05", names[14], names[3]]
    with pytest.raises(errors.InvalidParameterValue):
        db.execute("SELECT replay.cleanup_old_audit_logs(0)")


def registry(db: TestDB, parent: str) -> tuple:
    return db.query("SELECT retention, retention_mode FROM ops.partitioned_tables"
                    " WHERE parent_schema = 'replay' AND parent_table = %s", (parent,))[0]


def test_retention_policies_drive_the_ops_engine(db: TestDB) -> None:
    import datetime as dt

    assert registry(db, "audit_logs") == (dt.timedelta(days=365), "detach")
    assert registry(db, "analytics_events") == (dt.timedelta(days=730), "detach")
    db.execute("UPDATE replay.retention_policies SET retention_days = 30, archive_before_delete = FALSE"
               " WHERE table_name = 'audit_logs'")
    assert registry(db, "audit_logs") == (dt.timedelta(days=30), "drop")
    names = make_old_audit_partitions(db, 3)
    db.execute("CALL ops.run_maintenance()")
    assert names[3] not in partitions(db, "audit_logs")
    assert db.scalar("SELECT count(*) FROM pg_class WHERE relname = %s", (names[3],)) == 0  # dropped
    db.execute("UPDATE replay.retention_policies SET is_active = FALSE WHERE table_name = 'audit_logs'")
    assert registry(db, "audit_logs") == (None, "drop")
    names = make_old_audit_partitions(db, 5)
    db.execute("CALL ops.run_maintenance()")
    assert names[5] in partitions(db, "audit_logs")  # inactive policy: keep everything
    db.execute("UPDATE replay.retention_policies SET is_active = TRUE, archive_before_delete = TRUE"
               " WHERE table_name = 'audit_logs'")
    assert registry(db, "audit_logs") == (dt.timedelta(days=30), "detach")
    db.execute("DELETE FROM replay.retention_policies WHERE table_name = 'analytics_events'")
    assert registry(db, "analytics_events")[0] is None
    db.execute("INSERT INTO replay.retention_policies (table_name, retention_days, archive_before_delete)"
               " VALUES ('analytics_events', 60, FALSE)")
    assert registry(db, "analytics_events") == (dt.timedelta(days=60), "drop")
