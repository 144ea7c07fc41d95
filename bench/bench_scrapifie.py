"""scrapifie benchmarks (issue 6), each side by side in one run:

- job claim throughput with 1, 4 and 8 workers, each claiming one job at a time and
  marking it done (and, at 8 workers, ours claiming batches of 10): ours (scrapifie.claim_scrape_jobs) vs procrastinate's fetch-job
  (procrastinate_fetch_job_v2 / procrastinate_finish_job_v1, its own schema.sql loaded
  into a database of the same server), and vs the seed's two-statement poll (SELECT the
  next pending job, then UPDATE it), counting the jobs that poll hands out twice;
- deduct_credits under contention (16 connections on one organization): ours vs a naive
  read-then-write (SELECT the balance, then UPDATE it to balance - amount), counting the
  credits the naive version loses to lost updates.

procrastinate comes with the `bench` extra (`.venv/bin/pip install -e '.[bench]'`); its
schema.sql is found through BENCH_PROCRASTINATE_SQL, the installed package, or a throwaway
venv at /tmp/bench-venv; without it those rows are skipped (said under the table) and the
seed's poll is still compared.
"""

from __future__ import annotations

import os
from typing import Any

import psycopg

from harness import Bench, Result, procrastinate_schema, race

JOBS = int(os.environ.get("BENCH_JOBS", "3000"))
WORKERS = (1, 4, 8)
DEDUCT_CONNECTIONS = 16
DEDUCTIONS = int(os.environ.get("BENCH_DEDUCTIONS", "300"))


# -- job queue ---------------------------------------------------------------------------

def _load_ours(conn: psycopg.Connection, org: Any) -> None:
    conn.execute("TRUNCATE scrapifie.scrape_jobs CASCADE")
    conn.execute("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash, queue_name, priority, created_at)"
                 " SELECT %s, 'https://bench.test/' || g, '-', 'default', 1 + g %% 10,"
                 " now() - interval '1 hour' + g * interval '1 ms' FROM generate_series(1, %s) g", (org, JOBS))
    conn.execute("VACUUM ANALYZE scrapifie.scrape_jobs")


def _ours_worker(conn: psycopg.Connection, i: int) -> list[Any]:
    done = []
    while True:
        row = conn.execute("SELECT id FROM scrapifie.claim_scrape_jobs(%s, 'default', 1)", (f"w{i}",)).fetchone()
        if row is None:
            return done
        conn.execute("UPDATE scrapifie.scrape_jobs SET status = 'completed', completed_at = now() WHERE id = %s",
                     row)
        done.append(row[0])


def _ours_batch_worker(conn: psycopg.Connection, i: int) -> list[Any]:
    """claim_scrape_jobs' batch: ten jobs per claim, finished together."""
    done: list[Any] = []
    while True:
        ids = [r[0] for r in conn.execute("SELECT id FROM scrapifie.claim_scrape_jobs(%s, 'default', 10)",
                                          (f"w{i}",)).fetchall()]
        if not ids:
            return done
        conn.execute("UPDATE scrapifie.scrape_jobs SET status = 'completed', completed_at = now()"
                     " WHERE id = ANY(%s)", (ids,))
        done += ids


def _seed_poll_worker(conn: psycopg.Connection, i: int) -> list[Any]:
    """The seed's implied poll: read the next job, then mark it, in two statements."""
    done = []
    while True:
        row = conn.execute("SELECT id FROM scrapifie.scrape_jobs WHERE status IN ('pending', 'queued')"
                           " ORDER BY priority DESC, created_at LIMIT 1").fetchone()
        if row is None:
            return done
        conn.execute("UPDATE scrapifie.scrape_jobs SET status = 'running', worker_id = %s, started_at = now(),"
                     " attempts = attempts + 1 WHERE id = %s", (f"w{i}", row[0]))
        conn.execute("UPDATE scrapifie.scrape_jobs SET status = 'completed', completed_at = now() WHERE id = %s",
                     row)
        done.append(row[0])


def _load_procrastinate(conn: psycopg.Connection) -> None:
    conn.execute("TRUNCATE procrastinate_jobs CASCADE")
    conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args)"
                 " SELECT 'default', 'scrape', 1 + g %% 10, jsonb_build_object('url', 'https://bench.test/' || g)"
                 " FROM generate_series(1, %s) g", (JOBS,))
    conn.execute("VACUUM ANALYZE procrastinate_jobs")


def _procrastinate_worker(conn: psycopg.Connection, i: int) -> list[Any]:
    worker = conn.execute("SELECT procrastinate_register_worker_v1()").fetchone()[0]
    done = []
    while True:
        job = conn.execute("SELECT id FROM procrastinate_fetch_job_v2(ARRAY['default'], %s)", (worker,)).fetchone()
        if job is None or job[0] is None:
            return done
        conn.execute("SELECT procrastinate_finish_job_v1(%s, 'succeeded', false)", job)
        done.append(job[0])


