"""Triggers, statistics and cleanup on hand-built data."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
from psycopg import errors

from pg import TestDB

UTC = timezone.utc


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def test_url_hash_on_insert_and_url_change_only(db: TestDB, make) -> None:
    org = make.org()
    url = "https://example.test/päge?q=1"
    job = make.job(org, url=url)
    assert db.scalar("SELECT url_hash FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == _sha(url)
    db.execute("UPDATE scrapifie.scrape_jobs SET url = 'https://other.test/' WHERE id = %s", (job,))
    assert db.scalar("SELECT url_hash FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == _sha("https://other.test/")
    # a forged hash is overwritten on insert; other updates leave the hash alone
    db.execute("UPDATE scrapifie.scrape_jobs SET priority = 7 WHERE id = %s", (job,))
    assert db.scalar("SELECT url_hash FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == _sha("https://other.test/")
    assert db.scalar("SELECT scrapifie.calculate_url_hash('abc')") == _sha("abc")
    with pytest.raises(errors.NullValueNotAllowed):
        db.scalar("SELECT scrapifie.calculate_url_hash(NULL)")


def test_result_expiry_follows_the_organizations_retention(db: TestDB, make) -> None:
    short, default = make.org(data_retention_days=1), make.org()
    created = datetime(2025, 3, 1, 12, tzinfo=UTC)
    r1 = make.result(make.job(short), short, created_at=created, expires_at=created + timedelta(days=365))
    r2 = make.result(make.job(default), default, created_at=created)
    expiry = dict(db.query("SELECT id, expires_at FROM scrapifie.job_results"))
    assert expiry[r1] == created + timedelta(days=1)  # a caller cannot extend retention
    assert expiry[r2] == created + timedelta(days=7)


def test_updated_at_moves_on_update(db: TestDB, make) -> None:
    org = make.org()
    rows = {
        "organizations": org,
        "users": make.user(org),
        "api_keys": make.insert("api_keys", organization_id=org, key_hash="b" * 64, name="k"),
        "webhooks": make.insert("webhooks", organization_id=org, name="w", url="https://h.test", secret="s"),
        "subscriptions": make.subscription(org, 1),
        "usage_records": make.insert("usage_records", organization_id=org, period_start="2025-01-01",
                                     period_end="2025-01-02"),
        "invoices": make.insert("invoices", organization_id=org, invoice_number="X-1", subtotal_cents=1,
                                total_cents=1, amount_due_cents=1, period_start="2025-01-01", period_end="2025-02-01"),
        "proxy_providers": make.insert("proxy_providers", name="p", display_name="P", credentials="{}"),
        "domain_intelligence": make.insert("domain_intelligence", domain="d.test"),
    }
    fresh = {}
    for table, row in rows.items():
        db.execute(f"UPDATE scrapifie.{table} SET updated_at = '2000-01-01' WHERE id = %s", (row,))
        fresh[table] = db.scalar(f"SELECT updated_at > now() - interval '1 minute' FROM scrapifie.{table}"
                                 " WHERE id = %s", (row,))
    assert fresh == {table: True for table in rows}


def test_get_usage_summary(db: TestDB, make) -> None:
    org, other = make.org(), make.org()
    t0 = datetime(2025, 5, 10, tzinfo=UTC)

    def job(status: str, credits: int, at: datetime, ms: int | None = None) -> None:
        cols = {"status": status, "credits_charged": credits, "created_at": at}
        if ms is not None:
            cols |= {"started_at": at, "completed_at": at + timedelta(milliseconds=ms)}
        make.job(org, **cols)

    job("completed", 5, t0, 100)
    job("completed", 3, t0 + timedelta(hours=1), 300)
    job("failed", 1, t0 + timedelta(hours=2), 200)
    job("pending", 0, t0 + timedelta(hours=3))
    job("completed", 9, t0 + timedelta(days=2), 50)  # after the window
    make.job(other, status="completed", credits_charged=100, created_at=t0)
    summary = db.query("SELECT * FROM scrapifie.get_usage_summary(%s, %s, %s)", (org, t0, t0 + timedelta(days=1)))
    assert summary == [(4, 2, 1, 9, Decimal(200), Decimal(50))]
    assert db.query("SELECT * FROM scrapifie.get_usage_summary(%s, %s, %s)", (org, t0, t0)) == [
        (0, 0, 0, 0, None, None)]
    with db.as_role("scrapifie_app", {"app.organization_id": str(other)}) as conn:
        # runs as the caller: another organization's jobs are not counted
        got = conn.execute("SELECT total_requests FROM scrapifie.get_usage_summary(%s, %s, %s)",
                           (org, t0, t0 + timedelta(days=1))).fetchone()
        assert got == (0,)


def test_cleanup_expired_results(db: TestDB, make) -> None:
    org = make.org()
    expired_job, fresh_job = make.job(org), make.job(org)
    gone = make.result(expired_job, org)
    kept = make.result(fresh_job, org)
    db.execute("UPDATE scrapifie.scrape_jobs SET result_id = %s WHERE id = %s", (gone, expired_job))
    db.execute("UPDATE scrapifie.scrape_jobs SET result_id = %s WHERE id = %s", (kept, fresh_job))
    db.execute("UPDATE scrapifie.job_results SET expires_at = now() - interval '1 minute' WHERE id = %s", (gone,))
    assert db.scalar("SELECT scrapifie.cleanup_expired_results()") == 1
    assert db.scalar("SELECT scrapifie.cleanup_expired_results()") == 0  # twice: nothing more
    assert [r[0] for r in db.query("SELECT id FROM scrapifie.job_results")] == [kept]
    assert dict(db.query("SELECT id, result_id FROM scrapifie.scrape_jobs")) == {expired_job: None, fresh_job: kept}
    events = db.query("SELECT job_id, organization_id, event_data->>'result_id' FROM scrapifie.job_events"
                      " WHERE event_type = 'job.result_expired'")
    assert events == [(expired_job, org, str(gone))]


def test_cleanup_old_jobs(db: TestDB, make) -> None:
    org = make.org()
    old = "now() - interval '100 days'"
    doomed = {}
    for status in ("completed", "failed", "canceled", "timeout"):
        doomed[status] = make.job(org, status=status)
    kept_running = make.job(org, status="running")
    kept_recent = make.job(org, status="completed")
    retry = make.job(org, status="pending", retry_of_job_id=doomed["failed"])
    make.result(doomed["completed"], org)
    db.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type) VALUES (%s, %s, 'job.completed')",
               (doomed["completed"], org))
    db.execute(f"UPDATE scrapifie.scrape_jobs SET created_at = {old} WHERE id <> %s", (kept_recent,))
    db.execute("UPDATE scrapifie.scrape_jobs SET created_at = now() - interval '10 days' WHERE id = %s", (retry,))
    assert db.scalar("SELECT scrapifie.cleanup_old_jobs(30)") == 4
    assert db.scalar("SELECT scrapifie.cleanup_old_jobs(30)") == 0
    assert {r[0] for r in db.query("SELECT id FROM scrapifie.scrape_jobs")} == {kept_running, kept_recent, retry}
    assert db.scalar("SELECT count(*) FROM scrapifie.job_results") == 0
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events") == 0
    assert db.scalar("SELECT retry_of_job_id FROM scrapifie.scrape_jobs WHERE id = %s", (retry,)) is None
    assert db.scalar("SELECT scrapifie.cleanup_old_jobs()") == 0  # default 90 days: the recent one stays
