"""Attacks on the shared queue (issue 11, items 1, 5 and 7): the queue functions belong to
recorder_worker (and Supabase's service_role), a requeued job is fenced from the worker that
lost it, bad arguments are errors, and recorder_app used directly is nobody."""

from __future__ import annotations

import io
import uuid

import psycopg
import pytest
from psycopg import errors
from psycopg.types.json import Jsonb

from pg import TestDB, concurrently, errors as failures
from recorder.support import Builder, as_user, claims
from schema_tool import paths
from schema_tool.migrate import Runner

LOST = errors.ObjectNotInPrerequisiteState  # 55000: the worker no longer holds the job
CLAIM = "SELECT id, attempts FROM recorder.claim_execution_job(%s)"
RESULT = "SELECT recorder.record_execution_result(%s, %s, %s, %s, %s)"
ROW = Jsonb({"email": "row@example.test"})

# every worker function, with arguments for a job and an attempt
WORKER_CALLS = {
    "heartbeat": "SELECT recorder.heartbeat_execution_job(%(job)s, %(attempt)s)",
    "result": "SELECT recorder.record_execution_result(%(job)s, %(attempt)s, 1, 'success', '{}')",
    "log": "SELECT recorder.record_execution_log(%(job)s, %(attempt)s, 'info', 'still here')",
    "healing": "SELECT recorder.record_healing_log(%(job)s, %(attempt)s, 1, '#a', true)",
    "cache": "SELECT * FROM recorder.lookup_job_healing_cache(%(job)s, %(attempt)s, 1, '#a')",
    "finish": "SELECT recorder.finish_execution_job(%(job)s, %(attempt)s, 'failed')",
}
QUEUE_FUNCTIONS = [
    "SELECT * FROM recorder.claim_execution_job('vdi-x')",
    "SELECT recorder.requeue_stale_execution_jobs()",
    "SELECT recorder.record_vdi_metrics('vdi-x')",
    *WORKER_CALLS.values(),
]


def job_state(make: Builder, job: uuid.UUID) -> tuple:
    row = make.job_row(job)
    return row["status"], row["worker_id"], row["attempts"], row["completed_rows"], row["successful_rows"]


def worker(db: TestDB) -> psycopg.Connection:
    return db.connect(role="recorder_worker")


def test_a_worker_that_lost_its_job_is_fenced_out(db: TestDB, make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=2)
    a, b = worker(db), worker(db)
    assert a.execute(CLAIM, ("vdi-a",)).fetchone() == (job, 1)
    a.execute(RESULT, (job, 1, 0, "success", ROW))
    # vdi-a goes silent for 11 minutes: the job goes back to the queue and vdi-b takes it
    make.conn.execute("UPDATE recorder.execution_jobs SET claimed_at = now() - interval '11 minutes'")
    assert b.execute("SELECT recorder.requeue_stale_execution_jobs()").fetchone() == (1,)
    assert b.execute(CLAIM, ("vdi-b",)).fetchone() == (job, 2)
    before = job_state(make, job)
    for name, call in WORKER_CALLS.items():
        with pytest.raises(LOST):
            a.execute(call, {"job": job, "attempt": 1})
        assert job_state(make, job) == before, name
    assert make.conn.execute("SELECT count(*) FROM recorder.execution_logs").fetchone() == (0,)
    # the holder finishes the job; the row vdi-a recorded before it lost the job counts once
    b.execute(RESULT, (job, 2, 1, "success", ROW))
    assert job_state(make, job) == ("completed", "vdi-b", 2, 2, 2)
    assert b.execute("SELECT recorder.finish_execution_job(%s, 2)", (job,)).fetchone() == ("completed",)
    with pytest.raises(LOST):  # and nobody else may end it otherwise
        b.execute("SELECT recorder.finish_execution_job(%s, 2, 'failed')", (job,))


@pytest.mark.parametrize("timeout, error", [
    ("-1 hour", errors.InvalidParameterValue), ("0", errors.InvalidParameterValue),
    ("-00:00:01", errors.InvalidParameterValue), (None, errors.NullValueNotAllowed),
])
def test_requeue_cannot_take_jobs_just_claimed(db: TestDB, make: Builder, timeout: str | None,
                                               error: type[Exception]) -> None:
    job = make.job(make.recording(make.user()))
    with worker(db) as conn:
        conn.execute(CLAIM, ("vdi-1",))
        before = job_state(make, job)
        with pytest.raises(error):
            conn.execute("SELECT recorder.requeue_stale_execution_jobs(%s::interval)", (timeout,))
    assert job_state(make, job) == before == ("running", "vdi-1", 1, 0, 0)


