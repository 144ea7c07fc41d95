"""The job queue: idempotent submit, claim with SKIP LOCKED, timeouts and retries."""

from __future__ import annotations

import time
import uuid

import psycopg

from pg import TestDB, concurrently, errors

CLAIM = "SELECT id, worker_id, attempts, status FROM scrapifie.claim_scrape_jobs(%s, %s, %s)"

# The claim's candidate query, as claim_scrape_jobs() runs it (EXPLAIN cannot look inside).
CANDIDATES = """
SELECT j.id FROM scrapifie.scrape_jobs AS j
WHERE j.status IN ('pending', 'queued') AND coalesce(j.queue_name, 'default') = 'default'
ORDER BY j.priority DESC, j.created_at ASC LIMIT 10 FOR UPDATE SKIP LOCKED
"""


def _jobs(db: TestDB, org: uuid.UUID, n: int, queue: str | None = "default", priority: int = 5) -> None:
    db.execute("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash, queue_name, priority, created_at)"
               " SELECT %s, 'https://q.test/' || g, '-', %s, %s, now() - interval '1 hour' + g * interval '1 ms'"
               " FROM generate_series(1, %s) g", (org, queue, priority, n))


def test_submit_is_idempotent_per_organization(db: TestDB, make) -> None:
    org, other = make.org(), make.org()
    submit = "SELECT job_id, created FROM scrapifie.submit_scrape_job(%s, %s, %s)"
    first = db.query(submit, (org, "https://a.test/", "key-1"))[0]
    again = db.query(submit, (org, "https://b.test/", "key-1"))[0]
    assert first[1] is True and again == (first[0], False)
    assert db.query(submit, (other, "https://a.test/", "key-1"))[0][1] is True  # another organization
    no_key = [db.query(submit, (org, "https://a.test/", None))[0] for _ in range(2)]
    assert no_key[0][0] != no_key[1][0] and all(created for _, created in no_key)
    assert db.scalar("SELECT count(*) FROM scrapifie.scrape_jobs WHERE organization_id = %s", (org,)) == 3
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events WHERE event_type = 'job.created'") == 4
    url, estimated = db.query("SELECT url, credits_estimated FROM scrapifie.scrape_jobs WHERE id = %s",
                              (first[0],))[0]
    assert (url, estimated) == ("https://a.test/", 1)


def test_submit_computes_credits_from_the_options(db: TestDB, make) -> None:
    org = make.org()
    job = db.scalar("SELECT job_id FROM scrapifie.submit_scrape_job(%s, 'https://a.test/', p_engine => 'browser',"
                    " p_proxy_tier => 'residential', p_options => '{\"screenshot\": true}')", (org,))
    estimated, options = db.query("SELECT credits_estimated, options FROM scrapifie.scrape_jobs WHERE id = %s",
                                  (job,))[0]
    assert estimated == 5 + 3 + 2
    assert options["screenshot"] is True and options["timeout"] == 30000


def test_concurrent_double_submits_make_one_job(db: TestDB, make) -> None:
    org = make.org()

    def work(conn: psycopg.Connection, i: int) -> list[tuple]:
        with conn.transaction():
            conn.execute("SET LOCAL ROLE scrapifie_app")
            conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(org),))
            out = [conn.execute("SELECT job_id, created FROM scrapifie.submit_scrape_job(%s, %s, %s)",
                                (org, f"https://x.test/{i}", f"k{k}")).fetchone() for k in range(3)]
            time.sleep(0.02)  # hold the keys a moment: the others must wait, then get these jobs
            return out

    results = concurrently(8, db.url, work)
    assert errors(results) == []
    for k in range(3):
        ids = {worker[k][0] for worker in results}
        assert len(ids) == 1
        assert sum(worker[k][1] for worker in results) == 1  # created once, returned to all
    assert db.scalar("SELECT count(*) FROM scrapifie.scrape_jobs") == 3


def test_claim_order_stamps_and_events(db: TestDB, make) -> None:
    org = make.org()
    low = make.job(org, priority=2, created_at="2025-01-01", queue_name="default")
    old = make.job(org, priority=8, created_at="2025-01-01", queue_name="default")
    new = make.job(org, priority=8, created_at="2025-01-02", options='{"timeout": 5000}')  # NULL queue: default
    queued = make.job(org, priority=9, status="queued", queue_name="default")
    make.job(org, priority=10, queue_name="other")
    make.job(org, priority=10, status="running", queue_name="default")
    claimed = db.query(CLAIM, ("w1", "default", 3))
    assert [r[0] for r in claimed] == [queued, old, new]
    assert all(r[1:] == ("w1", 1, "running") for r in claimed)
    started, timeout = db.query("SELECT started_at, timeout_at - started_at FROM scrapifie.scrape_jobs"
                                " WHERE id = %s", (new,))[0]
    assert started is not None and timeout.total_seconds() == 5
    events = db.query("SELECT job_id, worker_id, event_data->>'attempt' FROM scrapifie.job_events"
                      " WHERE event_type = 'job.started' ORDER BY job_id")
    assert sorted(events) == sorted((j, "w1", "1") for j in (queued, old, new))
    assert [r[0] for r in db.query(CLAIM, ("w2", "default", 10))] == [low]
    assert db.query(CLAIM, ("w2", "default", 10)) == []


