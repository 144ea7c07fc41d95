"""recorder benchmarks (issue 5), each side by side in one run:

- the cost of inserting one execution result into a job that already holds 1k and 100k
  results: our update_execution_job_progress (an O(1) delta) vs the seed's body (recounts
  every result of the job on every insert), swapped in on the same database and data;
- 8 workers inserting the 100 results of one job at once, for 30 jobs: throughput, and how many
  jobs end with wrong counters or never complete (the seed's recount loses updates);
- claim throughput with 1, 4 and 8 workers: recorder.claim_execution_job() (one statement)
  vs the seed's two-statement poll (SELECT ... FOR UPDATE SKIP LOCKED, then UPDATE) in one
  transaction, counting duplicate claims; and the same poll run as written, without a
  transaction around it;
- claim + finish with 1, 4 and 8 workers (issue 14), as recorder_worker: claim_execution_job
  then record_execution_result of the job's one CSV row (which completes it: the job's
  finish, through the progress trigger, fenced by the claim's attempt), vs procrastinate 3's
  procrastinate_fetch_job_v2 then procrastinate_finish_job_v1, in a database of the same
  server, counting duplicate claims on both sides.

procrastinate comes with the `bench` extra; its schema.sql is found by
harness.procrastinate_schema (BENCH_PROCRASTINATE_SQL, the installed package, or a throwaway
venv at /tmp/bench-venv); without it the issue 14 rows are skipped, and said so.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable

import psycopg
from psycopg.types.json import Jsonb

from harness import Bench, Result, race

EXISTING = (1_000, 100_000)
INSERTS = int(os.environ.get("BENCH_RECORDER_INSERTS", "300"))
CONCURRENT_JOBS = int(os.environ.get("BENCH_RECORDER_CONCURRENT_JOBS", "30"))
CONCURRENT_ROWS = 100
JOBS = int(os.environ.get("BENCH_RECORDER_JOBS", "2000"))
DONE_JOBS = 20_000

# The seed's trigger body (section 6.3), schema-qualified; swapped in for the baseline.
SEED_PROGRESS = """
CREATE OR REPLACE FUNCTION recorder.update_execution_job_progress()
RETURNS TRIGGER AS $$
DECLARE
  total INTEGER;
  completed INTEGER;
  successful INTEGER;
  failed INTEGER;
BEGIN
  SELECT
    ej.total_rows,
    COUNT(*) FILTER (WHERE er.status IN ('success', 'failed')),
    COUNT(*) FILTER (WHERE er.status = 'success'),
    COUNT(*) FILTER (WHERE er.status = 'failed')
  INTO total, completed, successful, failed
  FROM recorder.execution_jobs ej
  LEFT JOIN recorder.execution_results er ON er.execution_job_id = ej.id
  WHERE ej.id = NEW.execution_job_id
  GROUP BY ej.total_rows;

  UPDATE recorder.execution_jobs
  SET
    completed_rows = completed,
    successful_rows = successful,
    failed_rows = failed,
    status = CASE WHEN completed = total THEN 'completed' ELSE status END,
    completed_at = CASE WHEN completed = total THEN NOW() ELSE completed_at END
  WHERE id = NEW.execution_job_id;

  RETURN NEW;
