"""Design experiment for issue 14 (not the product, not a row of bench/run.py): what would
bring scrapifie's claim + finish to 1.2x procrastinate's?

Run: .venv/bin/python bench/experiments/narrow_queue.py [ROUNDS]   (about 6 minutes)

Four variants of the one-call loop (complete the held job, claim the next, one job.started
and one job.completed event per job), each through pgbench on 1, 4 and 8 connections, against
procrastinate 3's fetch_job_v2 + finish_job_v1, in rounds whose order rotates (medians):
- wide: the product as it is (complete_and_claim_scrape_job on scrape_jobs, 14 indexes,
  8 CHECKs, status in four of the indexes, so no update is HOT);
- narrow: the queue state (status, worker, attempts, times, credits charged) in a table of
  its own with only the queue's and the timeout's partial indexes; scrape_jobs is read (for
  the options' timeout and the columns a worker gets) but not written;
- wide and narrow again in a database whose job_events has no foreign key to scrape_jobs
  (the seed's job_id REFERENCES scrape_jobs(id)): what the per-event key check costs.

Every load empties job_events and queues the same jobs, as procrastinate's load truncates
its tables; the narrow runs check that each job was claimed once.
"""

from __future__ import annotations

import statistics
import sys
from contextlib import ExitStack
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import bench_scrapifie as queue  # noqa: E402 - after the path above
from harness import Bench, Result, markdown, pgbench  # noqa: E402

WORKERS = (1, 4, 8)
JOBS = 3000

NARROW_SQL = """
CREATE SCHEMA narrow;
CREATE TABLE narrow.job_state (
    job_id uuid PRIMARY KEY REFERENCES scrapifie.scrape_jobs (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL,
    queue_name text NOT NULL,
    priority integer NOT NULL,
    created_at timestamptz NOT NULL,
    status text NOT NULL
        CHECK (status IN ('pending', 'queued', 'running', 'completed', 'failed', 'canceled', 'timeout')),
    worker_id text,
    attempts integer NOT NULL DEFAULT 0,
    credits_charged integer NOT NULL DEFAULT 0,
    started_at timestamptz,
    timeout_at timestamptz,
    completed_at timestamptz
);
CREATE INDEX job_state_queue ON narrow.job_state (queue_name, priority DESC, created_at)
WHERE status IN ('pending', 'queued');
CREATE INDEX job_state_timeout ON narrow.job_state (timeout_at) WHERE status = 'running';

CREATE FUNCTION narrow.complete_and_claim(p_job_id uuid, p_worker_id text, p_attempt integer,
                                          p_queue text DEFAULT 'default')
RETURNS TABLE (id uuid, organization_id uuid, attempt integer, max_attempts integer, url text, options jsonb,
               started_at timestamptz, timeout_at timestamptz)
LANGUAGE plpgsql SECURITY DEFINER SET search_path TO 'pg_catalog', 'pg_temp'
SET plan_cache_mode TO 'force_generic_plan'
AS $$
#variable_conflict use_column
BEGIN
    RETURN QUERY
        WITH held AS (
            SELECT s.job_id FROM narrow.job_state AS s
            WHERE s.job_id = p_job_id AND s.status = 'running' AND s.worker_id = p_worker_id
                AND s.attempts = p_attempt
            FOR UPDATE
        ),
        picked AS (
            SELECT s.job_id FROM narrow.job_state AS s
            WHERE s.status IN ('pending', 'queued') AND s.queue_name = p_queue
            ORDER BY s.priority DESC, s.created_at ASC
            LIMIT 1
            FOR UPDATE SKIP LOCKED
        ),
        targets AS (
            SELECT h.job_id, TRUE AS done FROM held AS h
            UNION ALL
            SELECT p.job_id, FALSE AS done FROM picked AS p
        ),
        changed AS (
            UPDATE narrow.job_state AS s
            SET
                status = CASE WHEN t.done THEN 'completed' ELSE 'running' END,
                worker_id = p_worker_id,
                started_at = CASE WHEN t.done THEN s.started_at ELSE now() END,
                completed_at = CASE WHEN t.done THEN now() END,
                credits_charged = CASE WHEN t.done THEN j.credits_estimated ELSE s.credits_charged END,
                attempts = CASE WHEN t.done THEN s.attempts ELSE s.attempts + 1 END,
                timeout_at = CASE WHEN NOT t.done THEN now() + make_interval(secs => CASE
                    WHEN jsonb_typeof(j.options -> 'timeout') = 'number'
                        THEN least(greatest((j.options ->> 'timeout')::numeric, 1000), 600000) / 1000
                    ELSE 30 END) END
            FROM targets AS t, scrapifie.scrape_jobs AS j
            WHERE s.job_id = t.job_id AND j.id = t.job_id
                AND CASE WHEN t.done
                    THEN s.status = 'running' AND s.worker_id = p_worker_id AND s.attempts = p_attempt
                    ELSE s.status IN ('pending', 'queued') END
            RETURNING s.*, t.done, j.max_attempts, j.url, j.options
        ),
        logged AS (
            INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data, worker_id, duration_ms)
            SELECT c.job_id, c.organization_id,
                CASE WHEN c.done THEN 'job.completed' ELSE 'job.started' END,
                CASE WHEN c.done THEN jsonb_build_object('attempt', c.attempts)
                     ELSE jsonb_build_object('attempt', c.attempts, 'queue', p_queue) END,
                p_worker_id,
                CASE WHEN c.done THEN least(extract(EPOCH FROM now() - c.started_at) * 1000, 2147483647)::integer END
            FROM changed AS c
        )
        SELECT c.job_id, c.organization_id, c.attempts, c.max_attempts, c.url, c.options, c.started_at, c.timeout_at
        FROM changed AS c WHERE NOT c.done
        UNION ALL
        SELECT scrapifie.lost_job(p_job_id, p_worker_id, p_attempt), NULL, NULL, NULL, NULL, NULL, NULL, NULL
        WHERE p_job_id IS NOT NULL AND NOT EXISTS (SELECT FROM changed AS c WHERE c.done);
END
$$;
GRANT USAGE ON SCHEMA narrow TO scrapifie_worker;
GRANT EXECUTE ON FUNCTION narrow.complete_and_claim(uuid, text, integer, text) TO scrapifie_worker;
"""
NARROW_LOOP_SQL = ("SELECT id, attempt FROM narrow.complete_and_claim("
                   "nullif(:id, 'none')::uuid, 'w' || :client_id, nullif(:attempt, 'none')::integer) \\gset\n")


