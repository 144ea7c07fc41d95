"""scrapifie benchmarks (issues 6 and 14), each side by side in one run:

- job claim+finish with 1, 4 and 8 workers, one job per call, as scrapifie_worker (the role
  workers use: functions only): ours as two calls (claim_scrape_jobs + complete_scrape_job)
  and as one (complete_and_claim_scrape_job: completes the held job, claims the next) vs
  procrastinate's fetch-job (procrastinate_fetch_job_v2 / procrastinate_finish_job_v1, its
  own schema.sql loaded into a database of the same server); at 8 workers, ours claiming
  batches of 10 too; and vs the seed's two-statement poll (SELECT the next pending job, then
  UPDATE it), counting the jobs that poll hands out twice. Every run asserts that no job was
  handed to two workers;
- the same claim loop with 1M finished jobs (and their 2M events) in the tables vs an empty
  history, in two databases measured in alternating rounds: depth must not slow the queue;
  then 40 s of claims over that history (pgbench, 4 connections): the last 10 s against the
  first, ours and procrastinate's with as many finished jobs;
- deduct_credits under contention (16 connections of scrapifie_app on one organization): ours
  vs a naive read-then-write (SELECT the balance, then UPDATE it to balance - amount), counting
  the credits the naive version loses to lost updates.

procrastinate comes with the `bench` extra (`.venv/bin/pip install -e '.[bench]'`); its
schema.sql is found through BENCH_PROCRASTINATE_SQL, the installed package, or a throwaway
venv at /tmp/bench-venv; without it those rows are skipped (said under the table) and the
seed's poll is still compared.
"""

from __future__ import annotations

import os
import statistics
from typing import Any

import psycopg

from harness import Bench, Result, pgbench, pgbench_intervals, race

JOBS = int(os.environ.get("BENCH_JOBS", "3000"))
WORKERS = (1, 4, 8)
DEPTH = int(os.environ.get("BENCH_DEPTH", "1000000"))
DEPTH_WORKERS = 4
DEPTH_ROUNDS = 5
SERVER_ROUNDS = 3  # the pgbench rows: alternating rounds, medians
SUSTAIN_SECONDS = 40  # the sustained run: 4 intervals of 10 s
SUSTAIN_JOBS = 200_000  # queued for it: more than 4 connections claim in 40 s
DEDUCT_CONNECTIONS = 16
DEDUCTIONS = int(os.environ.get("BENCH_DEDUCTIONS", "300"))
CLAIM = "SELECT id, attempt FROM scrapifie.claim_scrape_jobs(%s, 'default', %s)"
COMPLETE = "SELECT scrapifie.complete_scrape_job(%s, %s, %s)"
LOOP = "SELECT id, attempt FROM scrapifie.complete_and_claim_scrape_job(%s, %s, %s)"


# -- job queue ---------------------------------------------------------------------------

def _load_ours(conn: psycopg.Connection, org: Any, jobs: int = JOBS) -> None:
    conn.execute("DELETE FROM scrapifie.scrape_jobs WHERE status <> 'completed' OR url LIKE 'https://bench.test/%%'")
    conn.execute("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash, queue_name, priority, created_at)"
                 " SELECT %s, 'https://bench.test/' || g, '-', 'default', 1 + g %% 10,"
                 " now() - interval '1 hour' + g * interval '1 ms' FROM generate_series(1, %s) g", (org, jobs))
    conn.execute("VACUUM ANALYZE scrapifie.scrape_jobs")


def _two_calls(conn: psycopg.Connection, i: int, batch: int = 1) -> list[Any]:
    """claim_scrape_jobs, then complete_scrape_job for each job claimed."""
    conn.execute("SET ROLE scrapifie_worker")
    done: list[Any] = []
    while True:
        jobs = conn.execute(CLAIM, (f"w{i}", batch)).fetchall()
        if not jobs:
            return done
        for job, attempt in jobs:
            conn.execute(COMPLETE, (job, f"w{i}", attempt))
            done.append(job)


def _batch_of_ten(conn: psycopg.Connection, i: int) -> list[Any]:
    return _two_calls(conn, i, 10)