@pytest.mark.parametrize("worker_id, error", [
    (None, errors.NullValueNotAllowed), ("", errors.InvalidParameterValue), ("   ", errors.InvalidParameterValue),
    ("w" * 256, errors.InvalidParameterValue),
])
def test_claim_refuses_a_missing_or_malformed_worker_id(db: TestDB, make: Builder, worker_id: str | None,
                                                        error: type[Exception]) -> None:
    job = make.job(make.recording(make.user()))
    with db.as_role("recorder_worker") as conn, pytest.raises(error):
        conn.execute(CLAIM, (worker_id,))
    assert job_state(make, job) == ("pending", None, 0, 0, 0)


def test_worker_calls_refuse_bad_arguments(db: TestDB, make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=2)
    conn = worker(db)
    conn.execute(CLAIM, ("vdi-1",))
    bad = [
        ("SELECT recorder.heartbeat_execution_job(NULL, 1)", errors.NullValueNotAllowed),
        ("SELECT recorder.heartbeat_execution_job(%(job)s, NULL)", errors.NullValueNotAllowed),
        ("SELECT recorder.heartbeat_execution_job(%(other)s, 1)", errors.NoDataFound),
        ("SELECT recorder.record_execution_result(%(job)s, 1, 2, 'success', '{}')", errors.InvalidParameterValue),
        ("SELECT recorder.record_execution_result(%(job)s, 1, -1, 'success', '{}')", errors.InvalidParameterValue),
        ("SELECT recorder.record_execution_result(%(job)s, 1, 0, 'great', '{}')", errors.InvalidParameterValue),
        ("SELECT recorder.record_execution_result(%(job)s, 1, 0, 'success', NULL)", errors.NullValueNotAllowed),
        ("SELECT recorder.record_execution_log(%(job)s, 1, 'loud', 'x')", errors.InvalidParameterValue),
        ("SELECT recorder.record_execution_log(%(job)s, 1, 'info', NULL)", errors.NullValueNotAllowed),
        ("SELECT recorder.record_healing_log(%(job)s, 1, NULL, '#a', true)", errors.NullValueNotAllowed),
        ("SELECT recorder.finish_execution_job(%(job)s, 1, 'cancelled')", errors.InvalidParameterValue),
        ("SELECT recorder.finish_execution_job(%(job)s, 1, NULL)", errors.NullValueNotAllowed),
        ("SELECT recorder.finish_execution_job(%(other)s, 1)", errors.NoDataFound),
        ("SELECT recorder.finish_execution_job(%(job)s, 1)", LOST),  # 0 of 2 rows done
        ("SELECT * FROM recorder.lookup_job_healing_cache(%(job)s, 1, -1, '#a')", errors.InvalidParameterValue),
        ("SELECT recorder.record_vdi_metrics(NULL)", errors.NullValueNotAllowed),
        ("SELECT recorder.record_vdi_metrics(' ')", errors.InvalidParameterValue),
        ("SELECT recorder.record_vdi_metrics('vdi-1', p_jobs_failed => -1)", errors.InvalidParameterValue),
        ("SELECT recorder.record_vdi_metrics('vdi-1', p_cpu_usage => 100.5)", errors.CheckViolation),
    ]
    for statement, error in bad:
        with pytest.raises(error), conn.transaction():
            conn.execute(statement, {"job": job, "other": uuid.uuid4()})
    assert job_state(make, job) == ("running", "vdi-1", 1, 0, 0)
    # the same calls, done right
    conn.execute("SELECT recorder.heartbeat_execution_job(%s, 1)", (job,))
    conn.execute("SELECT recorder.record_execution_log(%s, 1, 'info', 'row 0')", (job,))
    assert conn.execute("SELECT recorder.finish_execution_job(%s, 1, 'failed')", (job,)).fetchone() == ("failed",)
    assert conn.execute("SELECT recorder.finish_execution_job(%s, 1, 'failed')", (job,)).fetchone() == ("failed",)
    made = conn.execute("SELECT recorder.record_vdi_metrics('vdi-1', 'iad', 12.5)").fetchone()[0]
    assert make.conn.execute("SELECT recorded_at > now() - interval '1 minute' FROM recorder.vdi_metrics"
                             " WHERE id = %s", (made,)).fetchone() == (True,)


def test_only_workers_run_the_queue(db: TestDB, make: Builder) -> None:
    user = make.user()
    job = make.job(make.recording(user))
    tenants = [("authenticated", claims(user)), ("anon", {}), ("recorder_app", claims(user))]
    for role, settings in tenants:
        for statement in QUEUE_FUNCTIONS:
            with db.as_role(role, settings) as conn, pytest.raises(errors.InsufficientPrivilege):
                conn.execute(statement, {"job": job, "attempt": 1})
    assert job_state(make, job) == ("pending", None, 0, 0, 0)
    # the worker role reaches the jobs through the functions only
    for statement in ("SELECT id FROM recorder.execution_jobs", "SELECT * FROM recorder.users",
                      "UPDATE recorder.execution_jobs SET status = 'completed'",
                      "INSERT INTO recorder.vdi_metrics (worker_id) VALUES ('vdi-1')"):
        with db.as_role("recorder_worker") as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)
    # Supabase's service_role (the VDI workers' key) keeps working
    with db.as_role("service_role") as conn:
        assert conn.execute(CLAIM, ("vdi-svc",)).fetchone() == (job, 1)
        conn.execute(RESULT, (job, 1, 0, "success", ROW))