END;
$$ LANGUAGE plpgsql
"""

INSERT_RESULT = ("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
                 " VALUES (%s, %s, '{\"email\": \"a@b.c\"}', %s)")


def _owner(conn: psycopg.Connection) -> tuple[uuid.UUID, uuid.UUID]:
    user = uuid.uuid4()
    conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, 'bench@example.test')", (user,))
    conn.execute("INSERT INTO recorder.users (id, email) VALUES (%s, 'bench@example.test')", (user,))
    rec = conn.execute("INSERT INTO recorder.recordings (user_id, name, starting_url) VALUES (%s, 'b', 'u')"
                       " RETURNING id", (user,)).fetchone()[0]
    return user, rec


def _job(conn: psycopg.Connection, user: uuid.UUID, rec: uuid.UUID, rows: int, prefilled: int) -> uuid.UUID:
    """A job of `rows` CSV rows whose first `prefilled` rows already have a result."""
    job = conn.execute(
        "INSERT INTO recorder.execution_jobs (recording_id, user_id, status, csv_data, field_mapping, total_rows)"
        " SELECT %s, %s, 'running', jsonb_agg(jsonb_build_object('email', 'r' || i)), '{}', %s"
        " FROM generate_series(1, %s) AS i RETURNING id", (rec, user, rows, rows)).fetchone()[0]
    conn.execute("ALTER TABLE recorder.execution_results DISABLE TRIGGER update_execution_jobs_progress")
    conn.execute("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
                 " SELECT %s, i, '{}', 'success' FROM generate_series(0, %s - 1) AS i", (job, prefilled))
    conn.execute("ALTER TABLE recorder.execution_results ENABLE TRIGGER update_execution_jobs_progress")
    conn.execute("UPDATE recorder.execution_jobs SET completed_rows = %s, successful_rows = %s WHERE id = %s",
                 (prefilled, prefilled, job))
    return job


def _per_insert(conn: psycopg.Connection, job: uuid.UUID, first_row: int) -> float:
    """Seconds per result: INSERTS single-row inserts, each its own transaction."""
    started = time.perf_counter()
    for i in range(INSERTS):
        conn.execute(INSERT_RESULT, (job, first_row + i, "failed" if i % 5 == 0 else "success"))
    return (time.perf_counter() - started) / INSERTS


def insert_cost(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_recorder_progress", systems=["recorder"])
    with psycopg.connect(url, autocommit=True) as conn:
        user, rec = _owner(conn)
        jobs = {n: _job(conn, user, rec, n + 2 * INSERTS, n) for n in EXISTING}
        conn.execute("VACUUM ANALYZE recorder.execution_results")
        ours = {n: _per_insert(conn, jobs[n], n) for n in EXISTING}
        conn.execute(SEED_PROGRESS)
        seed = {n: _per_insert(conn, jobs[n], n + INSERTS) for n in EXISTING}
        exact = conn.execute("SELECT bool_and(completed_rows = (SELECT count(*) FROM recorder.execution_results r"
                             " WHERE r.execution_job_id = j.id)) FROM recorder.execution_jobs j").fetchone()[0]
        assert exact, "counters drifted in the single-writer benchmark"
    return [Result(f"results insert, {n:,} results already in the job (per result)", ours[n], seed[n],
                   "seed trigger: recount all results") for n in EXISTING]


def _concurrent_inserts(url: str, job: uuid.UUID, workers: int, total: int) -> float:
    """`workers` connections insert `total` results into one job at once; seconds taken."""

    def work(conn: psycopg.Connection, w: int) -> None:
        for row in range(w, total, workers):
            conn.execute(INSERT_RESULT, (job, row, "success"))

    return race(url, workers, work)[0]


def _concurrent_jobs(conn: psycopg.Connection, url: str, user: uuid.UUID, rec: uuid.UUID) -> tuple[float, int]:
    """CONCURRENT_JOBS jobs in turn, 8 workers inserting each one's results at once:
    (results per second, jobs whose completed_rows or status ended wrong)."""
    seconds, wrong = 0.0, 0
    for _ in range(CONCURRENT_JOBS):
        job = _job(conn, user, rec, CONCURRENT_ROWS, 0)
        seconds += _concurrent_inserts(url, job, 8, CONCURRENT_ROWS)
        done, status = conn.execute("SELECT completed_rows, status FROM recorder.execution_jobs WHERE id = %s",
                                    (job,)).fetchone()
        wrong += (done, status) != (CONCURRENT_ROWS, "completed")
    return CONCURRENT_JOBS * CONCURRENT_ROWS / seconds, wrong


def concurrent_progress(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_recorder_concurrent", systems=["recorder"])
    with psycopg.connect(url, autocommit=True) as conn:
        user, rec = _owner(conn)
        ours, ours_wrong = _concurrent_jobs(conn, url, user, rec)
        conn.execute(SEED_PROGRESS)
        seed, seed_wrong = _concurrent_jobs(conn, url, user, rec)
    return [Result(f"8 workers insert the {CONCURRENT_ROWS} results of a job at once, {CONCURRENT_JOBS} jobs "
                   f"(jobs left with wrong counters or not completed: ours {ours_wrong}, seed {seed_wrong})",
                   ours, seed, "seed trigger: recount all results", unit="results/s")]


def _claim_ours(conn: psycopg.Connection, worker: str) -> uuid.UUID | None:
    row = conn.execute("SELECT id FROM recorder.claim_execution_job(%s)", (worker,)).fetchone()
    return row[0] if row else None


def _seed_poll(conn: psycopg.Connection, worker: str) -> uuid.UUID | None:
    """The seed's poller query, then its claim UPDATE (section 3.3)."""
    row = conn.execute("SELECT * FROM recorder.execution_jobs WHERE status = 'pending' ORDER BY created_at"
                       " LIMIT 1 FOR UPDATE SKIP LOCKED").fetchone()
    if row is None:
        return None
    conn.execute("UPDATE recorder.execution_jobs SET status = 'running', worker_id = %s, claimed_at = NOW(),"
                 " started_at = NOW() WHERE id = %s", (worker, row[0]))
    return row[0]