def _one_call(conn: psycopg.Connection, i: int) -> list[Any]:
    """complete_and_claim_scrape_job: each call completes the job held and claims the next."""
    conn.execute("SET ROLE scrapifie_worker")
    done: list[Any] = []
    job, attempt = None, None
    while True:
        got = conn.execute(LOOP, (job, f"w{i}", attempt)).fetchone()
        if got is None:
            return done
        job, attempt = got
        done.append(job)


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


def _load_procrastinate(conn: psycopg.Connection, jobs: int = JOBS) -> None:
    conn.execute("TRUNCATE procrastinate_jobs CASCADE")
    conn.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args)"
                 " SELECT 'default', 'scrape', 1 + g %% 10, jsonb_build_object('url', 'https://bench.test/' || g)"
                 " FROM generate_series(1, %s) g", (jobs,))
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


# pgbench scripts: the same loops with no Python client in them (the server's side only).
# complete_and_claim carries the held job from one transaction to the next in pgbench
# variables; 'none' stands for NULL on the first call. procrastinate's fetch is given no
# worker id here (its Python rows register one per connection first).
OURS_LOOP_SQL = ("SELECT id, attempt FROM scrapifie.complete_and_claim_scrape_job("
                 "nullif(:id, 'none')::uuid, 'w' || :client_id, nullif(:attempt, 'none')::integer) \\gset\n")
FIRST_CALL = {"id": "none", "attempt": "none"}  # OURS_LOOP_SQL's variables before a job is held
THEIRS_LOOP_SQL = ("SELECT id FROM procrastinate_fetch_job_v2(ARRAY['default'], NULL) \\gset\n"
                   "SELECT procrastinate_finish_job_v1(:id, 'succeeded', false);\n")


def _server_only(admin: psycopg.Connection, org: Any, url: str, theirs: psycopg.Connection, theirs_url: str,
                 n: int) -> tuple[float, float]:
    """Median jobs/s of pgbench on n connections over SERVER_ROUNDS rounds, ours and
    procrastinate's in turn (who goes first alternating), each job claimed once.

    Each of ours' transactions completes the job held and claims the next, so after n * per
    transactions, n * per jobs were claimed and n * (per - 1) completed; every claim writes
    one job.started event, so a job claimed twice would show two."""
    per = JOBS // n
    ours: list[float] = []
    t: list[float] = []
    for r in range(SERVER_ROUNDS):
        for side in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
            if side == "ours":
                _load_ours(admin, org, n * per + n)
                ours.append(pgbench(url, OURS_LOOP_SQL, n, per, role="scrapifie_worker",
                                    define=FIRST_CALL))
                started = admin.execute("SELECT count(*), count(DISTINCT job_id) FROM scrapifie.job_events"
                                        " WHERE event_type = 'job.started' AND organization_id = %s",
                                        (org,)).fetchone()
                completed = admin.execute("SELECT count(*) FROM scrapifie.scrape_jobs WHERE organization_id = %s"
                                          " AND status = 'completed' AND url LIKE 'https://bench.test/%%'",
                                          (org,)).fetchone()[0]
                assert started == (n * per, n * per) and completed == n * (per - 1), (started, completed)
            else:
                _load_procrastinate(theirs, n * per + n)
                t.append(pgbench(theirs_url, THEIRS_LOOP_SQL, n, per))
                done = theirs.execute("SELECT count(*), count(DISTINCT job_id) FROM procrastinate_events"
                                      " WHERE type = 'started'").fetchone()
                assert done == (n * per, n * per), done
    return statistics.median(ours), statistics.median(t)


def _exact(url: str, n: int, work: Any, jobs: int = JOBS) -> float:
    """Seconds for n workers to drain the queue; every job handed to exactly one worker."""
    elapsed, got = race(url, n, work)
    claimed = [j for w in got for j in w]
    assert len(claimed) == len(set(claimed)) == jobs, (len(claimed), len(set(claimed)))
    return elapsed


def _org(conn: psycopg.Connection, slug: str) -> Any:
    return conn.execute("INSERT INTO scrapifie.organizations (name, slug, billing_email) VALUES (%s, %s, %s)"
                        " RETURNING id", (slug, slug, f"b@{slug}.test")).fetchone()[0]


