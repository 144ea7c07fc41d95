"""The seed's objects exist under their names; partitions, seed data and the contract."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import pytest
from psycopg import errors

from pg import TestDB
from schema_tool import paths

TABLES = [
    "api_keys", "domain_intelligence", "fingerprints", "invoice_number_counters", "invoices",
    "job_events", "job_results", "organizations", "proxy_providers", "scrape_jobs", "subscriptions",
    "usage_records", "users", "webhooks",
]

ENUMS = {
    "subscription_status": ["trialing", "active", "past_due", "canceled", "unpaid", "paused"],
    "job_status": ["pending", "queued", "running", "completed", "failed", "canceled", "timeout"],
    "scrape_engine": ["auto", "http", "browser", "stealth"],
    "proxy_tier": ["datacenter", "residential", "mobile", "isp"],
    "user_role": ["owner", "admin", "member", "readonly"],
    "plan_id": ["free", "starter", "growth", "business", "enterprise"],
}

# The seed's sixteen functions, by signature.
SEED_FUNCTIONS = [
    "scrapifie.add_credits(uuid,bigint)",
    "scrapifie.calculate_job_credits(scrapifie.scrape_jobs)",
    "scrapifie.calculate_url_hash(text)",
    "scrapifie.check_organization_credits(uuid,bigint)",
    "scrapifie.cleanup_expired_results()",
    "scrapifie.cleanup_old_jobs(integer)",
    "scrapifie.create_jobs_partition()",
    "scrapifie.deduct_credits(uuid,bigint)",
    "scrapifie.generate_api_key_prefix()",
    "scrapifie.generate_invoice_number()",
    "scrapifie.get_queue_stats()",
    "scrapifie.get_usage_summary(uuid,timestamp with time zone,timestamp with time zone)",
    "scrapifie.reset_monthly_credits()",
    "scrapifie.set_result_expiry()",
    "scrapifie.set_url_hash()",
    "scrapifie.update_modified_column()",
]

TRIGGERS = {
    ("api_keys", "update_api_keys_timestamp"), ("domain_intelligence", "update_domain_intelligence_timestamp"),
    ("invoices", "update_invoices_timestamp"), ("job_results", "job_results_set_expiry"),
    ("organizations", "update_organizations_timestamp"), ("proxy_providers", "update_proxy_providers_timestamp"),
    ("scrape_jobs", "scrape_jobs_set_url_hash"), ("subscriptions", "update_subscriptions_timestamp"),
    ("usage_records", "update_usage_records_timestamp"), ("users", "update_users_timestamp"),
    ("webhooks", "update_webhooks_timestamp"),
    # scrapifie_0004: values the database assigns, URLs validated where they enter
    ("users", "users_reset_email_verification"), ("scrape_jobs", "scrape_jobs_set_credits_estimated"),
    ("scrape_jobs", "scrape_jobs_validate_urls"), ("webhooks", "webhooks_validate_url"),
    ("invoices", "invoices_assign_number"),
}

SEED_INDEXES = {
    "idx_organizations_slug", "idx_organizations_stripe_customer", "idx_organizations_plan",
    "idx_organizations_created", "idx_organizations_status", "idx_users_org", "idx_users_email",
    "idx_users_auth_provider", "idx_users_last_login", "idx_api_keys_org", "idx_api_keys_prefix",
    "idx_api_keys_hash", "idx_api_keys_last_used", "idx_api_keys_expires", "idx_api_keys_auth_lookup",
    "idx_jobs_org_status", "idx_jobs_org_created", "idx_jobs_batch", "idx_jobs_url_hash", "idx_jobs_client_ref",
    "idx_jobs_idempotency", "idx_jobs_queue", "idx_jobs_webhook_pending", "idx_jobs_timeout", "idx_jobs_options",
    "idx_results_job", "idx_results_org_created", "idx_results_content_hash", "idx_results_expires",
    "idx_job_events_job_time", "idx_job_events_type", "idx_job_events_created_brin", "idx_webhooks_org",
    "idx_webhooks_failures", "idx_subscriptions_org", "idx_subscriptions_stripe", "idx_subscriptions_period_end",
    "idx_subscriptions_status", "idx_usage_org_period", "idx_usage_subscription", "idx_usage_unreported",
    "idx_usage_period_brin", "idx_invoices_org", "idx_invoices_stripe", "idx_invoices_status",
    "idx_invoices_number", "idx_proxy_providers_active", "idx_fingerprints_browser", "idx_fingerprints_locale",
    "idx_fingerprints_usage", "idx_domain_intel_protection", "idx_domain_intel_updated",
}


def test_tables_enums_functions_triggers_indexes_exist(db: TestDB) -> None:
    tables = db.query("""SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname = 'scrapifie' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
                         ORDER BY 1""")
    assert [t[0] for t in tables] == TABLES
    for name, labels in ENUMS.items():
        got = db.query("SELECT enumlabel FROM pg_enum WHERE enumtypid = %s::regtype ORDER BY enumsortorder",
                       (f"scrapifie.{name}",))
        assert [r[0] for r in got] == labels
    functions = {r[0] for r in db.query(
        "SELECT p.oid::regprocedure::text FROM pg_proc p WHERE p.pronamespace = 'scrapifie'::regnamespace")}
    assert set(SEED_FUNCTIONS) <= {f.replace(", ", ",") for f in functions}
    triggers = {(r[0], r[1]) for r in db.query(
        """SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = 'scrapifie'::regnamespace AND NOT t.tgisinternal AND NOT c.relispartition""")}
    assert triggers == TRIGGERS
    indexes = {r[0] for r in db.query(
        """SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'scrapifie'::regnamespace
           AND c.relkind IN ('i', 'I')""")}
    assert SEED_INDEXES <= indexes
    # bookkeeping is yoyo's
    assert db.scalar("SELECT to_regclass('scrapifie.schema_migrations')") is None
    files = [p for p in (paths.migrations_dir() / "scrapifie").glob("*.sql") if not p.name.endswith(".rollback.sql")]
    assert db.scalar("SELECT count(*) FROM schema_tool._yoyo_migration WHERE migration_id LIKE 'scrapifie_%%'") \
        == len(files)


def test_every_function_is_commented_and_definers_pin_search_path(db: TestDB) -> None:
    rows = db.query("""SELECT p.oid::regprocedure::text, obj_description(p.oid, 'pg_proc'), p.prosecdef,
                              p.proconfig
                       FROM pg_proc p WHERE p.pronamespace = 'scrapifie'::regnamespace""")
    assert [r[0] for r in rows if not r[1]] == []
    definers = {r[0].split("(")[0].removeprefix("scrapifie.") for r in rows if r[2]}
    assert definers == {
        # the seed's system tables and counters, reached through functions
        "generate_invoice_number", "assign_invoice_number", "get_proxy_providers", "get_fingerprint",
        "get_domain_intelligence",
        # secrets checked or used inside (docs/security.md, scrapifie)
        "authenticate_api_key", "create_api_key", "set_user_password", "verify_user_password",
        "verify_user_mfa_code", "use_mfa_backup_code", "job_webhook_signature", "webhook_signature",
        # values the database assigns, for the acting organization
        "submit_scrape_job", "cancel_scrape_job", "revoke_api_key", "confirm_user_email",
        "invalidate_user_sessions", "add_credits", "deduct_credits",
        # the worker's queue functions (the worker role has no table privilege)
        "claim_scrape_jobs", "complete_scrape_job", "complete_and_claim_scrape_job", "fail_scrape_job",
        "expire_timed_out_jobs", "due_job_webhooks",
        "record_job_webhook_delivery", "record_webhook_delivery",
    }
    assert all(r[3][0] == "search_path=pg_catalog, pg_temp" for r in rows if r[2])


def test_rls_is_enabled_on_every_table(db: TestDB) -> None:
    rows = db.query("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'scrapifie'::regnamespace
                       AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity""")
    assert rows == []