def queue(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_scrapifie_queue", systems=["scrapifie"])
    schema = procrastinate_schema()
    theirs_url = None
    if schema and schema.exists():
        theirs_url = bench.fresh_db("bench_procrastinate", migrate=False)
        with psycopg.connect(theirs_url, autocommit=True) as conn:
            conn.execute(schema.read_text())
    else:
        bench.skip("job claim+finish vs procrastinate (the seed's poll is still compared)", "procrastinate")
    results = []
    with psycopg.connect(url, autocommit=True) as admin:
        org = admin.execute("INSERT INTO scrapifie.organizations (name, slug, billing_email)"
                            " VALUES ('bench', 'bench', 'b@bench.test') RETURNING id").fetchone()[0]
        for n in WORKERS:
            _load_ours(admin, org)
            t_ours, got = race(url, n, _ours_worker)
            claimed = [j for w in got for j in w]
            assert len(claimed) == len(set(claimed)) == JOBS
            if theirs_url:
                with psycopg.connect(theirs_url, autocommit=True) as theirs:
                    _load_procrastinate(theirs)
                t_theirs, got = race(theirs_url, n, _procrastinate_worker)
                fetched = [j for w in got for j in w]
                assert len(fetched) == len(set(fetched)) == JOBS
                results.append(Result(f"job claim+finish, {n} worker{'s' * (n > 1)}", JOBS / t_ours,
                                      JOBS / t_theirs, "procrastinate 3 fetch_job_v2", "jobs/s"))
                if n == WORKERS[-1]:  # procrastinate fetches one job per call; ours can take a batch
                    _load_ours(admin, org)
                    t_batch, got = race(url, n, _ours_batch_worker)
                    assert len({j for w in got for j in w}) == JOBS
                    results.append(Result(f"job claim+finish, {n} workers, ours in batches of 10", JOBS / t_batch,
                                          JOBS / t_theirs, "procrastinate 3 fetch_job_v2 (one per call)", "jobs/s"))
            _load_ours(admin, org)
            t_poll, got = race(url, n, _seed_poll_worker)
            polled = [j for w in got for j in w]
            results.append(Result(f"job claim+finish, {n} worker{'s' * (n > 1)}", JOBS / t_ours, len(polled) / t_poll,
                                  "seed's two-statement poll", "jobs/s"))
            if n > 1:
                results.append(Result(f"jobs handed to two workers, {n} workers", 0,
                                      len(polled) - len(set(polled)), "seed's two-statement poll", "jobs"))
    return results


# -- credits ----------------------------------------------------------------------------------

def credits(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_scrapifie_credits", systems=["scrapifie"])
    amounts = [1 + i % 5 for i in range(DEDUCT_CONNECTIONS)]
    demand = sum(a * DEDUCTIONS for a in amounts)
    start = demand // 2  # half the demand: the balance runs out under contention
    results = []
    with psycopg.connect(url, autocommit=True) as admin:
        org = admin.execute("INSERT INTO scrapifie.organizations (name, slug, billing_email, credits_balance)"
                            " VALUES ('c', 'c', 'c@bench.test', %s) RETURNING id", (start,)).fetchone()[0]

        def balance() -> int:
            return admin.execute("SELECT credits_balance FROM scrapifie.organizations WHERE id = %s",
                                 (org,)).fetchone()[0]

        def ours(conn: psycopg.Connection, i: int) -> int:
            return sum(amounts[i] for _ in range(DEDUCTIONS) if conn.execute(
                "SELECT scrapifie.deduct_credits(%s, %s)", (org, amounts[i])).fetchone()[0])

        def naive(conn: psycopg.Connection, i: int) -> int:
            taken = 0
            for _ in range(DEDUCTIONS):
                have = conn.execute("SELECT credits_balance FROM scrapifie.organizations WHERE id = %s",
                                    (org,)).fetchone()[0]
                if have >= amounts[i]:
                    conn.execute("UPDATE scrapifie.organizations SET credits_balance = %s WHERE id = %s",
                                 (have - amounts[i], org))
                    taken += amounts[i]
            return taken

        t_ours, taken = race(url, DEDUCT_CONNECTIONS, ours)
        lost_ours = balance() - (start - sum(taken))
        admin.execute("UPDATE scrapifie.organizations SET credits_balance = %s WHERE id = %s", (start, org))
        t_naive, taken = race(url, DEDUCT_CONNECTIONS, naive)
        lost_naive = balance() - (start - sum(taken))
    calls = DEDUCT_CONNECTIONS * DEDUCTIONS
    results.append(Result(f"deduct_credits, {DEDUCT_CONNECTIONS} connections", calls / t_ours, calls / t_naive,
                          "naive read-then-write", "calls/s"))
    results.append(Result(f"credits handed out but never deducted, {DEDUCT_CONNECTIONS} connections",
                          lost_ours, lost_naive, "naive read-then-write", "credits"))
    return results


def run(bench: Bench) -> list[Result]:
    return queue(bench) + credits(bench)
