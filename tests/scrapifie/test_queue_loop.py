"""A worker's loop in one round trip: complete_and_claim_scrape_job completes the job it
holds and claims the next one, fenced like complete_scrape_job, never sharing a job."""

from __future__ import annotations

import time
import uuid

import psycopg
import pytest
from psycopg import errors as pgerr

from pg import TestDB, concurrently, errors
from scrapifie.support import WORKER

LOOP = "SELECT id, attempt FROM scrapifie.complete_and_claim_scrape_job(%s, %s, %s)"


def _jobs(db: TestDB, org: uuid.UUID, n: int) -> None:
    db.execute("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash, queue_name, priority, created_at)"
               " SELECT %s, 'https://q.test/' || g, '-', 'default', 1 + g %% 10, now() + g * interval '1 ms'"
               " FROM generate_series(1, %s) g", (org, n))


def test_the_loop_completes_then_claims(db: TestDB, make) -> None:
    org = make.org()
    first = make.job(org, priority=9)
    second = make.job(org, priority=1)
    with db.as_role(WORKER) as conn:
        assert conn.execute(LOOP, (None, "w", None)).fetchall() == [(first, 1)]
        assert conn.execute(LOOP, (first, "w", 1)).fetchall() == [(second, 1)]
        assert conn.execute(LOOP, (second, "w", 1)).fetchall() == []  # done, and the queue is empty
        conn.commit()
    rows = db.query("SELECT id, status, worker_id, attempts, credits_charged, timeout_at FROM scrapifie.scrape_jobs")
    assert sorted(r[:5] for r in rows) == sorted([(first, "completed", "w", 1, 1), (second, "completed", "w", 1, 1)])
    assert all(r[5] is None for r in rows)
    events = db.query("SELECT job_id, event_type, worker_id, event_data->>'attempt' FROM scrapifie.job_events")
    assert sorted(events) == sorted([(first, "job.started", "w", "1"), (first, "job.completed", "w", "1"),
                                     (second, "job.started", "w", "1"), (second, "job.completed", "w", "1")])


def test_a_lost_job_is_neither_completed_nor_followed_by_a_claim(db: TestDB, make) -> None:
    org = make.org()
    held = make.job(org, priority=9, max_attempts=3)
    waiting = make.job(org, priority=1)
    assert db.query(LOOP, (None, "w1", None)) == [(held, 1)]
    db.execute("UPDATE scrapifie.scrape_jobs SET timeout_at = now() - interval '1 second' WHERE id = %s", (held,))
    db.query("SELECT * FROM scrapifie.expire_timed_out_jobs()")
    assert db.query(LOOP, (None, "w2", None)) == [(held, 2)]  # requeued, and taken by w2
    for stale in ((held, "w1", 1), (held, "w2", 1), (uuid.uuid4(), "w2", 2)):
        with pytest.raises(pgerr.NoDataFound):
            db.query(LOOP, stale)
    # nothing moved: w2 still holds attempt 2, the other job still waits
    assert db.query("SELECT id, status, worker_id, attempts FROM scrapifie.scrape_jobs ORDER BY priority DESC") == [
        (held, "running", "w2", 2), (waiting, "pending", None, 0)]
    with pytest.raises(pgerr.NullValueNotAllowed):
        db.query(LOOP, (held, "w2", None))


def test_eight_looping_workers_never_share_a_job(db: TestDB, make) -> None:
    org = make.org()
    _jobs(db, org, 400)

    def work(conn: psycopg.Connection, i: int) -> list[uuid.UUID]:
        conn.execute("SET ROLE scrapifie_worker")
        mine: list[uuid.UUID] = []
        job, attempt = None, None
        while True:
            got = conn.execute(LOOP, (job, f"w{i}", attempt)).fetchall()
            if not got:
                return mine
            (job, attempt), = got
            mine.append(job)

    results = concurrently(8, db.url, work)
    assert errors(results) == []
    claimed = [job for worker in results for job in worker]
    assert len(claimed) == len(set(claimed)) == 400
    assert db.query("SELECT status, count(*), max(attempts) FROM scrapifie.scrape_jobs GROUP BY 1") == [
        ("completed", 400, 1)]
    assert db.query("SELECT event_type, count(*), count(DISTINCT job_id) FROM scrapifie.job_events GROUP BY 1"
                    " ORDER BY 1") == [("job.completed", 400, 400), ("job.started", 400, 400)]
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events e JOIN scrapifie.scrape_jobs j ON j.id = e.job_id"
                     " WHERE e.worker_id IS DISTINCT FROM j.worker_id") == 0
    assert sum(1 for worker in results if worker) > 1


def test_the_loop_races_the_expirer_exactly(db: TestDB, make) -> None:
    """Whatever the interleaving, a job is completed once, by the worker of its last attempt."""
    org = make.org()
    _jobs(db, org, 60)
    db.execute("UPDATE scrapifie.scrape_jobs SET max_attempts = 10")

    def work(conn: psycopg.Connection, i: int) -> list[tuple]:
        if i == 0:
            for _ in range(40):
                conn.execute("UPDATE scrapifie.scrape_jobs SET timeout_at = now() - interval '1 second'"
                             " WHERE status = 'running'")
                conn.execute("SELECT scrapifie.expire_timed_out_jobs()")
            return []
        conn.execute("SET ROLE scrapifie_worker")
        done, held, idle = [], (None, None), 0
        while idle < 200:
            time.sleep(0.001)
            try:
                got = conn.execute(LOOP, (held[0], f"w{i}", held[1])).fetchall()
                if held[0] is not None:
                    done.append((held[0], f"w{i}", held[1]))
            except pgerr.NoDataFound:
                got = conn.execute(LOOP, (None, f"w{i}", None)).fetchall()  # lost it: start again
            held = got[0] if got else (None, None)
            idle = 0 if got else idle + 1
        return done

    results = concurrently(5, db.url, work, timeout=120)
    assert errors(results) == []
    done = [d for worker in results for d in worker]
    assert len({j for j, _, _ in done}) == len(done)
    rows = {r[0]: r[1:] for r in db.query("SELECT id, status, worker_id, attempts FROM scrapifie.scrape_jobs")}
    for job, worker, attempt in done:
        assert rows[job] == ("completed", worker, attempt)
    assert len(done) == sum(1 for r in rows.values() if r[0] == "completed")
