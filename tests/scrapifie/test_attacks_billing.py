"""Attacks on values the database assigns (issue 11, item 3): invoice numbers, plans,
credits, allowances, account and key state. Each as the attacker's role; the victim's data
(and the attacker's own billing state) unchanged."""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import psycopg
import pytest
from psycopg import errors

import pg
from pg import TestDB, concurrently
from scrapifie.support import APP, BILLING, acting

INVOICE = ("INSERT INTO scrapifie.invoices (organization_id, subtotal_cents, total_cents, amount_due_cents,"
           " period_start, period_end{cols}) VALUES (%s, 100, 100, 100, now() - interval '1 month', now(){vals})"
           " RETURNING invoice_number")

# (table, SET clause) scrapifie_app may not write, for its own rows
DATABASE_ASSIGNED = [
    ("organizations", "plan_id = 'enterprise'"),
    ("organizations", "credits_balance = 1000000"),
    ("organizations", "credits_included_monthly = 1000000"),
    ("organizations", "credits_reset_at = NULL"),
    ("organizations", "subscription_status = 'active'"),
    ("organizations", "features = '{\"priority_queue\": true}'"),
    ("organizations", "rate_limit_per_second = 100000"),
    ("organizations", "max_concurrent_jobs = 100000"),
    ("organizations", "data_retention_days = 3650"),
    ("organizations", "stripe_customer_id = 'cus_x'"),
    ("organizations", "deleted_at = NULL"),
    ("users", "email_verified_at = now()"),
    ("users", "password_hash = 'x'"),
    ("users", "failed_login_attempts = 0"),
    ("users", "locked_until = NULL"),
    ("users", "session_version = 1"),
    ("users", "last_login_at = now()"),
    ("users", "password_changed_at = now()"),
    ("users", "organization_id = gen_random_uuid()"),
    ("api_keys", "key_hash = 'x'"),
    ("api_keys", "key_prefix = 'sk_x'"),
    ("api_keys", "usage_count = 0"),
    ("api_keys", "revoked_at = NULL"),
    ("api_keys", "rate_limit_override = 100000"),
    ("api_keys", "last_used_at = now()"),
    ("scrape_jobs", "credits_charged = 0"),
    ("scrape_jobs", "result_id = NULL"),
    ("scrape_jobs", "webhook_sent_at = now()"),
    ("job_results", "expires_at = 'infinity'"),
    ("webhooks", "failure_count = 0"),
    ("webhooks", "consecutive_failures = 0"),
    ("subscriptions", "credits_included = 1000000"),
    ("subscriptions", "status = 'active'"),
    ("usage_records", "credits_used = 0"),
    ("invoices", "invoice_number = 'INV-000000-00001'"),
    ("invoices", "status = 'paid'"),
    ("invoices", "amount_due_cents = 0"),
]


def _month() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m")


@pytest.fixture
def tenant(db: TestDB, make) -> uuid.UUID:
    """An organization with one row in every tenant table."""
    org = make.org(balance=10)
    user = make.user(org)
    job = make.job(org)
    make.result(job, org)
    make.insert("api_keys", organization_id=org, key_hash=uuid.uuid4().hex, name="k", created_by_user_id=user)
    make.insert("webhooks", organization_id=org, name="w", url="https://h.test/", secret="s")
    make.subscription(org, 100)
    make.insert("usage_records", organization_id=org, period_start="2026-01-01", period_end="2026-01-02")
    make.invoice(org)
    return org


def _snapshot(db: TestDB) -> list[tuple]:
    return db.query("""SELECT 'o', to_jsonb(o) - 'updated_at' FROM scrapifie.organizations o
                       UNION ALL SELECT 's', to_jsonb(s) - 'updated_at' FROM scrapifie.subscriptions s
                       UNION ALL SELECT 'i', to_jsonb(i) - 'updated_at' FROM scrapifie.invoices i ORDER BY 1, 2""")


def test_the_app_writes_no_value_the_database_assigns(db: TestDB, make, tenant: uuid.UUID) -> None:
    before = _snapshot(db)
    refused = []
    for table, change in DATABASE_ASSIGNED:
        with db.as_role(APP, acting(tenant)) as conn:
            try:
                conn.execute(f"UPDATE scrapifie.{table} SET {change}")
            except errors.InsufficientPrivilege:
                refused.append((table, change))
    assert refused == DATABASE_ASSIGNED
    assert _snapshot(db) == before


