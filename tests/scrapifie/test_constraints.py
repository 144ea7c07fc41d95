"""Bad input: every CHECK and UNIQUE rejects a bad value with its own constraint name."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from pg import TestDB, rejected_checks

# (table, SET clause that breaks it, constraint expected)
BAD_UPDATES = [
    ("organizations", "plan_id = 'platinum'", "organizations_valid_plan"),
    ("organizations", "subscription_status = 'expired'", "organizations_valid_status"),
    ("organizations", "credits_balance = -1", "organizations_positive_credits"),
    ("organizations", "rate_limit_per_second = 0", "organizations_positive_rate_limit"),
    ("organizations", "max_concurrent_jobs = 0", "organizations_positive_concurrent"),
    ("users", "role = 'superuser'", "users_valid_role"),
    ("users", "auth_provider = 'facebook'", "users_valid_auth_provider"),
    ("api_keys", "environment = 'test'", "api_keys_valid_environment"),
    ("api_keys", "scopes = '{\"scrape:read\": true}'", "api_keys_valid_scopes"),
    ("scrape_jobs", "status = 'lost'", "scrape_jobs_valid_status"),
    ("scrape_jobs", "engine = 'curl'", "scrape_jobs_valid_engine"),
    ("scrape_jobs", "proxy_tier = 'satellite'", "scrape_jobs_valid_proxy_tier"),
    ("scrape_jobs", "method = 'TRACE'", "scrape_jobs_valid_method"),
    ("scrape_jobs", "priority = 11", "scrape_jobs_valid_priority"),
    ("scrape_jobs", "priority = 0", "scrape_jobs_valid_priority"),
    ("scrape_jobs", "max_attempts = 0", "scrape_jobs_valid_attempts"),
    ("job_results", "content_storage_type = 's3'", "job_results_valid_storage"),
    ("webhooks", "timeout_ms = 999", "webhooks_valid_timeout"),
    ("webhooks", "retry_count = 11", "webhooks_valid_retry"),
    ("subscriptions", "billing_cycle = 'weekly'", "subscriptions_valid_cycle"),
    ("subscriptions", "status = 'expired'", "subscriptions_valid_status"),
    ("subscriptions", "billing_anchor_day = 29", "subscriptions_valid_anchor"),
    ("usage_records", "granularity = 'weekly'", "usage_records_valid_granularity"),
    ("usage_records", "period_end = period_start", "usage_records_valid_period"),
    ("invoices", "status = 'pending'", "invoices_valid_status"),
    ("domain_intelligence", "protection_level = 'ultra'", "domain_intelligence_valid_protection_level"),
    ("invoice_number_counters", "year_month = '202513'", "invoice_number_counters_valid_month"),
    ("invoice_number_counters", "last_number = 0", "invoice_number_counters_positive"),
    # scrapifie_0004: what one tenant (or billing) writes cannot break what runs for all
    ("organizations", "credits_included_monthly = -1", "organizations_non_negative_allowance"),
    ("organizations", "credits_overage_rate = -0.1", "organizations_non_negative_allowance"),
    ("organizations", "data_retention_days = 0", "organizations_valid_limits"),
    ("organizations", "data_retention_days = 100000000", "organizations_valid_limits"),
    ("organizations", "max_batch_size = 0", "organizations_valid_limits"),
    ("api_keys", "credits_limit = -1", "api_keys_non_negative_limits"),
    ("api_keys", "rate_limit_override = 0", "api_keys_non_negative_limits"),
    ("scrape_jobs", "options = '{\"timeout\": 1e300}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '{\"timeout\": 999}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '{\"timeout\": \"30000\"}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '{\"wait_time\": -1}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '{\"screenshot\": \"yes\"}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '{\"extract\": 5}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '{\"wait_for\": 1}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '{\"unknown\": 1}'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '[]'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "options = '\"timeout\"'", "scrape_jobs_valid_options"),
    ("scrape_jobs", "credits_charged = -1", "scrape_jobs_non_negative_credits"),
    ("job_events", "created_at = '1999-12-31 23:59:59+00'", "chk_job_events_created_at_range"),
    ("job_events", "created_at = '2100-01-01 00:00:00+00'", "chk_job_events_created_at_range"),
    ("job_events", "event_type = 'system.cleanup'", "job_events_valid_type"),
    ("subscriptions", "credits_included = -1", "subscriptions_non_negative_amounts"),
    ("subscriptions", "base_price_cents = -1", "subscriptions_non_negative_amounts"),
    ("subscriptions", "current_period_end = current_period_start - interval '1 day'", "subscriptions_valid_period"),
    ("subscriptions", "trial_start = now(), trial_end = now() - interval '1 day'", "subscriptions_valid_period"),
    ("usage_records", "credits_used = -1", "usage_records_non_negative_counts"),
    ("usage_records", "overage_amount_cents = -1", "usage_records_non_negative_counts"),
    ("usage_records", "period_start = '1999-12-31', period_end = '2000-01-02'", "chk_usage_records_period_start_range"),
    ("invoices", "total_cents = -1", "invoices_non_negative_amounts"),
    ("invoices", "amount_due_cents = -1", "invoices_non_negative_amounts"),
    ("invoices", "period_end = period_start - interval '1 day'", "invoices_valid_period"),
]


@pytest.fixture
def rows(db: TestDB, make) -> dict[str, str]:
    """One valid row in every table, keyed by table, as a WHERE clause selecting it."""
    org = make.org(balance=10)
    user = make.user(org)
    job = make.job(org)
    made = {
        "organizations": org, "users": user, "scrape_jobs": job,
        "api_keys": make.insert("api_keys", organization_id=org, key_hash="a" * 64, name="k"),
        "job_results": make.result(job, org),
        "webhooks": make.insert("webhooks", organization_id=org, name="w", url="https://h.test/", secret="s"),
        "subscriptions": make.subscription(org, 1000),
        "domain_intelligence": make.insert("domain_intelligence", domain="example.test"),
    }
    made["usage_records"] = db.scalar(
        "INSERT INTO scrapifie.usage_records (organization_id, period_start, period_end)"
        " VALUES (%s, date_trunc('day', now()), date_trunc('day', now()) + interval '1 day') RETURNING id", (org,))
    made["job_events"] = db.scalar(
        "INSERT INTO scrapifie.job_events (job_id, organization_id, event_type) VALUES (%s, %s, 'job.queued')"
        " RETURNING id", (job, org))
    made["invoices"] = db.scalar(
        "SELECT id FROM scrapifie.invoices WHERE invoice_number = %s", (make.invoice(org),))
    where = {table: f"id = '{value}'" for table, value in made.items()}
    where["invoice_number_counters"] = "TRUE"
    return where


def test_every_check_rejects_a_bad_value_by_name(db: TestDB, rows: dict[str, str]) -> None:
    assert rejected_checks(db.url, "scrapifie", BAD_UPDATES, rows) == BAD_UPDATES


def test_every_check_constraint_is_exercised(db: TestDB) -> None:
    checks = {r[0] for r in db.query(
        """SELECT con.conname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
           WHERE c.relnamespace = 'scrapifie'::regnamespace AND con.contype = 'c' AND NOT c.relispartition""")}
    assert checks == {c for _, _, c in BAD_UPDATES}


def test_event_type_check_rejects_the_seeds_cleanup_event(db: TestDB, make) -> None:
    org = make.org()
    job = make.job(org)
    with pytest.raises(errors.CheckViolation) as exc:
        db.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type)"
                   " VALUES (%s, %s, 'system.cleanup')", (job, org))
    assert exc.value.diag.constraint_name == "job_events_valid_type"
    # and what the seed's cleanup did first: a random job id
    with pytest.raises(errors.ForeignKeyViolation) as exc:
        db.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type)"
                   " VALUES (gen_random_uuid(), %s, 'job.result_expired')", (org,))
    assert exc.value.diag.constraint_name == "job_events_job_id_fkey"


def test_unique_constraints_name_themselves(db: TestDB, make) -> None:
    org = make.org()
    insert_usage = ("INSERT INTO scrapifie.usage_records (organization_id, period_start, period_end, granularity)"
                    " VALUES (%s, '2025-01-01', '2025-01-02', 'daily')")
    db.execute(insert_usage, (org,))
    with pytest.raises(errors.UniqueViolation) as exc:
        db.execute(insert_usage, (org,))
    # a partition reports its own index, a child of the parent's constraint index
    assert db.scalar("SELECT inhparent::regclass::text FROM pg_inherits WHERE inhrelid = %s::regclass",
                     (f"scrapifie.{exc.value.diag.constraint_name}",)) == "scrapifie.usage_records_unique_org_period"
    # the same period at another granularity is another record
    db.execute(insert_usage.replace("'daily'", "'monthly'"), (org,))

    make.user(org, email="a@b.test")
    with pytest.raises(errors.UniqueViolation) as exc:
        make.user(org, email="a@b.test")
    assert exc.value.diag.constraint_name == "users_unique_email_per_org"
    make.user(make.org(), email="a@b.test")  # per organization

    make.job(org, idempotency_key="k1")
    with pytest.raises(errors.UniqueViolation) as exc:
        make.job(org, idempotency_key="k1")
    assert exc.value.diag.constraint_name == "idx_jobs_idempotency"
    make.job(make.org(), idempotency_key="k1")  # per organization


def test_bad_arguments_are_refused_by_sqlstate(db: TestDB, make) -> None:
    org = make.org(balance=10)
    with db.as_role("scrapifie_app", {"app.organization_id": str(org)}) as conn:
        for call in ("scrapifie.deduct_credits(%s, 0)", "scrapifie.deduct_credits(%s, -5)"):
            with pytest.raises(errors.InvalidParameterValue), conn.transaction():
                conn.execute(f"SELECT {call}", (org,))
        with pytest.raises(errors.NullValueNotAllowed), conn.transaction():
            conn.execute("SELECT scrapifie.deduct_credits(%s, NULL)", (org,))
    for bad in ("SELECT scrapifie.cleanup_old_jobs(0)", "SELECT scrapifie.cleanup_old_jobs(36501)",
                "SELECT * FROM scrapifie.claim_scrape_jobs('w', 'default', 0)",
                "SELECT * FROM scrapifie.claim_scrape_jobs('', 'default', 1)"):
        with pytest.raises(errors.InvalidParameterValue):
            db.execute(bad)
    assert make.balance(org) == 10  # nothing was lost on the way


def test_a_rejected_row_leaves_nothing_behind(db: TestDB, make) -> None:
    org = make.org()
    with db.as_role("scrapifie_app", {"app.organization_id": str(org)}) as conn:
        with pytest.raises(errors.CheckViolation) as exc:
            conn.execute("SELECT * FROM scrapifie.submit_scrape_job(%s, 'https://x.test/', p_priority => 42)",
                         (org,))
        assert exc.value.diag.constraint_name == "scrape_jobs_valid_priority"
    assert db.scalar("SELECT count(*) FROM scrapifie.scrape_jobs") == 0
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events") == 0
