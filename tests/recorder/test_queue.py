"""The worker queue (claim_execution_job, requeue_stale_execution_jobs) and the healing
cache lookup: behaviour, concurrency, and the indexes that serve them (EXPLAIN)."""

from __future__ import annotations

import json

import psycopg
import pytest

from pg import TestDB, concurrently, errors
from recorder.support import Builder

POLLER = ("SELECT * FROM recorder.execution_jobs WHERE status = 'pending'"
          " ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED")


def claim(conn: psycopg.Connection, worker: str) -> tuple | None:
    return conn.execute("SELECT id, status, worker_id, claimed_at IS NOT NULL, started_at IS NOT NULL"
                        " FROM recorder.claim_execution_job(%s)", (worker,)).fetchone()


def plan_of(conn: psycopg.Connection, statement: str) -> str:
    """The plan of a statement, as JSON text (EXPLAIN only, nothing runs)."""
    return json.dumps(conn.execute("EXPLAIN (FORMAT JSON) " + statement).fetchone()[0])


def nested_plans(conn: psycopg.Connection, statement: str, params: tuple = ()) -> str:
    """Runs `statement` (in a transaction, rolled back) with auto_explain on, and returns the
    plans of every statement run inside it (the queries of a PL/pgSQL function included)."""
    plans: list[str] = []
    conn.add_notice_handler(lambda diag: plans.append(diag.message_primary or ""))
    with conn.transaction(force_rollback=True):
        conn.execute("LOAD 'auto_explain'")
        for name, value in (("log_min_duration", "0"), ("log_nested_statements", "on"), ("log_level", "notice")):
            conn.execute(f"SET LOCAL auto_explain.{name} = {value}")
        conn.execute(statement, params).fetchall()
    return "\n".join(plans)


def many_jobs(make: Builder, pending: int, done: int, running: int = 0) -> list:
    """`pending` waiting jobs (oldest first), `running` ones claimed in the last 5 minutes and
    `done` finished ones, then ANALYZE; returns the pending ones, oldest first."""
    rec = make.recording(make.user())
    user = make.job_row(make.job(rec, rows=1, status="completed"))["user_id"]
    make.conn.execute(
        "INSERT INTO recorder.execution_jobs (recording_id, user_id, status, csv_data, field_mapping, total_rows,"
        " created_at) SELECT %s, %s, CASE WHEN i <= %s THEN 'pending' ELSE 'completed' END, '[{}]', '{}', 1,"
        " now() - interval '1 hour' + i * interval '1 second' FROM generate_series(1, %s) AS i",
        (rec, user, pending, pending + done))
    make.conn.execute(
        "INSERT INTO recorder.execution_jobs (recording_id, user_id, status, worker_id, claimed_at, csv_data,"
        " field_mapping, total_rows) SELECT %s, %s, 'running', 'vdi-' || i, now() - i * interval '1 second',"
        " '[{}]', '{}', 1 FROM generate_series(1, %s) AS i", (rec, user, running))
    make.conn.execute("ANALYZE recorder.execution_jobs")
    return [r[0] for r in make.conn.execute(
        "SELECT id FROM recorder.execution_jobs WHERE status = 'pending' ORDER BY created_at").fetchall()]


def test_claim_takes_the_oldest_pending_job_and_then_nothing(make: Builder) -> None:
    jobs = many_jobs(make, pending=2, done=3)
    first = claim(make.conn, "vdi-1")
    assert first == (jobs[0], "running", "vdi-1", True, True)
    assert claim(make.conn, "vdi-2")[0] == jobs[1]
    assert claim(make.conn, "vdi-3") is None


def test_eight_workers_never_claim_a_job_twice_nor_lose_one(db: TestDB, make: Builder) -> None:
    jobs = set(many_jobs(make, pending=120, done=0))

    def work(conn: psycopg.Connection, w: int) -> list:
        conn.execute("SET ROLE service_role")
        mine = []
        while (row := claim(conn, f"vdi-{w}")) is not None:
            mine.append(row[0])
        return mine

    results = concurrently(8, db.url, work)
    assert errors(results) == []
    claimed = [job for mine in results for job in mine]
    assert len(claimed) == len(set(claimed)) == len(jobs)
    assert set(claimed) == jobs
    owners = dict(make.conn.execute("SELECT id, worker_id FROM recorder.execution_jobs WHERE status = 'running'"
                                    ).fetchall())
    for w, mine in enumerate(results):
        assert all(owners[job] == f"vdi-{w}" for job in mine)


def test_stale_running_jobs_go_back_to_the_queue(make: Builder) -> None:
    jobs = many_jobs(make, pending=3, done=0)
    for w in range(3):
        claim(make.conn, f"vdi-{w}")
    make.conn.execute("UPDATE recorder.execution_jobs SET claimed_at = now() - interval '11 minutes'"
                      " WHERE id = ANY(%s)", (jobs[:2],))
    make.conn.execute("UPDATE recorder.execution_jobs SET claimed_at = now() - interval '3 minutes'"
                      " WHERE id = %s", (jobs[2],))
    assert make.conn.execute("SELECT recorder.requeue_stale_execution_jobs()").fetchone()[0] == 2
    assert make.conn.execute("SELECT recorder.requeue_stale_execution_jobs()").fetchone()[0] == 0
    rows = make.conn.execute("SELECT id, status, worker_id, claimed_at, started_at IS NOT NULL"
                             " FROM recorder.execution_jobs ORDER BY created_at").fetchall()
    assert rows[0][1:] == ("pending", None, None, True) and rows[1][1:] == ("pending", None, None, True)
    assert rows[2][1:3] == ("running", "vdi-2")
    assert make.conn.execute("SELECT recorder.requeue_stale_execution_jobs(interval '1 minute')").fetchone()[0] == 1
    assert claim(make.conn, "vdi-9")[0] == jobs[0]  # requeued jobs keep their place in line