def test_the_app_cannot_create_billing_rows_or_credits(db: TestDB, make, tenant: uuid.UUID) -> None:
    before = _snapshot(db)
    attempts = [
        "INSERT INTO scrapifie.subscriptions (organization_id, plan_id, plan_name, base_price_cents, credits_included,"
        " current_period_start, current_period_end) VALUES (%(org)s, 'enterprise', 'E', 0, 1000000000, now(),"
        " now() + interval '1 month')",
        "INSERT INTO scrapifie.usage_records (organization_id, period_start, period_end)"
        " VALUES (%(org)s, '2026-02-01', '2026-02-02')",
        INVOICE.format(cols="", vals="").replace("%s", "%(org)s"),
        "INSERT INTO scrapifie.organizations (id, name, slug, billing_email, plan_id, credits_balance)"
        " VALUES (%(new)s, 'n', 'n', 'n@x.test', 'enterprise', 1000000)",
        "SELECT scrapifie.add_credits(%(org)s, 1000000)",
        "SELECT scrapifie.generate_invoice_number()",
        "SELECT scrapifie.reset_monthly_credits()",
        "DELETE FROM scrapifie.invoices",
        "DELETE FROM scrapifie.subscriptions",
        "DELETE FROM scrapifie.organizations",
    ]
    for sql in attempts:
        with db.as_role(APP, acting(tenant)) as conn, pytest.raises(errors.InsufficientPrivilege):
            conn.execute(sql, {"org": tenant, "new": uuid.uuid4()})
    assert _snapshot(db) == before
    assert make.balance(tenant) == 10


def test_nobody_pre_takes_an_invoice_number(db: TestDB, make) -> None:
    victim, attacker = make.org(), make.org()
    taken = f"INV-{_month()}-00001"
    with db.as_role(APP, acting(attacker)) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute(INVOICE.format(cols=", invoice_number", vals=", %s"), (attacker, taken))
    with db.as_role(APP, acting(attacker)) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT scrapifie.generate_invoice_number()")  # burning numbers
    with db.as_role(BILLING, acting(attacker)) as conn:  # not even billing chooses a number
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute(INVOICE.format(cols=", invoice_number", vals=", %s"), (attacker, taken))
        number = conn.execute(INVOICE.format(cols="", vals=""), (attacker,)).fetchone()[0]
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("UPDATE scrapifie.invoices SET invoice_number = 'INV-X'")
        conn.commit()
    assert number == taken
    # the victim's invoices keep numbering, gap-free
    with db.as_role(BILLING, acting(victim)) as conn:
        numbers = [conn.execute(INVOICE.format(cols="", vals=""), (victim,)).fetchone()[0] for _ in range(2)]
        conn.commit()
    assert numbers == [f"INV-{_month()}-00002", f"INV-{_month()}-00003"]
    assert all(re.fullmatch(r"INV-\d{6}-\d{5}", n) for n in numbers)


def test_billing_writes_billing_for_the_acting_organization_only(db: TestDB, make) -> None:
    mine, theirs = make.org(balance=1), make.org(balance=1)
    their_sub = make.subscription(theirs, 100)
    before = _snapshot(db)
    with db.as_role(BILLING, acting(mine)) as conn:
        assert conn.execute("UPDATE scrapifie.organizations SET plan_id = 'growth'").rowcount == 1
        assert conn.execute("UPDATE scrapifie.organizations SET plan_id = 'growth' WHERE id = %s",
                            (theirs,)).rowcount == 0
        assert conn.execute("UPDATE scrapifie.subscriptions SET credits_included = 5 WHERE id = %s",
                            (their_sub,)).rowcount == 0
        conn.execute("SELECT scrapifie.add_credits(%s, 5)", (mine,))
        for forbidden in ("SELECT scrapifie.add_credits(%(theirs)s, 5)",
                          "UPDATE scrapifie.organizations SET credits_balance = 1000000",
                          "UPDATE scrapifie.organizations SET name = 'x'",
                          "INSERT INTO scrapifie.subscriptions (organization_id, plan_id, plan_name, base_price_cents,"
                          " credits_included, current_period_start, current_period_end) VALUES (%(theirs)s, 'free',"
                          " 'F', 0, 1, now(), now() + interval '1 day')"):
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(forbidden, {"theirs": theirs})
        with pytest.raises(errors.CheckViolation) as exc, conn.transaction():
            conn.execute("INSERT INTO scrapifie.subscriptions (organization_id, plan_id, plan_name, base_price_cents,"
                         " credits_included, current_period_start, current_period_end) VALUES (%s, 'free', 'F', 0,"
                         " -1, now(), now() + interval '1 day')", (mine,))
        assert exc.value.diag.constraint_name == "subscriptions_non_negative_amounts"
        conn.commit()
    after = {r[1]["id"]: r[1] for r in _snapshot(db) if r[0] == "o"}
    assert (after[str(mine)]["plan_id"], after[str(mine)]["credits_balance"]) == ("growth", 6)
    assert after[str(theirs)] == {r[1]["id"]: r[1] for r in before if r[0] == "o"}[str(theirs)]


