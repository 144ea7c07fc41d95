"""Attacks through references (issue 11, item 4): a row of one organization cannot point at
another organization's user, key, job or subscription, and no reference of tenant A can
block tenant B's DELETE."""

from __future__ import annotations

import uuid

import pytest
from psycopg import errors

from pg import TestDB
from scrapifie.support import APP, BILLING, acting


class Org:
    def __init__(self, make) -> None:
        self.org = make.org()
        self.user = make.user(self.org)
        self.key = make.insert("api_keys", organization_id=self.org, key_hash=uuid.uuid4().hex, name="k")
        self.job = make.job(self.org)
        self.sub = make.subscription(self.org, 10)


def _attempts(a: Org, b: Org) -> list[tuple[str, str, str, type[Exception]]]:
    """(role, SQL acting for a, naming b's rows, the error)"""
    args = {"a": a.org, "b_user": b.user, "b_key": b.key, "b_job": b.job, "b_sub": b.sub, "a_key": a.key}
    rows = [
        (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(a)s, 'https://x.test/', p_api_key_id => %(b_key)s)",
         errors.NoDataFound),
        (APP, "UPDATE scrapifie.scrape_jobs SET api_key_id = %(b_key)s", errors.InsufficientPrivilege),
        (APP, "UPDATE scrapifie.scrape_jobs SET parent_job_id = %(b_job)s", errors.InsufficientPrivilege),
        (APP, "UPDATE scrapifie.scrape_jobs SET retry_of_job_id = %(b_job)s", errors.InsufficientPrivilege),
        (APP, "SELECT * FROM scrapifie.create_api_key(%(a)s, 'k', p_created_by_user_id => %(b_user)s)",
         errors.NoDataFound),
        (APP, "SELECT scrapifie.revoke_api_key(%(a_key)s, %(b_user)s)", errors.NoDataFound),
        (APP, "UPDATE scrapifie.api_keys SET created_by_user_id = %(b_user)s", errors.InsufficientPrivilege),
        (APP, "INSERT INTO scrapifie.webhooks (organization_id, created_by_user_id, name, url, secret)"
              " VALUES (%(a)s, %(b_user)s, 'w', 'https://h.test/', 's')", errors.ForeignKeyViolation),
        (APP, "INSERT INTO scrapifie.webhooks (organization_id, api_key_ids, name, url, secret)"
              " VALUES (%(a)s, ARRAY[%(a_key)s, %(b_key)s]::uuid[], 'w', 'https://h.test/', 's')",
         errors.InsufficientPrivilege),
        (APP, "INSERT INTO scrapifie.job_results (job_id, organization_id) VALUES (%(b_job)s, %(a)s)",
         errors.InsufficientPrivilege),
        (APP, "INSERT INTO scrapifie.job_events (job_id, organization_id, event_type)"
              " VALUES (%(b_job)s, %(a)s, 'job.queued')", errors.InsufficientPrivilege),
        (BILLING, "INSERT INTO scrapifie.invoices (organization_id, subscription_id, subtotal_cents, total_cents,"
                  " amount_due_cents, period_start, period_end) VALUES (%(a)s, %(b_sub)s, 1, 1, 1, now(), now())",
         errors.ForeignKeyViolation),
        (BILLING, "INSERT INTO scrapifie.usage_records (organization_id, subscription_id, period_start, period_end)"
                  " VALUES (%(a)s, %(b_sub)s, '2026-01-01', '2026-01-02')", errors.InsufficientPrivilege),
    ]
    return [(role, sql, args, error) for role, sql, error in rows]


def test_no_reference_crosses_to_another_organization(db: TestDB, make) -> None:
    a, b = Org(make), Org(make)
    for role, sql, args, error in _attempts(a, b):
        with db.as_role(role, acting(a.org)) as conn, pytest.raises(error):
            conn.execute(sql, args)
    # B deletes everything A tried to point at: nothing of A's blocks it
    db.execute("DELETE FROM scrapifie.users WHERE id = %s", (b.user,))
    db.execute("DELETE FROM scrapifie.api_keys WHERE id = %s", (b.key,))
    db.execute("DELETE FROM scrapifie.scrape_jobs WHERE id = %s", (b.job,))
    db.execute("DELETE FROM scrapifie.subscriptions WHERE id = %s", (b.sub,))
    assert db.scalar("SELECT count(*) FROM scrapifie.scrape_jobs WHERE organization_id = %s", (a.org,)) == 1


def test_the_constraints_hold_for_the_owner_too(db: TestDB, make) -> None:
    """The composite keys are in the schema, not only in the grants: the owner cannot cross either."""
    a, b = Org(make), Org(make)
    cases = [
        ("api_keys", {"organization_id": a.org, "key_hash": "h1", "name": "k", "created_by_user_id": b.user},
         "api_keys_created_by_user_id_fkey"),
        ("api_keys", {"organization_id": a.org, "key_hash": "h2", "name": "k", "revoked_by_user_id": b.user},
         "api_keys_revoked_by_user_id_fkey"),
        ("scrape_jobs", {"organization_id": a.org, "url": "https://x.test/", "url_hash": "-", "api_key_id": b.key},
         "scrape_jobs_api_key_id_fkey"),
        ("webhooks", {"organization_id": a.org, "name": "w", "url": "https://h.test/", "secret": "s",
                      "created_by_user_id": b.user}, "webhooks_created_by_user_id_fkey"),
        ("invoices", {"organization_id": a.org, "subscription_id": b.sub, "subtotal_cents": 1, "total_cents": 1,
                      "amount_due_cents": 1, "period_start": "2026-01-01", "period_end": "2026-02-01"},
         "invoices_subscription_id_fkey"),
    ]
    for table, cols, constraint in cases:
        with pytest.raises(errors.ForeignKeyViolation) as exc:
            make.insert(table, **cols)
        assert exc.value.diag.constraint_name == constraint


def test_deleting_a_user_clears_what_named_them_inside_the_organization(db: TestDB, make) -> None:
    a = Org(make)
    key = make.insert("api_keys", organization_id=a.org, key_hash="h", name="k", created_by_user_id=a.user,
                      revoked_by_user_id=a.user)
    hook = make.insert("webhooks", organization_id=a.org, name="w", url="https://h.test/", secret="s",
                       created_by_user_id=a.user)
    with db.as_role(APP, acting(a.org)) as conn:  # the revoker no longer blocks the delete (seed: NO ACTION)
        assert conn.execute("DELETE FROM scrapifie.users WHERE id = %s", (a.user,)).rowcount == 1
        conn.commit()
    assert db.query("SELECT organization_id, created_by_user_id, revoked_by_user_id FROM scrapifie.api_keys"
                    " WHERE id = %s", (key,)) == [(a.org, None, None)]
    assert db.query("SELECT organization_id, created_by_user_id FROM scrapifie.webhooks WHERE id = %s",
                    (hook,)) == [(a.org, None)]


def test_an_invoice_keeps_its_own_subscription(db: TestDB, make) -> None:
    a = Org(make)
    with db.as_role(BILLING, acting(a.org)) as conn:
        conn.execute("INSERT INTO scrapifie.invoices (organization_id, subscription_id, subtotal_cents, total_cents,"
                     " amount_due_cents, period_start, period_end) VALUES (%s, %s, 1, 1, 1, now(), now())",
                     (a.org, a.sub))
        with pytest.raises(errors.ForeignKeyViolation):  # within a tenant, an invoice's history still counts
            conn.execute("DELETE FROM scrapifie.subscriptions WHERE id = %s", (a.sub,))