def _seed_poll_in_transaction(conn: psycopg.Connection, worker: str) -> uuid.UUID | None:
    with conn.transaction():
        return _seed_poll(conn, worker)


def _drain(url: str, workers: int, claim: Callable[[psycopg.Connection, str], uuid.UUID | None]
           ) -> tuple[float, int, int]:
    """Workers claim until the queue is empty: (seconds, claims, duplicate claims)."""

    def work(conn: psycopg.Connection, w: int) -> list[uuid.UUID]:
        mine = []
        while (job := claim(conn, f"vdi-{w}")) is not None:
            mine.append(job)
        return mine

    seconds, claimed = race(url, workers, work)
    every = [job for mine in claimed for job in mine]
    return seconds, len(every), len(every) - len(set(every))


def claim_throughput(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_recorder_queue", systems=["recorder"])
    with psycopg.connect(url, autocommit=True) as conn:
        user, rec = _owner(conn)
        conn.execute(
            "INSERT INTO recorder.execution_jobs (recording_id, user_id, status, csv_data, field_mapping, total_rows,"
            " created_at) SELECT %s, %s, CASE WHEN i <= %s THEN 'completed' ELSE 'pending' END,"
            " '[{\"email\": \"a@b.c\"}]', '{}', 1, now() - interval '1 day' + i * interval '1 ms'"
            " FROM generate_series(1, %s) AS i", (rec, user, DONE_JOBS, DONE_JOBS + JOBS))

        def run(workers: int, claim: Callable) -> tuple[float, int, int]:
            conn.execute("UPDATE recorder.execution_jobs SET status = 'pending', worker_id = NULL,"
                         " claimed_at = NULL, started_at = NULL WHERE status = 'running'")
            conn.execute("VACUUM ANALYZE recorder.execution_jobs")
            seconds, claims, dupes = _drain(url, workers, claim)
            assert claims - dupes == JOBS, (claims, dupes)
            return seconds, claims, dupes

        results = []
        for workers in (1, 4, 8):
            ours_s, _, ours_dupes = run(workers, _claim_ours)
            seed_s, seed_claims, seed_dupes = run(workers, _seed_poll_in_transaction)
            results.append(Result(
                f"claim {JOBS:,} jobs, {workers} worker{'s' if workers > 1 else ''} (duplicate claims: ours "
                f"{ours_dupes}, seed {seed_dupes})", JOBS / ours_s, seed_claims / seed_s,
                "seed poll: SELECT FOR UPDATE SKIP LOCKED, then UPDATE, one transaction", unit="jobs/s"))
        seed_s, seed_claims, seed_dupes = run(8, _seed_poll)
        results.append(Result(
            f"claim {JOBS:,} jobs, 8 workers, seed poll as written without a transaction (duplicate claims: "
            f"ours {ours_dupes}, seed {seed_dupes})", JOBS / ours_s, seed_claims / seed_s,
            "seed poll: two autocommit statements", unit="jobs/s"))
    return results


FINISH_JOBS = int(os.environ.get("BENCH_RECORDER_FINISH_JOBS", "3000"))
GOAL = ">= 1.2x"


def _load_recorder_jobs(conn: psycopg.Connection, user: uuid.UUID, rec: uuid.UUID) -> None:
    conn.execute("TRUNCATE recorder.execution_jobs CASCADE")
    conn.execute(
        "INSERT INTO recorder.execution_jobs (recording_id, user_id, csv_data, field_mapping, total_rows, created_at)"
        " SELECT %s, %s, jsonb_build_array(jsonb_build_object('email', 'r' || g || '@bench.test')), '{}', 1,"
        " now() - interval '1 hour' + g * interval '1 ms' FROM generate_series(1, %s) g", (rec, user, FINISH_JOBS))
    conn.execute("VACUUM ANALYZE recorder.execution_jobs")
    conn.execute("VACUUM ANALYZE recorder.execution_results")


def _recorder_worker(conn: psycopg.Connection, i: int) -> list[uuid.UUID]:
    conn.execute("SET ROLE recorder_worker")
    done = []
    while (job := conn.execute("SELECT id, attempts, csv_data -> 0 FROM recorder.claim_execution_job(%s)",
                               (f"vdi-{i}",)).fetchone()) is not None:
        conn.execute("SELECT recorder.record_execution_result(%s, %s, 0, 'success', %s)",
                     (job[0], job[1], Jsonb(job[2])))
        done.append(job[0])
    return done


def _load_procrastinate(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE procrastinate_jobs CASCADE")
    conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, args) SELECT 'default', 'run_csv',"
                 " jsonb_build_object('email', 'r' || g || '@bench.test') FROM generate_series(1, %s) g",
                 (FINISH_JOBS,))
    conn.execute("VACUUM ANALYZE procrastinate_jobs")


