"""The seed's three phases: a database can stop at any of them, phase-1 rows keep working in
phase 3, and each phase rolls back cleanly (the whole schema too, and migrates again)."""

from __future__ import annotations

import io

import pytest

from pg import TestDB
from recorder.support import STEP, Builder, as_user, attempt
from schema_tool import dump, paths
from schema_tool.migrate import Runner

PHASE_COLUMNS = "SELECT table_name || '.' || column_name FROM information_schema.columns WHERE table_schema = 'recorder'"


@pytest.fixture
def runner(db: TestDB) -> Runner:
    return Runner(db.url, paths.migrations_dir(), out=io.StringIO())


def columns(db: TestDB) -> set[str]:
    return {r[0] for r in db.query(PHASE_COLUMNS)}


MIGRATIONS = sorted(p.stem for p in (paths.migrations_dir() / "recorder").glob("recorder_*.sql")
                    if not p.stem.endswith(".rollback"))


def after(phase: str) -> list[str]:
    """The recorder migrations after the one of `phase` (the hardening that follows the seed's
    phases), in the order they apply."""
    return MIGRATIONS[MIGRATIONS.index(phase) + 1:]


def test_phase_one_rows_keep_working_in_phase_three(db: TestDB, make: Builder, runner: Runner) -> None:
    undone = after("recorder_0001_initial_schema")
    assert runner.rollback("recorder", count=len(undone)) == undone[::-1]
    assert "recordings.team_id" not in columns(db) and "users.vm_id" not in columns(db)

    # phase 1 as the extension writes it
    user = make.user()
    rec = make.recording(user, steps=[STEP, {**STEP, "stepNumber": 2}])
    job = make.job(rec, rows=2)
    make.result(job, 0)
    make.healing(rec)
    make.log(job)

    assert runner.migrate(["recorder"]) == undone
    row = make.conn.execute("SELECT visibility, team_id, step_count, steps FROM recorder.recordings WHERE id = %s",
                            (rec,)).fetchone()
    assert row == ("private", None, 2, [STEP, {**STEP, "stepNumber": 2}])
    assert make.conn.execute("SELECT vm_id, default_team_id FROM recorder.users WHERE id = %s",
                             (user,)).fetchone() == (None, None)
    with as_user(db, user) as conn:
        for table in ("recordings", "execution_jobs", "execution_results", "execution_logs", "healing_logs"):
            assert conn.execute(f"SELECT count(*) FROM recorder.{table}").fetchone()[0] == 1, table
        assert attempt(conn, "UPDATE recorder.recordings SET steps = steps || %s::jsonb WHERE id = %s",
                       ('[{"stepNumber": 3, "event": "submit", "navigation": {"type": "page_load"}, "bundle": {}}]',
                        rec)) == 1
        conn.execute("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
                     " VALUES (%s, 1, '{}', 'success')", (job,))
        assert conn.execute("SELECT status, completed_rows FROM recorder.execution_jobs").fetchone() == \
            ("completed", 2)
        assert conn.execute("SELECT count(*) FROM recorder.lookup_healing_cache(%s, 1, 'input#email')",
                            (rec,)).fetchone()[0] == 1


def test_each_phase_rolls_back_and_everything_migrates_again(db: TestDB, make: Builder, runner: Runner) -> None:
    make.recording(make.user(), team_id=make.team(make.user()), visibility="team")
    everything = columns(db)

    hardening = after("recorder_0003_teams")
    assert runner.rollback("recorder", count=len(hardening)) == hardening[::-1]
    assert runner.rollback("recorder", count=1) == ["recorder_0003_teams"]
    assert db.scalar("SELECT to_regclass('recorder.teams')") is None
    assert db.scalar("SELECT to_regprocedure('recorder.user_team_ids(uuid, text)')") is None
    assert not [c for c in columns(db) if c.endswith(("team_id", ".visibility"))]
    assert db.scalar("SELECT count(*) FROM pg_policy WHERE polname LIKE '%%team%%'") == 0
    assert db.scalar("SELECT count(*) FROM recorder.recordings") == 1  # the shared recording stays, private

    assert runner.rollback("recorder", count=1) == ["recorder_0002_cloud_browser_vm"]
    assert not [c for c in columns(db) if c.startswith("users.vm_")]
    assert db.scalar("SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'idx_users_%%vm%%'") == 0

    assert runner.rollback("recorder", count=1) == ["recorder_0001_initial_schema"]
    for name in ("recorder", "auth"):
        assert db.scalar("SELECT to_regnamespace(%s)", (name,)) is None, name
    assert db.scalar("SELECT count(*) FROM ops.partitioned_tables WHERE parent_schema = 'recorder'") == 0
    # roles are cluster-wide: still used by the other databases of this server, so kept
    assert db.scalar("SELECT count(*) FROM pg_roles WHERE rolname IN ('anon', 'authenticated', 'service_role')") == 3

    assert runner.migrate(["recorder"]) == MIGRATIONS
    assert columns(db) == everything
    committed = (paths.snapshots_dir() / "recorder.sql").read_text()
    assert dump.snapshot(db.url, "recorder") == committed


def test_partitions_are_registered_and_pruned(db: TestDB, make: Builder) -> None:
    registered = db.query("SELECT parent_table, control_column, retention::text, retention_mode"
                          " FROM ops.partitioned_tables WHERE parent_schema = 'recorder' ORDER BY 1")
    assert registered == [("execution_logs", "timestamp", "90 days", "drop"),
                          ("vdi_metrics", "recorded_at", "180 days", "drop")]
    children = {r[0] for r in db.query("SELECT partition_name FROM ops.partitions WHERE parent_schema = 'recorder'")}
    assert {"execution_logs_default", "vdi_metrics_default"} <= children
    assert len(children) == 10  # the current month, three ahead, and the DEFAULT partition of each
    job = make.job(make.recording(make.user()))
    make.log(job)
    make.insert("vdi_metrics", worker_id="vdi-1", cpu_usage=3)
    plan = "\n".join(r[0] for r in db.query(
        "EXPLAIN SELECT * FROM recorder.execution_logs WHERE timestamp >= %(month)s::timestamptz"
        " AND timestamp < %(month)s::timestamptz + interval '1 month' AND execution_job_id = %(job)s",
        {"month": db.scalar("SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::text || '+00'"), "job": job}))
    scanned = {name for name in children if name in plan}
    assert len(scanned) == 1 and scanned.pop().startswith("execution_logs_2")


def test_maintenance_drains_and_applies_retention_to_the_logs(db: TestDB, make: Builder) -> None:
    job = make.job(make.recording(make.user()))
    ahead = make.log(job)
    make.conn.execute("UPDATE recorder.execution_logs SET timestamp = now() + interval '6 months' WHERE id = %s",
                      (ahead,))
    old = make.log(job)
    make.conn.execute("UPDATE recorder.execution_logs SET timestamp = now() - interval '7 months' WHERE id = %s",
                      (old,))
    where = "SELECT tableoid::regclass::text FROM recorder.execution_logs WHERE id = %s"
    assert db.scalar(where, (ahead,)) == db.scalar(where, (old,)) == "recorder.execution_logs_default"
    db.execute("CALL ops.run_maintenance()")
    month = db.scalar("SELECT to_char((now() + interval '6 months') AT TIME ZONE 'UTC', 'YYYY_MM')")
    assert db.scalar(where, (ahead,)) == f"recorder.execution_logs_{month}"
    assert db.scalar("SELECT count(*) FROM recorder.execution_logs WHERE id = %s", (old,)) == 0  # past 90 days
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE parent_table = 'execution_logs'"
                     " AND action = 'error'") == 0
