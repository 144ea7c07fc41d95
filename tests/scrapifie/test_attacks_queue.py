"""Attacks on the shared queue (issue 11, items 1 and 2): a tenant cannot work the queue,
read what a worker gets, or leave a row that stops the queue or a batch for everyone."""

from __future__ import annotations

import hashlib
import hmac
import json

import psycopg
import pytest
from psycopg import errors

from pg import TestDB
from scrapifie.support import APP, WORKER, acting

WORKER_FUNCTIONS = [
    "SELECT * FROM scrapifie.claim_scrape_jobs('w', 'default', 10)",
    "SELECT scrapifie.complete_scrape_job(%(job)s, 'w', 1)",
    "SELECT scrapifie.fail_scrape_job(%(job)s, 'w', 1, 'x')",
    "SELECT * FROM scrapifie.expire_timed_out_jobs()",
    "SELECT * FROM scrapifie.due_job_webhooks(10)",
    "SELECT scrapifie.job_webhook_signature(%(job)s, 'payload')",
    "SELECT scrapifie.record_job_webhook_delivery(%(job)s, true)",
    "SELECT scrapifie.webhook_signature(%(hook)s, 'payload')",
    "SELECT scrapifie.record_webhook_delivery(%(hook)s, true)",
    "SELECT * FROM scrapifie.complete_and_claim_scrape_job(NULL, 'w', NULL)",
]


def _victim(make) -> dict:
    org = make.org()
    job = make.job(org, webhook_url="https://victim.test/hook", webhook_secret="victim-secret",
                   headers='{"Cookie": "session=victim"}', status="completed")
    pending = make.job(org)
    hook = make.insert("webhooks", organization_id=org, name="w", url="https://victim.test/h", secret="hook-secret")
    return {"org": org, "job": job, "pending": pending, "hook": hook}


def test_the_app_cannot_work_the_queue(db: TestDB, make) -> None:
    victim = _victim(make)
    attacker = make.org()
    before = db.query("SELECT id, status, worker_id, attempts, webhook_attempts FROM scrapifie.scrape_jobs ORDER BY id")
    for settings in (acting(attacker), acting(victim["org"]), {}):
        for call in WORKER_FUNCTIONS:
            with db.as_role(APP, settings) as conn, pytest.raises(errors.InsufficientPrivilege):
                conn.execute(call, victim)
    assert db.query("SELECT id, status, worker_id, attempts, webhook_attempts FROM scrapifie.scrape_jobs"
                    " ORDER BY id") == before
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events") == 0


def test_the_worker_has_functions_and_no_table(db: TestDB, make) -> None:
    victim = _victim(make)
    tables = [r[0] for r in db.query("SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'scrapifie'::regnamespace"
                                     " AND c.relkind IN ('r', 'p') AND NOT c.relispartition")]
    with db.as_role(WORKER) as conn:
        for table in tables:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"SELECT 1 FROM scrapifie.{table} LIMIT 1")
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("UPDATE scrapifie.scrape_jobs SET status = 'running'")
        for tenant_function in ("SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/')",
                                "SELECT scrapifie.deduct_credits(%(org)s, 1)",
                                "SELECT scrapifie.cancel_scrape_job(%(job)s)"):
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(tenant_function, victim)
    # and a worker is not an application: no role membership hands it more
    assert db.query("SELECT rolinherit FROM pg_roles WHERE rolname IN (%s, %s)", (WORKER, APP)) == [(False,), (False,)]