def test_the_price_of_a_job_is_the_databases(db: TestDB, make) -> None:
    org = make.org()
    job = make.submit(org, p_engine="stealth", p_proxy_tier="mobile", p_options='{"screenshot": true, "pdf": true}')
    assert db.scalar("SELECT credits_estimated FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == 25
    (_, attempt), = db.query("SELECT id, attempt FROM scrapifie.claim_scrape_jobs('w', 'default', 1)")
    db.execute("SELECT scrapifie.complete_scrape_job(%s, 'w', %s)", (job, attempt))
    assert db.scalar("SELECT credits_charged FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == 25


def test_account_state_moves_only_through_its_functions(db: TestDB, make) -> None:
    org, other = make.org(), make.org()
    user = make.user(org, email="a@x.test")
    stranger = make.user(other)
    with db.as_role(APP, acting(org)) as conn:
        assert conn.execute("SELECT scrapifie.confirm_user_email(%s, 'A@x.test')", (user,)).fetchone()[0] is True
        assert conn.execute("SELECT scrapifie.invalidate_user_sessions(%s)", (user,)).fetchone()[0] == 2
        for call in ("SELECT scrapifie.confirm_user_email(%s, 'x')", "SELECT scrapifie.invalidate_user_sessions(%s)"):
            with pytest.raises(errors.NoDataFound), conn.transaction():
                conn.execute(call, (stranger,))
        conn.commit()
    assert db.query("SELECT email_verified_at IS NOT NULL, session_version FROM scrapifie.users WHERE id = %s",
                    (user,)) == [(True, 2)]
    with db.as_role(APP, acting(org)) as conn:  # a new email is unverified again
        conn.execute("UPDATE scrapifie.users SET email = 'b@x.test' WHERE id = %s", (user,))
        assert conn.execute("SELECT scrapifie.confirm_user_email(%s, 'a@x.test')", (user,)).fetchone()[0] is False
        conn.commit()
    assert db.scalar("SELECT email_verified_at FROM scrapifie.users WHERE id = %s", (user,)) is None
    assert db.query("SELECT session_version, email_verified_at FROM scrapifie.users WHERE id = %s", (stranger,)) == [
        (1, None)]


def test_a_revoked_key_stays_revoked(db: TestDB, make) -> None:
    org, other = make.org(), make.org()
    admin = make.user(org)
    with db.as_role(APP, acting(org)) as conn:
        key, raw = conn.execute("SELECT * FROM scrapifie.create_api_key(%s, 'k', p_created_by_user_id => %s)",
                                (org, admin)).fetchone()
        assert conn.execute("SELECT scrapifie.revoke_api_key(%s, %s, 'leaked')", (key, admin)).fetchone()[0] is True
        assert conn.execute("SELECT scrapifie.revoke_api_key(%s)", (key,)).fetchone()[0] is False
        conn.execute("UPDATE scrapifie.api_keys SET is_active = true WHERE id = %s", (key,))  # allowed, and useless
        conn.commit()
    with db.as_role(APP) as conn:
        assert conn.execute("SELECT * FROM scrapifie.authenticate_api_key(%s)", (raw,)).fetchall() == []
    with db.as_role(APP, acting(other)) as conn, pytest.raises(errors.NoDataFound):
        conn.execute("SELECT scrapifie.revoke_api_key(%s)", (key,))  # someone else's key: not found
    assert db.query("SELECT revoked_by_user_id, revoke_reason FROM scrapifie.api_keys") == [(admin, "leaked")]


def test_values_the_database_assigns_survive_a_concurrent_burst(db: TestDB, make) -> None:
    """16 billing transactions number invoices while the app tries to pre-take the next number."""
    orgs = [make.org() for _ in range(4)]

    def work(conn: psycopg.Connection, i: int) -> list[str]:
        role = BILLING if i % 4 else APP
        out = []
        for _ in range(5):
            with conn.transaction():
                conn.execute(f"SET LOCAL ROLE {role}")
                conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(orgs[i % 4]),))
                if role == APP:
                    try:
                        with conn.transaction():
                            conn.execute(INVOICE.format(cols=", invoice_number", vals=", %s"),
                                         (orgs[i % 4], f"INV-{_month()}-{i:05d}"))
                    except errors.InsufficientPrivilege:
                        out.append("refused")
                else:
                    out.append(conn.execute(INVOICE.format(cols="", vals=""), (orgs[i % 4],)).fetchone()[0])
        return out

    results = concurrently(16, db.url, work)
    assert pg.errors(results) == []
    numbers = sorted(n for worker in results for n in worker if n != "refused")
    assert numbers == [f"INV-{_month()}-{n:05d}" for n in range(1, 12 * 5 + 1)]
    assert sum(worker.count("refused") for worker in results) == 4 * 5