def test_partitioned_tables_are_registered_with_a_default_partition(db: TestDB) -> None:
    registry = db.query("""SELECT parent_table, control_column, premake, retention FROM ops.partitioned_tables
                           WHERE parent_schema = 'scrapifie' ORDER BY 1""")
    assert registry == [("job_events", "created_at", 3, None), ("usage_records", "period_start", 3, None)]
    now = datetime.now(timezone.utc)
    for parent in ("job_events", "usage_records"):
        parts = db.query("SELECT partition_name, is_default FROM ops.partitions WHERE parent_table = %s",
                         (parent,))
        assert (f"{parent}_default", True) in parts
        assert (f"{parent}_{now:%Y_%m}", False) in parts
    keys = db.query("""SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint
                       WHERE conrelid = 'scrapifie.usage_records'::regclass AND contype IN ('p', 'u') ORDER BY 1""")
    assert keys == [("usage_records_pkey", "PRIMARY KEY (id, period_start)"),
                    ("usage_records_unique_org_period", "UNIQUE (organization_id, period_start, granularity)")]


def test_create_jobs_partition_delegates_to_the_engine_and_is_idempotent(db: TestDB) -> None:
    now = datetime.now(timezone.utc)
    nxt = datetime(now.year + now.month // 12, now.month % 12 + 1, 1, tzinfo=timezone.utc)
    child = f"scrapifie.job_events_{nxt:%Y_%m}"
    db.execute(f"DROP TABLE {child}")
    db.execute("SELECT scrapifie.create_jobs_partition()")
    assert db.scalar("SELECT to_regclass(%s)::text", (child,)) == child
    before = db.scalar("SELECT count(*) FROM ops.partitions WHERE parent_schema = 'scrapifie'")
    db.execute("SELECT scrapifie.create_jobs_partition()")
    assert db.scalar("SELECT count(*) FROM ops.partitions WHERE parent_schema = 'scrapifie'") == before
    assert db.scalar("""SELECT action FROM ops.maintenance_log WHERE partition_name = %s""",
                     (child.split(".")[1],)) == "create"


def test_event_queries_prune_to_one_partition(db: TestDB, make) -> None:
    org = make.org()
    job = make.job(org)
    db.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type) VALUES (%s, %s, 'job.queued')",
               (job, org))
    now = datetime.now(timezone.utc)
    start = datetime(now.year, now.month, 1, tzinfo=timezone.utc)
    plan = "\n".join(r[0] for r in db.query(
        "EXPLAIN SELECT * FROM scrapifie.job_events WHERE job_id = %s AND created_at >= %s"
        " AND created_at < %s + interval '1 day'", (job, start, start)))
    assert re.findall(r" on (job_events_\w+)", plan) == [f"job_events_{now:%Y_%m}"]


