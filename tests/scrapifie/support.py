"""Test support for the scrapifie schema: role names and a small data builder."""

from __future__ import annotations

import uuid
from typing import Any

import psycopg

from pg import TestDB, insert_row

APP = "scrapifie_app"
WORKER = "scrapifie_worker"
BILLING = "scrapifie_billing"


def acting(org: uuid.UUID | None) -> dict[str, str]:
    """The SET LOCAL settings of a transaction acting for org."""
    return {"app.organization_id": str(org)} if org else {}


class Builder:
    """Inserts rows as the superuser (RLS does not apply) and returns their ids."""

    def __init__(self, db: TestDB) -> None:
        self.db = db
        self.conn = psycopg.connect(db.url, autocommit=True)

    def insert(self, table: str, **cols: Any) -> Any:
        return insert_row(self.conn, "scrapifie", table, cols)

    def org(self, balance: int = 0, **cols: Any) -> uuid.UUID:
        slug = cols.pop("slug", f"org-{uuid.uuid4().hex[:10]}")
        return self.insert("organizations", name=slug, slug=slug, billing_email=f"billing@{slug}.test",
                           credits_balance=balance, **cols)

    def user(self, org: uuid.UUID, **cols: Any) -> uuid.UUID:
        email = cols.pop("email", f"u{uuid.uuid4().hex[:8]}@example.test")
        return self.insert("users", organization_id=org, email=email, **cols)

    def job(self, org: uuid.UUID, url: str = "https://example.test/", **cols: Any) -> uuid.UUID:
        # url_hash is set by the trigger; the column is NOT NULL, so pass a placeholder
        return self.insert("scrape_jobs", organization_id=org, url=url, url_hash="-", **cols)

    def result(self, job: uuid.UUID, org: uuid.UUID, **cols: Any) -> uuid.UUID:
        return self.insert("job_results", job_id=job, organization_id=org, **cols)

    def subscription(self, org: uuid.UUID, included: int, start: str = "now() - interval '1 day'",
                     end: str = "now() + interval '29 days'", status: str = "active") -> uuid.UUID:
        return self.conn.execute(
            f"INSERT INTO scrapifie.subscriptions (organization_id, plan_id, plan_name, base_price_cents,"
            f" credits_included, status, current_period_start, current_period_end)"
            f" VALUES (%s, 'growth', 'Growth', 9900, %s, %s, {start}, {end}) RETURNING id",
            (org, included, status),
        ).fetchone()[0]

    def submit(self, org: uuid.UUID, url: str = "https://example.test/", **kw: Any) -> uuid.UUID:
        """A job submitted the way the application submits: as scrapifie_app acting for org."""
        args = "".join(f", {k} => %({k})s" for k in kw)
        with psycopg.connect(self.db.url) as conn:
            conn.execute("SET LOCAL ROLE scrapifie_app")
            conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(org),))
            job = conn.execute(f"SELECT job_id FROM scrapifie.submit_scrape_job(%(org)s, %(url)s{args})",
                               {"org": org, "url": url, **kw}).fetchone()[0]
        return job

    def invoice(self, org: uuid.UUID, conn: psycopg.Connection | None = None) -> str:
        conn = conn or self.conn
        return conn.execute(
            "INSERT INTO scrapifie.invoices (organization_id, subtotal_cents, total_cents, amount_due_cents,"
            " period_start, period_end) VALUES (%s, 100, 100, 100, now() - interval '1 month', now())"
            " RETURNING invoice_number",
            (org,),
        ).fetchone()[0]

    def balance(self, org: uuid.UUID) -> int:
        return self.db.scalar("SELECT credits_balance FROM scrapifie.organizations WHERE id = %s", (org,))

    def close(self) -> None:
        self.conn.close()
