"""The job queue: idempotent submit, claim with SKIP LOCKED, completion fenced by the
attempt, timeouts and retries."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from psycopg import errors as pgerr

from pg import TestDB, concurrently, errors

from scrapifie.support import APP, WORKER, acting

CLAIM = "SELECT id, attempt FROM scrapifie.claim_scrape_jobs(%s, %s, %s)"
COMPLETE = "SELECT scrapifie.complete_scrape_job(%s, %s, %s)"

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


def _state(db: TestDB, job: uuid.UUID) -> tuple:
    return db.query("SELECT status, worker_id, attempts FROM scrapifie.scrape_jobs WHERE id = %s", (job,))[0]


def test_submit_is_idempotent_per_organization(db: TestDB, make) -> None:
    org, other = make.org(), make.org()
    submit = "SELECT job_id, created FROM scrapifie.submit_scrape_job(%s, %s, %s)"
    with db.as_role(APP, acting(org)) as conn:
        first = conn.execute(submit, (org, "https://a.test/", "key-1")).fetchone()
        again = conn.execute(submit, (org, "https://b.test/", "key-1")).fetchone()
        assert first[1] is True and again == (first[0], False)
        no_key = [conn.execute(submit, (org, "https://a.test/", None)).fetchone() for _ in range(2)]
        assert no_key[0][0] != no_key[1][0] and all(created for _, created in no_key)
        conn.commit()
    with db.as_role(APP, acting(other)) as conn:  # another organization, the same key
        assert conn.execute(submit, (other, "https://a.test/", "key-1")).fetchone()[1] is True
        conn.commit()
    assert db.scalar("SELECT count(*) FROM scrapifie.scrape_jobs WHERE organization_id = %s", (org,)) == 3
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events WHERE event_type = 'job.created'") == 4
    url, estimated, url_hash = db.query("SELECT url, credits_estimated, url_hash FROM scrapifie.scrape_jobs"
                                        " WHERE id = %s", (first[0],))[0]
    assert (url, estimated, len(url_hash)) == ("https://a.test/", 1, 64)


def test_submit_computes_credits_from_the_options(db: TestDB, make) -> None:
    org = make.org()
    job = make.submit(org, p_engine="browser", p_proxy_tier="residential", p_options='{"screenshot": true}')
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
    with db.as_role(WORKER) as conn:
        claimed = conn.execute(CLAIM, ("w1", "default", 3)).fetchall()
        conn.commit()
    assert claimed == [(queued, 1), (old, 1), (new, 1)]
    assert all(_state(db, j) == ("running", "w1", 1) for j in (queued, old, new))
    started, timeout = db.query("SELECT started_at, timeout_at - started_at FROM scrapifie.scrape_jobs"
                                " WHERE id = %s", (new,))[0]
    assert started is not None and timeout.total_seconds() == 5
    events = db.query("SELECT job_id, worker_id, event_data->>'attempt' FROM scrapifie.job_events"
                      " WHERE event_type = 'job.started' ORDER BY job_id")
    assert sorted(events) == sorted((j, "w1", "1") for j in (queued, old, new))
    assert [r[0] for r in db.query(CLAIM, ("w2", "default", 10))] == [low]
    assert db.query(CLAIM, ("w2", "default", 10)) == []


def test_claim_returns_what_the_worker_needs_and_no_secret(db: TestDB, make) -> None:
    org = make.org()
    job = make.job(org, url="https://shop.test/p?id=1", method="POST", body="q=1",
                   headers='{"Cookie": "session=abc"}', webhook_url="https://hook.test/", webhook_secret="s3cr3t",
                   proxy_country="de", user_agent="UA/1")
    with db.as_role(WORKER) as conn:
        cur = conn.execute("SELECT * FROM scrapifie.claim_scrape_jobs('w', 'default', 1)")
        row = dict(zip([c.name for c in cur.description], cur.fetchone(), strict=True))
    assert row["id"] == job and row["organization_id"] == org and row["attempt"] == 1
    assert (row["url"], row["method"], row["body"], row["headers"]) == (
        "https://shop.test/p?id=1", "POST", "q=1", {"Cookie": "session=abc"})
    assert (row["proxy_country"], row["user_agent"], row["webhook_url"]) == ("de", "UA/1", "https://hook.test/")
    assert not {"webhook_secret", "metadata", "credits_estimated", "client_reference"} & set(row)
    assert "s3cr3t" not in repr(row)


def test_complete_is_fenced_by_worker_and_attempt(db: TestDB, make) -> None:
    org = make.org()
    job = make.job(org, max_attempts=3)
    (_, attempt), = db.query(CLAIM, ("w1", "default", 1))
    for wrong in (("w2", attempt), ("w1", attempt + 1)):
        with pytest.raises(pgerr.NoDataFound):
            db.execute(COMPLETE, (job, *wrong))
    # the lease runs out: requeued, claimed again by w2; w1's attempt is stale now
    db.execute("UPDATE scrapifie.scrape_jobs SET timeout_at = now() - interval '1 second' WHERE id = %s", (job,))
    assert db.query("SELECT * FROM scrapifie.expire_timed_out_jobs()") == [(job, "retry")]
    assert db.query(CLAIM, ("w2", "default", 1)) == [(job, 2)]
    with pytest.raises(pgerr.NoDataFound):
        db.execute(COMPLETE, (job, "w1", attempt))
    assert _state(db, job) == ("running", "w2", 2)
    assert db.scalar(COMPLETE, (job, "w2", 2)) is None
    status, charged, completed = db.query("SELECT status, credits_charged, completed_at IS NOT NULL"
                                          " FROM scrapifie.scrape_jobs WHERE id = %s", (job,))[0]
    assert (status, charged, completed) == ("completed", 1, True)
    with pytest.raises(pgerr.NoDataFound):  # completing twice
        db.execute(COMPLETE, (job, "w2", 2))
    assert db.query("SELECT worker_id, event_data->>'attempt', duration_ms >= 0 FROM scrapifie.job_events"
                    " WHERE event_type = 'job.completed'") == [("w2", "2", True)]


def test_complete_stores_the_result(db: TestDB, make) -> None:
    org = make.org(data_retention_days=3)
    job = make.job(org)
    (_, attempt), = db.query(CLAIM, ("w", "default", 1))
    result = db.scalar("SELECT scrapifie.complete_scrape_job(%s, 'w', %s, %s)",
                       (job, attempt, '{"status_code": 200, "headers": {"Set-Cookie": "a=b"}, "content_inline": "<p>",'
                                      ' "total_time_ms": 120}'))
    row = db.query("SELECT job_id, organization_id, status_code, headers, content_inline, total_time_ms,"
                   " expires_at - created_at FROM scrapifie.job_results WHERE id = %s", (result,))[0]
    assert row[:6] == (job, org, 200, {"Set-Cookie": "a=b"}, "<p>", 120) and row[6].days == 3
    assert db.scalar("SELECT result_id FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == result


@pytest.mark.parametrize(("result", "error"), [
    ('[1]', pgerr.InvalidParameterValue),
    ('{"job_id": "00000000-0000-0000-0000-000000000000"}', pgerr.InvalidParameterValue),
    ('{"organization_id": "00000000-0000-0000-0000-000000000000"}', pgerr.InvalidParameterValue),
    ('{"no_such_column": 1}', pgerr.InvalidParameterValue),
    ('{"status_code": "two hundred"}', pgerr.InvalidTextRepresentation),
])
def test_complete_refuses_a_bad_result(db: TestDB, make, result: str, error: type[Exception]) -> None:
    org = make.org()
    job = make.job(org)
    (_, attempt), = db.query(CLAIM, ("w", "default", 1))
    with pytest.raises(error):
        db.execute("SELECT scrapifie.complete_scrape_job(%s, 'w', %s, %s)", (job, attempt, result))
    assert _state(db, job) == ("running", "w", 1)
    assert db.scalar("SELECT count(*) FROM scrapifie.job_results") == 0


def test_fail_retries_then_fails(db: TestDB, make) -> None:
    org = make.org()
    job = make.job(org, max_attempts=2)
    fail = "SELECT scrapifie.fail_scrape_job(%s, %s, %s, 'http_503', 'upstream down', '{\"status\": 503}')"
    (_, a1), = db.query(CLAIM, ("w", "default", 1))
    assert db.scalar(fail, (job, "w", a1)) == "retry"
    assert _state(db, job) == ("queued", None, 1)
    (_, a2), = db.query(CLAIM, ("w", "default", 1))
    assert db.scalar(fail, (job, "w", a2)) == "failed"
    assert db.query("SELECT status, error_code, error_details FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == [
        ("failed", "http_503", {"status": 503})]
    with pytest.raises(pgerr.NoDataFound):
        db.execute(fail, (job, "w", a2))
    assert [r[0] for r in db.query("SELECT event_type FROM scrapifie.job_events ORDER BY id")] == [
        "job.started", "job.retry_scheduled", "job.started", "job.failed"]
    # a fatal error does not retry
    other = make.job(org, max_attempts=5)
    (_, a), = db.query(CLAIM, ("w", "default", 1))
    assert db.scalar("SELECT scrapifie.fail_scrape_job(%s, 'w', %s, 'blocked', p_retry => false)", (other, a)) == \
        "failed"


def test_eight_workers_never_share_a_job(db: TestDB, make) -> None:
    orgs = [make.org(), make.org()]
    for org in orgs:
        _jobs(db, org, 150)

    def work(conn: psycopg.Connection, i: int) -> list[uuid.UUID]:
        conn.execute("SET ROLE scrapifie_worker")
        mine: list[uuid.UUID] = []
        while True:
            batch = conn.execute(CLAIM, (f"w{i}", "default", 1 + i % 4)).fetchall()
            if not batch:
                return mine
            for job, attempt in batch:
                conn.execute(COMPLETE, (job, f"w{i}", attempt))
            mine += [job for job, _ in batch]

    results = concurrently(8, db.url, work)
    assert errors(results) == []
    claimed = [job for worker in results for job in worker]
    assert len(claimed) == len(set(claimed)) == 300
    assert db.query("SELECT status, count(*), max(attempts) FROM scrapifie.scrape_jobs GROUP BY 1") == [
        ("completed", 300, 1)]
    for kind in ("job.started", "job.completed"):
        assert db.scalar("SELECT count(DISTINCT (job_id, worker_id)) FROM scrapifie.job_events"
                         " WHERE event_type = %s", (kind,)) == 300
    assert db.scalar("SELECT count(*) FROM scrapifie.scrape_jobs j JOIN scrapifie.job_events e ON e.job_id = j.id"
                     " AND e.event_type = 'job.completed' WHERE e.worker_id IS DISTINCT FROM j.worker_id") == 0
    assert sum(1 for worker in results if worker) > 1  # the work was actually shared


def test_a_requeued_job_is_completed_once_under_races(db: TestDB, make) -> None:
    """Workers race the expiry: whatever interleaving, each job ends completed exactly once,
    by the worker holding its last attempt."""
    org = make.org()
    _jobs(db, org, 60)
    db.execute("UPDATE scrapifie.scrape_jobs SET max_attempts = 10")

    def work(conn: psycopg.Connection, i: int) -> list[tuple]:
        done, lost = [], 0
        if i == 0:  # the expirer: times out whatever is running, many times
            for _ in range(40):
                conn.execute("UPDATE scrapifie.scrape_jobs SET timeout_at = now() - interval '1 second'"
                             " WHERE status = 'running'")
                conn.execute("SELECT scrapifie.expire_timed_out_jobs()")
            return []
        conn.execute("SET ROLE scrapifie_worker")
        while True:
            got = conn.execute(CLAIM, (f"w{i}", "default", 1)).fetchall()
            if not got:
                if lost > 200:
                    return done
                time.sleep(0.005)
                lost += 1
                continue
            job, attempt = got[0]
            time.sleep(0.001)
            try:
                conn.execute(COMPLETE, (job, f"w{i}", attempt))
                done.append((job, f"w{i}", attempt))
            except pgerr.NoDataFound:
                lost += 1

    results = concurrently(5, db.url, work, timeout=120)
    assert errors(results) == []
    done = [d for worker in results for d in worker]
    assert sorted(j for j, _, _ in done) == sorted({j for j, _, _ in done})  # never completed twice
    rows = {r[0]: r[1:] for r in db.query("SELECT id, status, worker_id, attempts FROM scrapifie.scrape_jobs")}
    assert {r[0] for r in rows.values()} <= {"completed", "queued", "timeout"}
    for job, worker, attempt in done:
        assert rows[job] == ("completed", worker, attempt)
    assert len(done) == sum(1 for r in rows.values() if r[0] == "completed")


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


def test_expire_timed_out_jobs_retries_then_times_out(db: TestDB, make) -> None:
    org = make.org()
    retry = make.job(org, max_attempts=3)
    last = make.job(org, max_attempts=1)
    with db.as_role(WORKER) as conn:
        claimed = {r[0] for r in conn.execute(CLAIM, ("w9", "default", 10)).fetchall()}
        conn.commit()
    assert claimed == {retry, last}
    still = make.job(org, status="running", timeout_at="2999-01-01")
    db.execute("UPDATE scrapifie.scrape_jobs SET timeout_at = now() - interval '1 second' WHERE id = ANY(%s)",
               ([retry, last],))
    with db.as_role(WORKER) as conn:
        assert sorted(conn.execute("SELECT job_id, outcome FROM scrapifie.expire_timed_out_jobs()").fetchall()) == \
            sorted([(retry, "retry"), (last, "timeout")])
        conn.commit()
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
    assert db.query(CLAIM, ("w10", "default", 10)) == [(retry, 2)]


def test_cancel_stops_a_job_its_worker_holds(db: TestDB, make) -> None:
    org = make.org()
    pending, running, done = make.job(org), make.job(org, priority=9), make.job(org, status="completed")
    (_, attempt), = db.query(CLAIM, ("w", "default", 1))
    with db.as_role(APP, acting(org)) as conn:
        cancel = "SELECT scrapifie.cancel_scrape_job(%s)"
        assert [conn.execute(cancel, (j,)).fetchone()[0] for j in (pending, running, done)] == [True, True, False]
        conn.commit()
    assert [_state(db, j)[0] for j in (pending, running, done)] == ["canceled", "canceled", "completed"]
    with pytest.raises(pgerr.NoDataFound):
        db.execute(COMPLETE, (running, "w", attempt))
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events WHERE event_type = 'job.canceled'") == 2


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