def test_a_job_locked_by_a_worker_is_not_requeued_under_it(db: TestDB, make: Builder) -> None:
    jobs = many_jobs(make, pending=1, done=0)
    claim(make.conn, "vdi-1")
    make.conn.execute("UPDATE recorder.execution_jobs SET claimed_at = now() - interval '1 hour'")
    with db.connect(autocommit=False) as busy:
        busy.execute("SELECT 1 FROM recorder.execution_jobs WHERE id = %s FOR UPDATE", (jobs[0],))
        assert make.conn.execute("SELECT recorder.requeue_stale_execution_jobs()").fetchone()[0] == 0
        busy.rollback()
    assert make.conn.execute("SELECT recorder.requeue_stale_execution_jobs()").fetchone()[0] == 1


def test_the_seed_poller_and_the_queue_functions_use_their_indexes(db: TestDB, make: Builder) -> None:
    many_jobs(make, pending=5, done=3000, running=300)
    with db.connect() as conn:
        # the seed's poller reads one of the two pending-only indexes (recorder_0008 added the claim's)
        poller = plan_of(conn, POLLER)
        assert "idx_execution_jobs_poller" in poller or "idx_execution_jobs_claim" in poller
        claimed = nested_plans(conn, "SELECT * FROM recorder.claim_execution_job('vdi-1')")
        assert "idx_execution_jobs_claim" in claimed and "LockRows" in claimed and "Sort" not in claimed
        requeued = nested_plans(conn, "SELECT recorder.requeue_stale_execution_jobs(interval '10 minutes')")
        assert "idx_execution_jobs_stale" in requeued and "LockRows" in requeued
        for function in ("claim_execution_job(text)", "requeue_stale_execution_jobs(interval)"):
            body = conn.execute("SELECT prosrc FROM pg_proc WHERE oid = %s::regprocedure",
                                (f"recorder.{function}",)).fetchone()[0]
            assert "SKIP LOCKED" in body.upper(), function


def test_the_claim_keeps_its_index_when_the_statistics_are_stale(db: TestDB, make: Builder) -> None:
    """A burst of jobs into an empty queue, analyzed while all are pending, then claimed: the
    claim's plan stays on idx_execution_jobs_claim (no walk over the jobs finished since)."""
    many_jobs(make, pending=3000, done=0)
    with db.connect() as conn:
        conn.execute("SET ROLE recorder_worker")
        for _ in range(2000):
            conn.execute("SELECT id FROM recorder.claim_execution_job('vdi-1')")
        conn.execute("RESET ROLE")
        assert "idx_execution_jobs_claim" in nested_plans(conn, "SELECT * FROM recorder.claim_execution_job('v')")


def test_only_the_workers_may_claim(db: TestDB, make: Builder) -> None:
    many_jobs(make, pending=1, done=0)
    for role in ("authenticated", "anon"):
        with db.as_role(role) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT * FROM recorder.claim_execution_job('x')")
    with db.as_role("service_role") as conn:
        assert conn.execute("SELECT count(*) FROM recorder.claim_execution_job('x')").fetchone()[0] == 1


def test_healing_cache_returns_the_freshest_unexpired_success(make: Builder) -> None:
    rec = make.recording(make.user())
    other = make.recording(make.user())
    lookup = "SELECT id FROM recorder.lookup_healing_cache(%s, %s, %s)"
    assert make.conn.execute(lookup, (rec, 1, "input#email")).fetchall() == []
    old = make.healing(rec, 1, "input#email", healed_selector="#email-old")
    make.conn.execute("UPDATE recorder.healing_logs SET created_at = now() - interval '2 hours',"
                      " cached_until = now() + interval '22 hours' WHERE id = %s", (old,))
    assert make.conn.execute(lookup, (rec, 1, "input#email")).fetchall() == [(old,)]
    fresh = make.healing(rec, 1, "input#email", healed_selector="#email")
    make.healing(rec, 1, "input#email", success=False)        # failures are never served
    make.healing(other, 1, "input#email")                     # another recording's
    make.healing(rec, 2, "input#email")                       # another step's
    expired = make.healing(rec, 1, "input#pwd")
    make.conn.execute("UPDATE recorder.healing_logs SET cached_until = now() - interval '1 second'"
                      " WHERE id = %s", (expired,))
    assert make.conn.execute(lookup, (rec, 1, "input#email")).fetchall() == [(fresh,)]
    assert make.conn.execute(lookup, (rec, 1, "input#pwd")).fetchall() == []
    # md5(recording || 1 || '2x') = md5(recording || 12 || 'x'): the key columns tell them apart
    make.healing(rec, 12, "x")
    assert make.conn.execute(lookup, (rec, 1, "2x")).fetchall() == []


def test_the_cache_lookup_uses_its_index(db: TestDB, make: Builder) -> None:
    rec = make.recording(make.user())
    make.conn.execute(
        "INSERT INTO recorder.healing_logs (recording_id, step_number, original_selector, success)"
        " SELECT %s, i %% 50, 'sel-' || i, i %% 3 > 0 FROM generate_series(1, 5000) AS i", (rec,))
    make.conn.execute("ANALYZE recorder.healing_logs")
    with db.connect() as conn:
        plans = nested_plans(conn, "SELECT * FROM recorder.lookup_healing_cache(%s, 7, 'sel-7')", (rec,))
        assert "idx_healing_cache_lookup" in plans