def queue(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_scrapifie_queue", systems=["scrapifie"])
    theirs_url = bench.procrastinate_db("bench_procrastinate",
                                        "job claim+finish vs procrastinate (the seed's poll is still compared)")
    results = []
    with psycopg.connect(url, autocommit=True) as admin:
        org = _org(admin, "bench")
        for n in WORKERS:
            label = f"{n} worker{'s' * (n > 1)}"
            _load_ours(admin, org)
            t_two = _exact(url, n, _two_calls)
            _load_ours(admin, org)
            t_one = _exact(url, n, _one_call)
            if theirs_url:
                with psycopg.connect(theirs_url, autocommit=True) as theirs:
                    _load_procrastinate(theirs)
                t_theirs = _exact(theirs_url, n, _procrastinate_worker)
                name = "procrastinate 3 fetch_job_v2"
                results.append(Result(f"job claim+finish, {label}: claim + complete (2 calls)", JOBS / t_two,
                                      JOBS / t_theirs, name, "jobs/s", ">= 1.2x"))
                results.append(Result(f"job claim+finish, {label}: complete_and_claim (1 call)", JOBS / t_one,
                                      JOBS / t_theirs, name, "jobs/s", ">= 1.2x"))
                if n == WORKERS[-1]:  # procrastinate fetches one job per call; ours can take a batch
                    _load_ours(admin, org)
                    t_batch = _exact(url, n, _batch_of_ten)
                    results.append(Result(f"job claim+finish, {label}, ours in batches of 10", JOBS / t_batch,
                                          JOBS / t_theirs, "procrastinate 3 fetch_job_v2 (one per call)", "jobs/s"))
                with psycopg.connect(theirs_url, autocommit=True) as theirs:
                    ours_tps, theirs_tps = _server_only(admin, org, url, theirs, theirs_url, n)
                results.append(Result(f"job claim+finish, {label}, server only (pgbench, no Python client):"
                                      f" complete_and_claim (median of {SERVER_ROUNDS} alternating rounds)",
                                      ours_tps, theirs_tps, name, "jobs/s"))
            _load_ours(admin, org)
            t_poll, got = race(url, n, _seed_poll_worker)
            polled = [j for w in got for j in w]
            results.append(Result(f"job claim+finish, {label}: complete_and_claim", JOBS / t_one, len(polled) / t_poll,
                                  "seed's two-statement poll", "jobs/s"))
            if n > 1:
                results.append(Result(f"jobs handed to two workers, {label}", 0, len(polled) - len(set(polled)),
                                      "seed's two-statement poll", "jobs"))
    return results


def _history(admin: psycopg.Connection, org: Any) -> None:
    """DEPTH finished jobs with their two events each, as the queue leaves them: loaded in bulk
    (triggers and foreign-key checks off for the load only; the rows are consistent by
    construction), vacuumed, analyzed and checkpointed before anything is timed."""
    admin.execute("SET session_replication_role = replica")
    admin.execute("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash, queue_name, status, attempts,"
                  " worker_id, created_at, started_at, completed_at, credits_estimated, credits_charged)"
                  " SELECT %s, 'https://old.test/' || g, encode(sha256(('https://old.test/' || g)::bytea), 'hex'),"
                  " 'default', 'completed', 1, 'w' || g %% 8, now() - interval '20 days' + g * interval '1 s',"
                  " now() - interval '20 days' + g * interval '1 s', now() - interval '20 days' + g * interval '1 s',"
                  " 1, 1 FROM generate_series(1, %s) g", (org, DEPTH))
    admin.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data, worker_id,"
                  " created_at) SELECT j.id, j.organization_id, e.kind, jsonb_build_object('attempt', 1),"
                  " j.worker_id, greatest(j.completed_at, date_trunc('month', now()))"
                  " FROM scrapifie.scrape_jobs j CROSS JOIN (VALUES ('job.started'), ('job.completed')) e (kind)"
                  " WHERE j.status = 'completed'")
    admin.execute("RESET session_replication_role")
    admin.execute("VACUUM ANALYZE scrapifie.scrape_jobs")
    admin.execute("VACUUM ANALYZE scrapifie.job_events")
    admin.execute("CHECKPOINT")  # the load's dirty pages written before the timed runs, not during