def test_seed_data(db: TestDB) -> None:
    assert db.query("SELECT name, display_name, credentials, is_active FROM scrapifie.proxy_providers ORDER BY 1") == [
        ("brightdata", "Bright Data", {}, True), ("oxylabs", "Oxylabs", {}, True), ("smartproxy", "Smartproxy", {}, True)]
    # the same bytes pgcrypto's digest() gives
    assert db.query("""SELECT fingerprint_hash = encode(public.digest('chrome-120-windows', 'sha256'), 'hex'),
                              browser_type, os_type, locale FROM scrapifie.fingerprints""") == [
        (True, "chrome", "windows", "en-US")]


def test_defaults_match_the_seed(db: TestDB, make) -> None:
    org = make.org()
    features, retention, plan = db.query(
        "SELECT features, data_retention_days, plan_id FROM scrapifie.organizations WHERE id = %s", (org,))[0]
    assert features["js_rendering"] is True and features["priority_queue"] is False and len(features) == 8
    assert (retention, plan) == (7, "starter")
    key = make.insert("api_keys", organization_id=org, key_hash="0" * 64, name="k")
    prefix, scopes = db.query("SELECT key_prefix, scopes FROM scrapifie.api_keys WHERE id = %s", (key,))[0]
    assert prefix.startswith("sk_") and len(prefix) == 11 and int(prefix[3:], 16) >= 0
    assert scopes == ["scrape:read", "scrape:write"]
    job = make.job(org)
    options = db.scalar("SELECT options FROM scrapifie.scrape_jobs WHERE id = %s", (job,))
    submitted_id = make.submit(org, "https://a.test/")
    submitted = db.scalar("SELECT options FROM scrapifie.scrape_jobs WHERE id = %s", (submitted_id,))
    assert options == submitted  # submit_scrape_job's copy of the column default has not drifted


def test_maintenance_moves_default_rows_home(db: TestDB, make) -> None:
    org = make.org()
    job = make.job(org)
    db.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, created_at)"
               " VALUES (%s, %s, 'job.queued', '2020-03-15 10:00+00')", (job, org))
    db.execute("INSERT INTO scrapifie.usage_records (organization_id, period_start, period_end)"
               " VALUES (%s, '2020-03-01', '2020-03-02')", (org,))
    where = "SELECT tableoid::regclass::text FROM scrapifie.{}"
    assert db.scalar(where.format("job_events")) == "scrapifie.job_events_default"
    db.execute("CALL ops.run_maintenance()")
    assert db.scalar(where.format("job_events")) == "scrapifie.job_events_2020_03"
    assert db.scalar(where.format("usage_records")) == "scrapifie.usage_records_2020_03"
    # the moved rows keep their constraints: the same period again is still a duplicate
    with pytest.raises(errors.UniqueViolation):
        db.execute("INSERT INTO scrapifie.usage_records (organization_id, period_start, period_end)"
                   " VALUES (%s, '2020-03-01', '2020-03-02')", (org,))
    with db.as_role("scrapifie_app", {"app.organization_id": str(org)}) as conn:  # RLS still applies
        assert conn.execute("SELECT count(*) FROM scrapifie.job_events").fetchone()[0] == 1