def _procrastinate_worker(conn: psycopg.Connection, i: int) -> list[int]:
    worker = conn.execute("SELECT procrastinate_register_worker_v1()").fetchone()[0]
    done = []
    while True:
        job = conn.execute("SELECT id FROM procrastinate_fetch_job_v2(ARRAY['default'], %s)", (worker,)).fetchone()
        if job is None or job[0] is None:
            return done
        conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', false)", job)
        done.append(job[0])


def claim_and_finish(bench: Bench) -> list[Result]:
    """Issue 14: claim + finish, one job per call, vs procrastinate 3."""
    theirs_url = bench.procrastinate_db("bench_recorder_procrastinate", "recorder claim + finish vs procrastinate")
    if theirs_url is None:
        return []
    url = bench.fresh_db("bench_recorder_finish", systems=["recorder"])
    results = []
    with psycopg.connect(url, autocommit=True) as admin, psycopg.connect(theirs_url, autocommit=True) as theirs:
        user, rec = _owner(admin)
        for workers in (1, 4, 8):
            _load_recorder_jobs(admin, user, rec)
            t_ours, got = race(url, workers, _recorder_worker)
            ours = [job for mine in got for job in mine]
            left = admin.execute("SELECT count(*) FILTER (WHERE status <> 'completed'), sum(completed_rows)"
                                 " FROM recorder.execution_jobs").fetchone()
            assert len(set(ours)) == FINISH_JOBS and left == (0, FINISH_JOBS), left
            _load_procrastinate(theirs)
            t_theirs, got = race(theirs_url, workers, _procrastinate_worker)
            fetched = [job for mine in got for job in mine]
            assert len(set(fetched)) == FINISH_JOBS
            results.append(Result(
                f"recorder claim + finish, {workers} worker{'s' * (workers > 1)}, {FINISH_JOBS:,} jobs (duplicate "
                f"claims: ours {len(ours) - len(set(ours))}, procrastinate {len(fetched) - len(set(fetched))})",
                FINISH_JOBS / t_ours, FINISH_JOBS / t_theirs, "procrastinate 3 fetch_job_v2 + finish_job_v1",
                unit="jobs/s", goal=GOAL))
    return results


def run(bench: Bench) -> list[Result]:
    return insert_cost(bench) + concurrent_progress(bench) + claim_throughput(bench) + claim_and_finish(bench)