def depth(bench: Bench) -> list[Result]:
    """The claim loop over a queue of JOBS with DEPTH finished jobs (2 events each) behind it,
    vs the same loop on a database with no history: two databases, DEPTH_ROUNDS rounds, the
    order alternating each round; the medians are compared."""
    urls = [bench.fresh_db(f"bench_scrapifie_{kind}", systems=["scrapifie"]) for kind in ("shallow", "deep")]
    with psycopg.connect(urls[0], autocommit=True) as shallow, psycopg.connect(urls[1], autocommit=True) as deep:
        admins = [(shallow, _org(shallow, "depth")), (deep, _org(deep, "depth"))]
        _history(*admins[1])
        samples: list[list[float]] = [[], []]
        for r in range(DEPTH_ROUNDS):
            for i in (0, 1) if r % 2 == 0 else (1, 0):
                _load_ours(*admins[i])
                samples[i].append(_exact(urls[i], DEPTH_WORKERS, _one_call))
        sustained = _sustained(bench, urls[1], admins[1])
    t_empty, t_deep = (statistics.median(s) for s in samples)
    return [Result(f"claim loop, {DEPTH_WORKERS} workers, {DEPTH:,} finished jobs and {2 * DEPTH:,} events behind"
                   f" (median of {DEPTH_ROUNDS} alternating rounds)",
                   JOBS / t_deep, JOBS / t_empty, "the same queue with an empty history", "jobs/s", ">= 0.9x")
            ] + sustained


def _sustained(bench: Bench, url: str, admin: tuple[psycopg.Connection, Any]) -> list[Result]:
    """SUSTAIN_SECONDS of claims on DEPTH_WORKERS connections (pgbench) over the deep history,
    with autovacuum as configured: the last 10 s against the first. A busy queue leaves the
    index entries of the jobs it claimed behind until a vacuum, and each claim walks past
    them. procrastinate beside it, with the same number of finished jobs behind."""
    conn, org = admin
    _load_ours(conn, org, SUSTAIN_JOBS)
    conn.execute("CHECKPOINT")
    ours = pgbench_intervals(url, OURS_LOOP_SQL, DEPTH_WORKERS, SUSTAIN_SECONDS, 10, role="scrapifie_worker",
                             define=FIRST_CALL)
    label = (f"sustained claims, {DEPTH_WORKERS} connections (pgbench), {SUSTAIN_SECONDS} s over {DEPTH:,} finished"
             " jobs: the last 10 s vs the first 10 s")
    results = [Result(f"{label}, ours", ours[-1], ours[0], "our first 10 s", "jobs/s", ">= 0.9x (holds up)")]
    theirs_url = bench.procrastinate_db("bench_procrastinate_deep", "sustained claims, procrastinate")
    if theirs_url:
        with psycopg.connect(theirs_url, autocommit=True) as theirs:
            theirs.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, priority, status, args)"
                           " SELECT 'default', 'scrape', 1 + g %% 10, 'succeeded',"
                           " jsonb_build_object('url', 'https://old.test/' || g) FROM generate_series(1, %s) g", (DEPTH,))
            theirs.execute("INSERT INTO procrastinate_jobs (queue_name, task_name, priority, args)"
                           " SELECT 'default', 'scrape', 1 + g %% 10, jsonb_build_object('url', 'https://bench.test/' || g)"
                           " FROM generate_series(1, %s) g", (SUSTAIN_JOBS,))
            theirs.execute("VACUUM ANALYZE procrastinate_jobs")
            theirs.execute("CHECKPOINT")
        t = pgbench_intervals(theirs_url, THEIRS_LOOP_SQL, DEPTH_WORKERS, SUSTAIN_SECONDS, 10)
        results.append(Result(f"{label}, procrastinate 3", t[-1], t[0], "its first 10 s", "jobs/s", "(reference)"))
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
            conn.execute("SET ROLE scrapifie_app")
            conn.execute("SELECT set_config('app.organization_id', %s, false)", (str(org),))
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
    return queue(bench) + depth(bench) + credits(bench)