def _load(conn: psycopg.Connection, org: Any, jobs: int, narrow: bool) -> None:
    conn.execute("TRUNCATE scrapifie.job_events")
    queue._load_ours(conn, org, jobs)
    if narrow:
        conn.execute("INSERT INTO narrow.job_state (job_id, organization_id, queue_name, priority, created_at, status)"
                     " SELECT id, organization_id, coalesce(queue_name, 'default'), priority, created_at, status"
                     " FROM scrapifie.scrape_jobs WHERE status IN ('pending', 'queued')")
        conn.execute("VACUUM ANALYZE narrow.job_state")


def _once(bench_db: tuple[str, psycopg.Connection, Any], variant: str, n: int, per: int) -> float:
    url, admin, org = bench_db
    narrow = variant.startswith("narrow")
    _load(admin, org, n * per + n, narrow)
    tps = pgbench(url, NARROW_LOOP_SQL if narrow else queue.OURS_LOOP_SQL, n, per, role="scrapifie_worker",
                  define=queue.FIRST_CALL)
    if narrow:
        started = admin.execute("SELECT count(*), count(DISTINCT job_id) FROM scrapifie.job_events"
                                " WHERE event_type = 'job.started'").fetchone()
        done = admin.execute("SELECT count(*) FROM narrow.job_state WHERE status = 'completed'").fetchone()[0]
        assert started == (n * per, n * per) and done == n * (per - 1), (started, done)
    return tps


def main(rounds: int) -> None:
    bench = Bench()
    try:
        theirs_url = bench.procrastinate_db("exp_procrastinate", "the narrow-queue experiment")
        if not theirs_url:
            return
        with ExitStack() as connections:
            dbs = {}
            for name in ("fk", "nofk"):
                url = bench.fresh_db(f"exp_{name}", systems=["scrapifie"])
                admin = connections.enter_context(psycopg.connect(url, autocommit=True))
                admin.execute(NARROW_SQL)
                if name == "nofk":
                    admin.execute("ALTER TABLE scrapifie.job_events DROP CONSTRAINT job_events_job_id_fkey")
                dbs[name] = (url, admin, queue._org(admin, "bench"))
            theirs = connections.enter_context(psycopg.connect(theirs_url, autocommit=True))
            variants = ["wide", "narrow", "wide, no job_events key", "narrow, no job_events key", "procrastinate"]
            tps: dict[tuple[str, int], list[float]] = defaultdict(list)
            for r in range(rounds):
                for n in WORKERS:
                    per = JOBS // n
                    for variant in variants[r % 5:] + variants[:r % 5]:
                        if variant == "procrastinate":
                            queue._load_procrastinate(theirs, n * per + n)
                            tps[(variant, n)].append(pgbench(theirs_url, queue.THEIRS_LOOP_SQL, n, per))
                        else:
                            db = dbs["nofk" if "no job_events key" in variant else "fk"]
                            tps[(variant, n)].append(_once(db, variant, n, per))
        results = [Result(f"claim + finish, {n} connection{'s' * (n > 1)}, {variant}",
                          statistics.median(tps[(variant, n)]), statistics.median(tps[("procrastinate", n)]),
                          "procrastinate 3 fetch_job_v2 + finish_job_v1", "jobs/s", ">= 1.2x")
                   for n in WORKERS for variant in variants[:-1]]
        print(markdown(results))
    finally:
        bench.close()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