def test_a_worker_signs_without_seeing_the_secret(db: TestDB, make) -> None:
    victim = _victim(make)
    payload = json.dumps({"job_id": str(victim["job"]), "status": "completed"})
    with db.as_role(WORKER) as conn:
        signature = conn.execute("SELECT scrapifie.job_webhook_signature(%s, %s)", (victim["job"], payload)).fetchone()[0]
        hook_signature = conn.execute("SELECT scrapifie.webhook_signature(%s, %s)", (victim["hook"], payload)
                                      ).fetchone()[0]
        due = conn.execute("SELECT * FROM scrapifie.due_job_webhooks(10)").fetchall()
    assert signature == hmac.new(b"victim-secret", payload.encode(), hashlib.sha256).hexdigest()
    assert hook_signature == hmac.new(b"hook-secret", payload.encode(), hashlib.sha256).hexdigest()
    assert due == [(victim["job"], victim["org"], "https://victim.test/hook", 0)]
    with db.as_role(WORKER) as conn:
        with pytest.raises(errors.NoDataFound), conn.transaction():
            conn.execute("SELECT scrapifie.job_webhook_signature(%s, 'p')", (victim["pending"],))  # no webhook
        conn.execute("SELECT scrapifie.record_job_webhook_delivery(%s, false, 'HTTP 500')", (victim["job"],))
        conn.execute("SELECT scrapifie.record_job_webhook_delivery(%s, true)", (victim["job"],))
        conn.execute("SELECT scrapifie.record_webhook_delivery(%s, false)", (victim["hook"],))
        conn.commit()
        assert conn.execute("SELECT * FROM scrapifie.due_job_webhooks(10)").fetchall() == []
    assert db.query("SELECT webhook_attempts, webhook_sent_at IS NOT NULL, webhook_last_error FROM scrapifie.scrape_jobs"
                    " WHERE id = %s", (victim["job"],)) == [(2, True, None)]
    assert db.query("SELECT event_type FROM scrapifie.job_events ORDER BY id") == [("webhook.failed",), ("webhook.sent",)]
    assert db.query("SELECT failure_count, consecutive_failures FROM scrapifie.webhooks") == [(1, 1)]
    # the secrets appear nowhere a worker or an application reads
    for table in ("job_events", "scrape_jobs"):
        text = db.scalar(f"SELECT string_agg(row_to_json(t)::text, '') FROM scrapifie.{table} t"
                         + (" WHERE false" if table == "scrape_jobs" else ""))
        assert "victim-secret" not in (text or "")


