"""Execution progress: exact O(1) counters on execution_jobs, under concurrency too."""

from __future__ import annotations

import random

import psycopg

from pg import TestDB, concurrently, errors
from recorder.support import Builder


def counters(make: Builder, job) -> tuple:
    row = make.job_row(job)
    return row["completed_rows"], row["successful_rows"], row["failed_rows"], row["status"]


def test_each_result_moves_the_counters(make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=4)
    first = make.result(job, 0, "success")
    assert counters(make, job) == (1, 1, 0, "pending")
    second = make.result(job, 1, "failed")
    assert counters(make, job) == (2, 1, 1, "pending")
    make.result(job, 2, "skipped")
    assert counters(make, job) == (3, 1, 1, "pending")
    # a retry turns the failure into a success: no new processed row
    make.conn.execute("UPDATE recorder.execution_results SET status = 'success' WHERE id = %s", (second,))
    assert counters(make, job) == (3, 2, 0, "pending")
    # updates that do not change the status leave the job alone
    before = make.job_row(job)["updated_at"]
    make.conn.execute("UPDATE recorder.execution_results SET duration = 42 WHERE id = %s", (first,))
    assert make.job_row(job)["updated_at"] == before
    make.conn.execute("DELETE FROM recorder.execution_results WHERE id = %s", (first,))
    assert counters(make, job) == (2, 1, 0, "pending")


def test_a_job_completes_when_every_row_is_processed_skipped_included(make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=3)
    make.conn.execute("UPDATE recorder.execution_jobs SET status = 'running' WHERE id = %s", (job,))
    make.result(job, 0, "success")
    make.result(job, 1, "skipped")
    assert make.job_row(job)["completed_at"] is None
    make.result(job, 2, "failed")
    row = make.job_row(job)
    assert counters(make, job) == (3, 1, 1, "completed")
    assert row["completed_at"] is not None
    skipped = row["completed_rows"] - row["successful_rows"] - row["failed_rows"]
    assert skipped == 1


def test_stop_on_error_fails_the_job_at_the_first_failure(make: Builder) -> None:
    rec = make.recording(make.user())
    job = make.job(rec, rows=5, stop_on_error=True)
    make.result(job, 0, "success")
    make.result(job, 1, "failed")
    assert counters(make, job) == (2, 1, 1, "failed")
    assert make.job_row(job)["completed_at"] is not None
    make.result(job, 2, "success")  # an in-flight row still counts, the job stays failed
    assert counters(make, job) == (3, 2, 1, "failed")


def test_finished_or_cancelled_jobs_keep_their_status(make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=1, status="cancelled")
    make.result(job, 0, "success")
    assert counters(make, job) == (1, 1, 0, "cancelled")
    assert make.job_row(job)["completed_at"] is None


def test_a_result_moved_to_another_job_moves_its_counts(make: Builder) -> None:
    rec = make.recording(make.user())
    one, two = make.job(rec, rows=2), make.job(rec, rows=2)
    result = make.result(one, 1, "failed")
    make.conn.execute("UPDATE recorder.execution_results SET execution_job_id = %s, status = 'success'"
                      " WHERE id = %s", (two, result))
    assert counters(make, one) == (0, 0, 0, "pending")
    assert counters(make, two) == (1, 1, 0, "pending")


def test_deleting_a_job_with_results_cascades(make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=50)
    make.conn.execute("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
                      " SELECT %s, i, '{}', 'success' FROM generate_series(0, 49) AS i", (job,))
    assert counters(make, job) == (50, 50, 0, "completed")
    make.conn.execute("DELETE FROM recorder.execution_jobs WHERE id = %s", (job,))
    assert make.conn.execute("SELECT count(*) FROM recorder.execution_results").fetchone()[0] == 0


def test_a_result_never_scans_the_jobs_other_results(db: TestDB, make: Builder) -> None:
    """The cost per result does not grow with the results already in the job: inserting and
    updating one reads no other row of execution_results (the seed's trigger counted them all)."""
    job = make.job(make.recording(make.user()), rows=3000)
    make.conn.execute("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
                      " SELECT %s, i, '{}', 'success' FROM generate_series(0, 1999) AS i", (job,))
    with psycopg.connect(db.url) as conn:  # a fresh session: its statistics are this transaction's
        conn.execute("SET LOCAL ROLE service_role")
        conn.execute("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
                      " VALUES (%s, 2500, '{}', 'failed')", (job,))
        conn.execute("UPDATE recorder.execution_results SET status = 'success'"
                     " WHERE execution_job_id = %s AND row_index = 2500", (job,))
        conn.execute("RESET ROLE")
        scans = conn.execute("SELECT seq_scan, idx_scan, idx_tup_fetch FROM pg_stat_xact_user_tables"
                             " WHERE relid = 'recorder.execution_results'::regclass").fetchone()
        conn.commit()
    assert scans == (0, 1, 1)  # the UPDATE's own lookup of its row, nothing else
    assert counters(make, job) == (2001, 2001, 0, "pending")


def test_counters_are_exact_with_many_concurrent_workers(db: TestDB, make: Builder) -> None:
    """8 workers (a job's concurrency is at most 10) insert results and retry failures at the
    same time, each statement its own transaction; the job ends exact and completed."""
    workers, rows = 8, 400
    job = make.job(make.recording(make.user()), rows=rows, concurrency=10)
    make.conn.execute("SELECT * FROM recorder.claim_execution_job('vdi-1')")
    plan = {i: random.Random(i).choice(["success", "failed", "skipped", "retry"]) for i in range(rows)}

    def work(conn: psycopg.Connection, w: int) -> int:
        conn.execute("SET ROLE service_role")
        for row in range(w, rows, workers):
            status = "failed" if plan[row] == "retry" else plan[row]
            conn.execute("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
                         " VALUES (%s, %s, '{}', %s)", (job, row, status))
            if plan[row] == "retry":
                conn.execute("UPDATE recorder.execution_results SET status = 'success'"
                             " WHERE execution_job_id = %s AND row_index = %s", (job, row))
        return w

    results = concurrently(workers, db.url, work)
    assert errors(results) == []
    expected_ok = sum(1 for s in plan.values() if s in ("success", "retry"))
    expected_failed = sum(1 for s in plan.values() if s == "failed")
    assert counters(make, job) == (rows, expected_ok, expected_failed, "completed")
    assert make.job_row(job)["completed_at"] is not None
    recount = make.conn.execute(
        "SELECT count(*), count(*) FILTER (WHERE status = 'success'), count(*) FILTER (WHERE status = 'failed')"
        " FROM recorder.execution_results WHERE execution_job_id = %s", (job,)).fetchone()
    assert recount == (rows, expected_ok, expected_failed)


def test_results_keep_a_running_job_alive(make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=5)
    make.conn.execute("SELECT * FROM recorder.claim_execution_job('vdi-1')")
    make.conn.execute("UPDATE recorder.execution_jobs SET claimed_at = now() - interval '20 minutes' WHERE id = %s",
                      (job,))
    make.result(job, 0)
    assert make.conn.execute("SELECT recorder.requeue_stale_execution_jobs()").fetchone()[0] == 0
    assert make.job_row(job)["status"] == "running"
    recent = make.conn.execute("SELECT claimed_at > now() - interval '1 minute' FROM recorder.execution_jobs"
                               " WHERE id = %s", (job,)).fetchone()[0]
    assert recent is True