def test_eight_workers_never_share_a_job(db: TestDB, make) -> None:
    orgs = [make.org(), make.org()]
    for org in orgs:
        _jobs(db, org, 150)

    def work(conn: psycopg.Connection, i: int) -> list[uuid.UUID]:
        mine: list[uuid.UUID] = []
        while True:
            batch = [r[0] for r in conn.execute(CLAIM, (f"w{i}", "default", 1 + i % 4)).fetchall()]
            if not batch:
                return mine
            mine += batch

    results = concurrently(8, db.url, work)
    assert errors(results) == []
    claimed = [job for worker in results for job in worker]
    assert len(claimed) == len(set(claimed)) == 300
    assert db.query("SELECT status, count(*), max(attempts) FROM scrapifie.scrape_jobs GROUP BY 1") == [
        ("running", 300, 1)]
    assert db.scalar("SELECT count(DISTINCT (job_id, worker_id)) FROM scrapifie.job_events"
                     " WHERE event_type = 'job.started'") == 300
    assert sum(1 for worker in results if worker) > 1  # the work was actually shared


def test_claim_reads_the_queue_index_in_order(db: TestDB, make) -> None:
    org = make.org()
    _jobs(db, org, 4000, queue="default")
    _jobs(db, org, 4000, queue="bulk", priority=9)
    db.execute("UPDATE scrapifie.scrape_jobs SET status = 'completed' WHERE url LIKE '%%0'")
    db.execute("ANALYZE scrapifie.scrape_jobs")
    plan = "\n".join(r[0] for r in db.query("EXPLAIN " + CANDIDATES))
    assert "Index Scan using idx_jobs_queue" in plan and "Sort" not in plan, plan
    # and the function itself: the index's scan counter moves
    with psycopg.connect(db.url, autocommit=True) as conn:
        def scans() -> int:
            conn.execute("SELECT pg_stat_clear_snapshot()")
            return conn.execute("SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'idx_jobs_queue'"
                                ).fetchone()[0]
        before = scans()
        conn.execute(CLAIM, ("w", "default", 5))
        conn.execute("SELECT pg_stat_force_next_flush()")
        conn.execute("SELECT 1")
        assert scans() > before


def test_app_role_claims_across_organizations_without_seeing_them(db: TestDB, make) -> None:
    a, b = make.org(), make.org()
    ja, jb = make.job(a), make.job(b)
    with db.as_role("scrapifie_app") as conn:  # a worker: no organization set
        assert conn.execute("SELECT count(*) FROM scrapifie.scrape_jobs").fetchone()[0] == 0
        got = {r[0] for r in conn.execute(CLAIM, ("w", "default", 10)).fetchall()}
        assert got == {ja, jb}


def test_expire_timed_out_jobs_retries_then_times_out(db: TestDB, make) -> None:
    org = make.org()
    retry = make.job(org, max_attempts=3)
    last = make.job(org, max_attempts=1)
    claimed = {r[0] for r in db.query(CLAIM, ("w9", "default", 10))}
    assert claimed == {retry, last}
    still = make.job(org, status="running", timeout_at="2999-01-01")
    db.execute("UPDATE scrapifie.scrape_jobs SET timeout_at = now() - interval '1 second' WHERE id = ANY(%s)",
               ([retry, last],))
    assert sorted(db.query("SELECT job_id, outcome FROM scrapifie.expire_timed_out_jobs()")) == sorted(
        [(retry, "retry"), (last, "timeout")])
    rows = {r[0]: r[1:] for r in db.query(
        "SELECT id, status, worker_id, timeout_at IS NULL, completed_at IS NOT NULL, error_code"
        " FROM scrapifie.scrape_jobs")}
    assert rows[retry] == ("queued", None, True, False, "timeout")
    assert rows[last] == ("timeout", "w9", True, True, "timeout")
    assert rows[still][0] == "running"
    events = db.query("SELECT job_id, event_type, worker_id FROM scrapifie.job_events"
                      " WHERE event_type IN ('job.retry_scheduled', 'job.timeout')")
    assert sorted(events) == sorted([(retry, "job.retry_scheduled", "w9"), (last, "job.timeout", "w9")])
    assert db.query("SELECT * FROM scrapifie.expire_timed_out_jobs()") == []  # twice: nothing left
    # the retry is claimable again and counts its second attempt
    assert db.query(CLAIM, ("w10", "default", 10)) == [(retry, "w10", 2, "running")]


def test_get_queue_stats(db: TestDB, make) -> None:
    org = make.org()
    make.job(org)  # NULL queue: default
    make.job(org, queue_name="default", status="queued")
    make.job(org, queue_name="default", status="running", created_at="2025-01-01 00:00:00+00",
             started_at="2025-01-01 00:00:02+00")
    make.job(org, queue_name="default", status="running", created_at="2025-01-01 00:00:00+00",
             queued_at="2025-01-01 00:00:03+00", started_at="2025-01-01 00:00:07+00")
    make.job(org, queue_name="bulk", status="pending")
    make.job(org, queue_name="bulk", status="completed")
    assert db.query("SELECT * FROM scrapifie.get_queue_stats()") == [
        ("bulk", 1, 0, None), ("default", 2, 2, 3000)]
