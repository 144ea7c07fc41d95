"""Tenant isolation: scrapifie_app acting for one organization sees and writes only its rows."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors

from pg import TestDB, concurrently

APP = "scrapifie_app"
BILLING = "scrapifie_billing"

# table -> (INSERT for %(org)s, using %(job)s: a job of that organization without a result;
#           the role that writes the table (None: no application role inserts; the fixture
#           inserts as the owner); an UPDATE's SET clause, or None where no role may update;
#           whether the writer (or scrapifie_app) may delete)
SPECS: dict[str, tuple[str, str | None, str | None, bool]] = {
    "users": ("INSERT INTO scrapifie.users (organization_id, email) VALUES (%(org)s, %(rnd)s)",
              APP, "locale = 'fr-FR'", True),
    "api_keys": ("INSERT INTO scrapifie.api_keys (organization_id, key_hash, name) VALUES (%(org)s, %(rnd)s, 'k')",
                 None, "name = 'renamed'", True),
    "scrape_jobs": ("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash)"
                    " VALUES (%(org)s, 'https://r.test/', '-')", None, "priority = 9", True),
    "job_results": ("INSERT INTO scrapifie.job_results (job_id, organization_id) VALUES (%(job)s, %(org)s)",
                    None, None, True),
    "job_events": ("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type)"
                   " VALUES (%(job)s, %(org)s, 'job.queued')", None, None, False),
    "webhooks": ("INSERT INTO scrapifie.webhooks (organization_id, name, url, secret)"
                 " VALUES (%(org)s, 'w', 'https://h.test/', 's')", APP, "name = 'renamed'", True),
    "subscriptions": ("INSERT INTO scrapifie.subscriptions (organization_id, plan_id, plan_name, base_price_cents,"
                      " credits_included, current_period_start, current_period_end)"
                      " VALUES (%(org)s, 'free', 'Free', 0, 10, now(), now() + interval '30 days')",
                      BILLING, "plan_name = 'renamed'", True),
    "usage_records": ("INSERT INTO scrapifie.usage_records (organization_id, period_start, period_end)"
                      " VALUES (%(org)s, now() - random() * interval '300 days', now() + interval '1 year')",
                      BILLING, "total_requests = 7", True),
    "invoices": ("INSERT INTO scrapifie.invoices (organization_id, subtotal_cents, total_cents, amount_due_cents,"
                 " period_start, period_end) VALUES (%(org)s, 1, 1, 1, now(), now())",
                 BILLING, "notes = 'renamed'", False),
}
TENANT_TABLES = ["organizations", *SPECS]


class Tenant:
    def __init__(self, make, db: TestDB) -> None:
        self.org = make.org(balance=5)
        self.free_job = make.job(self.org)
        job = make.job(self.org)
        make.result(job, self.org)
        with psycopg.connect(db.url, autocommit=True) as conn:
            for table, (insert, *_) in SPECS.items():
                if table != "job_results":
                    conn.execute(insert, {"org": self.org, "job": job, "rnd": uuid.uuid4().hex})

    def args(self) -> dict[str, object]:
        return {"org": self.org, "job": self.free_job, "rnd": uuid.uuid4().hex}


@pytest.fixture
def tenants(db: TestDB, make) -> tuple[Tenant, Tenant]:
    return Tenant(make, db), Tenant(make, db)


def _key(table: str) -> str:
    return "id" if table == "organizations" else "organization_id"


def _count(conn: psycopg.Connection, table: str, org: uuid.UUID | None = None) -> int:
    where = f" WHERE {_key(table)} = %s" if org else ""
    return conn.execute(f"SELECT count(*) FROM scrapifie.{table}{where}", (org,) if org else ()).fetchone()[0]


def test_reads_see_only_the_acting_organization(db: TestDB, tenants) -> None:
    a, b = tenants
    seen = {}
    for table in TENANT_TABLES:
        with psycopg.connect(db.url) as su:
            own = _count(su, table, a.org)
        with db.as_role(APP, {"app.organization_id": str(a.org)}) as conn:
            seen[table] = [own >= 1, _count(conn, table) == own, _count(conn, table, b.org) == 0]
        for settings in (None, {"app.organization_id": ""}):  # unset or empty: nobody, not an error
            with db.as_role(APP, settings) as conn:
                seen[table].append(_count(conn, table) == 0)
    assert seen == {table: [True] * 5 for table in TENANT_TABLES}


def test_writes_are_confined_to_the_acting_organization(db: TestDB, tenants) -> None:
    for table in SPECS:
        _check_writes(db, *tenants, table)


def _check_writes(db: TestDB, a: Tenant, b: Tenant, table: str) -> None:
    insert, writer, update, deletable = SPECS[table]
    role = writer or APP
    with db.as_role(role, {"app.organization_id": str(a.org)}) as conn:
        if writer:
            with conn.transaction():
                conn.execute(insert, a.args())  # own: allowed
        else:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(insert, a.args())  # the database's rows: not even its own
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute(insert, b.args())  # for the other organization: refused
        assert _count(conn, table) >= 1
        if update is None:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"UPDATE scrapifie.{table} SET organization_id = organization_id")
        else:
            with conn.transaction():
                assert conn.execute(f"UPDATE scrapifie.{table} SET {update} WHERE organization_id = %s",
                                    (b.org,)).rowcount == 0
                assert conn.execute(f"UPDATE scrapifie.{table} SET {update}").rowcount == _count(conn, table) > 0
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"UPDATE scrapifie.{table} SET organization_id = %s", (b.org,))  # no moving rows out
        if deletable:
            with conn.transaction():
                assert conn.execute(f"DELETE FROM scrapifie.{table} WHERE organization_id = %s",
                                    (b.org,)).rowcount == 0
                own = _count(conn, table)
                deleted = conn.execute(f"DELETE FROM scrapifie.{table}").rowcount
                assert deleted == own > 0 and _count(conn, table) == 0
        else:
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"DELETE FROM scrapifie.{table}")
    with psycopg.connect(db.url) as su:  # the other organization's rows are untouched
        assert _count(su, table, b.org) >= 1


def test_organization_rows(db: TestDB, tenants) -> None:
    a, b = tenants
    with db.as_role(APP, {"app.organization_id": str(a.org)}) as conn:
        assert conn.execute("UPDATE scrapifie.organizations SET name = 'x' WHERE id = %s", (b.org,)).rowcount == 0
        assert conn.execute("UPDATE scrapifie.organizations SET name = 'mine'").rowcount == 1
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("DELETE FROM scrapifie.organizations WHERE id = %s", (a.org,))  # closing is billing's
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("UPDATE scrapifie.organizations SET id = %s", (b.org,))
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("INSERT INTO scrapifie.organizations (name, slug, billing_email)"
                         " VALUES ('n', 'n-other', 'b@x.test')")  # a new id is not the acting one
    new = uuid.uuid4()
    with db.as_role(APP, {"app.organization_id": str(new)}) as conn:  # sign-up: act as the new id
        conn.execute("INSERT INTO scrapifie.organizations (id, name, slug, billing_email)"
                     " VALUES (%s, 'n', 'n-new', 'b@x.test')", (new,))
        assert conn.execute("SELECT plan_id, credits_balance FROM scrapifie.organizations").fetchall() == [
            ("starter", 0)]  # the defaults: a plan and credits are billing's to set


def test_results_and_events_must_belong_to_a_job_of_the_organization(db: TestDB, tenants) -> None:
    a, b = tenants
    with db.as_role(APP, {"app.organization_id": str(a.org)}) as conn:
        for insert in (SPECS["job_results"][0], SPECS["job_events"][0]):
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(insert, {"org": a.org, "job": b.free_job})


def test_the_owner_role_sees_every_organization(db: TestDB, tenants) -> None:
    with psycopg.connect(db.url) as conn:
        conn.execute("SET ROLE schema_tool_owner")
        assert conn.execute("SELECT count(DISTINCT organization_id) FROM scrapifie.scrape_jobs").fetchone()[0] == 2


def test_system_tables_are_closed_to_the_app(db: TestDB, make) -> None:
    org = make.org()
    for table in ("proxy_providers", "fingerprints", "domain_intelligence", "invoice_number_counters"):
        with db.as_role(APP, {"app.organization_id": str(org)}) as conn, \
                pytest.raises(errors.InsufficientPrivilege):
            conn.execute(f"SELECT * FROM scrapifie.{table}")


def test_system_tables_through_their_functions(db: TestDB, make) -> None:
    make.insert("domain_intelligence", domain="shop.test", protection_level="high", recommended_engine="stealth")
    make.insert("proxy_providers", name="down", display_name="Down", credentials='{"password": "p"}',
                is_active=False)
    with db.as_role(APP) as conn:
        cur = conn.execute("SELECT * FROM scrapifie.get_proxy_providers()")
        assert [r[1] for r in cur.fetchall()] == ["brightdata", "oxylabs", "smartproxy"]
        assert "credentials" not in [c.name for c in cur.description]
        fp = conn.execute("SELECT id, browser_type, user_agent FROM scrapifie.get_fingerprint('chrome')").fetchone()
        assert fp[1] == "chrome" and fp[2].startswith("Mozilla/5.0")
        assert conn.execute("SELECT * FROM scrapifie.get_fingerprint('firefox')").fetchall() == []
        assert conn.execute("SELECT protection_level, recommended_engine FROM"
                            " scrapifie.get_domain_intelligence('SHOP.test')").fetchall() == [("high", "stealth")]
        assert conn.execute("SELECT * FROM scrapifie.get_domain_intelligence('nowhere.test')").fetchall() == []
        conn.commit()
    assert db.scalar("SELECT usage_count FROM scrapifie.fingerprints WHERE id = %s", (fp[0],)) == 1


SECRETS = ["proxy_providers.credentials", "users.password_hash", "users.mfa_secret", "users.mfa_backup_codes",
           "api_keys.key_hash", "webhooks.secret", "scrape_jobs.webhook_secret"]


def test_secrets_are_closed_to_the_read_only_role(db: TestDB) -> None:
    with db.as_role("schema_tool_readonly") as conn:
        for column in SECRETS:
            table, col = column.split(".")
            with conn.transaction():
                conn.execute(f"SELECT id FROM scrapifie.{table}")  # the rest of the table is readable
            with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
                conn.execute(f"SELECT {col} FROM scrapifie.{table}")
    with db.as_role(APP) as conn, pytest.raises(errors.InsufficientPrivilege):
        conn.execute("SELECT credentials FROM scrapifie.proxy_providers")


def test_concurrent_fingerprint_requests_all_get_one(db: TestDB) -> None:
    def work(conn: psycopg.Connection, i: int) -> int:
        conn.execute(f"SET ROLE {APP}")
        return sum(len(conn.execute("SELECT id FROM scrapifie.get_fingerprint()").fetchall()) for _ in range(5))

    results = concurrently(8, db.url, work)
    assert results == [5] * 8  # the only fingerprint, to everyone, each use counted
    assert db.scalar("SELECT usage_count FROM scrapifie.fingerprints") == 40