def test_a_tenant_writes_but_never_reads_its_webhook_secret(db: TestDB, make) -> None:
    org = make.org()
    job = make.submit(org, p_webhook_url="https://me.test/hook")
    with db.as_role(APP, acting(org)) as conn:
        assert conn.execute("UPDATE scrapifie.scrape_jobs SET webhook_secret = 'mine' WHERE id = %s",
                            (job,)).rowcount == 1
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT webhook_secret FROM scrapifie.scrape_jobs")
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT * FROM scrapifie.scrape_jobs")  # * includes the secret
        conn.commit()
    assert db.scalar("SELECT webhook_secret FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == "mine"


@pytest.mark.parametrize("options", [
    '{"timeout": 1e300}', '{"timeout": -1}', '{"timeout": "30000"}', '{"wait_time": 1e9}', '{"pdf": "true"}',
    '{"timeoutt": 1}', '[]', '"x"', '{"extract": 1}',
])
def test_poisoned_options_never_reach_the_queue(db: TestDB, make, options: str) -> None:
    org, other = make.org(), make.org()
    good = make.job(other)
    with db.as_role(APP, acting(org)) as conn:
        with pytest.raises(errors.InvalidParameterValue), conn.transaction():
            conn.execute("SELECT * FROM scrapifie.submit_scrape_job(%s, 'https://x.test/', p_options => %s)",
                         (org, options))
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("UPDATE scrapifie.scrape_jobs SET options = %s", (options,))
    with pytest.raises(errors.CheckViolation) as exc:  # not even the owner can store them
        make.job(org, options=options)
    assert exc.value.diag.constraint_name == "scrape_jobs_valid_options"
    assert db.query("SELECT id FROM scrapifie.claim_scrape_jobs('w', 'default', 10)") == [(good,)]


def test_the_claim_clamps_what_it_reads(db: TestDB, make) -> None:
    org = make.org()
    longest = make.job(org, options='{"timeout": 600000}', priority=9)
    shortest = make.job(org, options='{"timeout": 1000}')
    got = dict(db.query("SELECT id, timeout_at - started_at FROM scrapifie.claim_scrape_jobs('w', 'default', 10)"))
    assert (got[longest].total_seconds(), got[shortest].total_seconds()) == (600, 1)
    # rows written before the rule existed are repaired into range by the migrations
    assert db.query("SELECT scrapifie.repair_job_options(o) FROM (VALUES ('{\"timeout\": 1e300, \"x\": 1,"
                    " \"pdf\": \"TRUE\", \"wait_time\": -5}'::jsonb), ('[1]'), ('{\"extract\": 1}')) v (o)") == [
        ({"render_js": False, "wait_for": None, "wait_time": 0, "timeout": 600000, "screenshot": False, "pdf": True,
          "extract": None},),
        ({"render_js": False, "wait_for": None, "wait_time": 0, "timeout": 30000, "screenshot": False, "pdf": False,
          "extract": None},),
        ({"render_js": False, "wait_for": None, "wait_time": 0, "timeout": 30000, "screenshot": False, "pdf": False,
          "extract": None},)]


def test_the_app_cannot_write_what_the_queue_runs_on(db: TestDB, make) -> None:
    org = make.org()
    job = make.submit(org)
    for change in ("status = 'running'", "attempts = 2147483647", "max_attempts = 1000", "worker_id = 'x'",
                   "timeout_at = 'infinity'", "credits_estimated = 0", "credits_charged = -1",
                   "queue_name = 'priority'", "organization_id = gen_random_uuid()", "url = 'https://evil.test/'",
                   "parent_job_id = id", "retry_of_job_id = id", "api_key_id = NULL", "headers = '{}'"):
        with db.as_role(APP, acting(org)) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(f"UPDATE scrapifie.scrape_jobs SET {change}")
    with db.as_role(APP, acting(org)) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash, attempts)"
                     " VALUES (%s, 'https://x.test/', '-', 2147483647)", (org,))
    assert db.query("SELECT status, attempts FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == [("pending", 0)]


def test_a_batch_skips_and_reports_the_row_it_cannot_process(db: TestDB, make) -> None:
    good, bad, locked = make.org(balance=1), make.org(balance=1), make.org(balance=1)
    for org in (good, bad, locked):
        make.subscription(org, 500)
    # a row that fails: simulated with a trigger (every CHECK that could fail is in place now)
    db.execute(f"""CREATE FUNCTION pg_temp_fail() RETURNS trigger LANGUAGE plpgsql AS $$
                  BEGIN IF NEW.id = '{bad}' THEN RAISE EXCEPTION 'bad row' USING ERRCODE = '22003'; END IF;
                  RETURN NEW; END $$""".replace("pg_temp_fail", "public.test_fail"))
    db.execute("CREATE TRIGGER test_fail BEFORE UPDATE ON scrapifie.organizations"
               " FOR EACH ROW EXECUTE FUNCTION public.test_fail()")
    with psycopg.connect(db.url) as holder:  # a tenant's open transaction holds its row
        holder.execute("SELECT 1 FROM scrapifie.organizations WHERE id = %s FOR UPDATE", (locked,))
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '5s'")
            notices: list[str] = []
            conn.add_notice_handler(lambda d: notices.append(d.severity_nonlocalized))
            conn.execute("SELECT scrapifie.reset_monthly_credits()")
        holder.rollback()
    assert [make.balance(o) for o in (good, bad, locked)] == [500, 1, 1]
    assert notices == ["WARNING"]
    assert db.query("SELECT parent_table, detail LIKE %s FROM ops.maintenance_log WHERE action = 'skip'",
                    (f"%{bad}%22003%",)) == [("organizations", True)]
    db.execute("DROP TRIGGER test_fail ON scrapifie.organizations")
    db.execute("SELECT scrapifie.reset_monthly_credits()")  # the next run catches up
    assert [make.balance(o) for o in (good, bad, locked)] == [500, 500, 500]


def test_cleanup_does_not_wait_for_a_tenants_lock(db: TestDB, make) -> None:
    org = make.org()
    old_free, old_held = (make.job(org, status="completed", created_at="2020-01-01") for _ in range(2))
    expired = make.result(make.job(org), org)
    held_result = make.result(make.job(org), org)
    db.execute("UPDATE scrapifie.job_results SET expires_at = now() - interval '1 day'")
    with db.as_role(APP, acting(org)) as tenant:
        tenant.execute("SELECT 1 FROM scrapifie.scrape_jobs WHERE id = %s FOR UPDATE", (old_held,))
        tenant.execute("DELETE FROM scrapifie.job_results WHERE id = %s", (held_result,))  # not committed
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute("SET lock_timeout = '5s'")
            assert conn.execute("SELECT scrapifie.cleanup_old_jobs(30)").fetchone()[0] == 1
            assert conn.execute("SELECT scrapifie.cleanup_expired_results()").fetchone()[0] == 1
    left = {r[0] for r in db.query("SELECT id FROM scrapifie.scrape_jobs")}
    assert old_free not in left and old_held in left
    assert [r[0] for r in db.query("SELECT id FROM scrapifie.job_results")] == [held_result]
    assert expired != held_result