def test_recorder_app_used_directly_gets_nothing(db: TestDB, make: Builder) -> None:
    alice = make.user()
    job = make.job(make.recording(alice))
    attacks = ["UPDATE recorder.users SET tier = 'enterprise'", "UPDATE recorder.users SET vm_url = 'wss://evil'",
               "UPDATE recorder.execution_jobs SET completed_rows = total_rows", "SELECT csv_data FROM "
               "recorder.execution_jobs", "SELECT * FROM recorder.claim_execution_job('vdi-x')"]
    for statement in attacks:
        with db.as_role("recorder_app", claims(alice)) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(statement)
    assert make.conn.execute("SELECT tier, vm_url FROM recorder.users").fetchone() == ("starter", None)
    assert job_state(make, job) == ("pending", None, 0, 0, 0)
    with as_user(db, alice) as conn:  # as authenticated, still not the platform's columns
        with pytest.raises(errors.InsufficientPrivilege):
            conn.execute("UPDATE recorder.users SET tier = 'enterprise'")


def test_recorder_app_loses_inherit_on_a_database_migrated_before(db: TestDB) -> None:
    """A database migrated before ops_0003 has recorder_app INHERIT: service_role's grants."""
    runner = Runner(db.url, paths.migrations_dir(), out=io.StringIO())
    every = sorted(p.stem for p in (paths.migrations_dir() / "recorder").glob("recorder_*.sql")
                   if not p.stem.endswith(".rollback"))
    later = every[every.index("recorder_0003_teams") + 1:]
    assert runner.rollback("recorder", count=len(later)) == later[::-1]
    tier = "SELECT has_column_privilege('recorder_app', 'recorder.users', 'tier', 'UPDATE')"
    try:
        db.execute("ALTER ROLE recorder_app INHERIT")  # cluster-wide: restored below
        assert db.scalar(tier) is True  # the hole
        assert runner.migrate(["recorder"]) == later
        assert db.scalar("SELECT rolinherit FROM pg_roles WHERE rolname = 'recorder_app'") is False
        assert db.scalar(tier) is False
    finally:
        db.execute("ALTER ROLE recorder_app NOINHERIT")


def test_eight_workers_claim_and_finish_every_job_once(db: TestDB, make: Builder) -> None:
    rec = make.recording(make.user())
    jobs = {make.job(rec, rows=1) for _ in range(80)}

    def work(conn: psycopg.Connection, w: int) -> list:
        conn.execute("SET ROLE recorder_worker")
        mine = []
        while (row := conn.execute(CLAIM, (f"vdi-{w}",)).fetchone()) is not None:
            conn.execute(RESULT, (row[0], row[1], 0, "success", ROW))
            mine.append(row[0])
        return mine

    results = concurrently(8, db.url, work)
    assert failures(results) == []
    done = [job for mine in results for job in mine]
    assert len(done) == len(set(done)) == len(jobs) and set(done) == jobs
    assert make.conn.execute("SELECT status, attempts, completed_rows, count(*) FROM recorder.execution_jobs"
                             " GROUP BY 1, 2, 3").fetchall() == [("completed", 1, 1, 80)]


def test_partition_keys_stay_in_range_whoever_writes(db: TestDB, make: Builder) -> None:
    job = make.job(make.recording(make.user()))
    with db.as_role("service_role") as conn:
        for statement, constraint in [
            ("INSERT INTO recorder.execution_logs (execution_job_id, level, message, timestamp)"
             " VALUES (%s, 'info', 'x', '294276-12-31')", "chk_execution_logs_timestamp_range"),
            ("INSERT INTO recorder.execution_logs (execution_job_id, level, message, timestamp)"
             " VALUES (%s, 'info', 'x', '1999-12-31 23:59:59+00')", "chk_execution_logs_timestamp_range"),
            ("INSERT INTO recorder.vdi_metrics (worker_id, recorded_at) SELECT 'vdi-1', '2100-01-01 00:00:00+00'"
             " WHERE %s IS NOT NULL", "chk_vdi_metrics_recorded_at_range"),
        ]:
            with pytest.raises(errors.CheckViolation) as exc, conn.transaction():
                conn.execute(statement, (job,))
            assert exc.value.diag.constraint_name == constraint
    assert db.query("SELECT conrelid::regclass::text, bool_and(convalidated) FROM pg_constraint"
                    " JOIN pg_class c ON c.oid = conrelid WHERE conname LIKE 'chk_%%_range' AND NOT c.relispartition"
                    " AND connamespace = 'recorder'::regnamespace GROUP BY 1 ORDER BY 1") == [
        ("recorder.execution_logs", True), ("recorder.vdi_metrics", True)]
