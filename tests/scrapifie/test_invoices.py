"""Invoice numbers INV-YYYYMM-NNNNN: unique and gap-free per month, also concurrently."""

from __future__ import annotations

import re
from datetime import datetime, timezone

import psycopg
import pytest

from pg import TestDB, concurrently, errors


def _month() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m")


def test_numbers_follow_each_other_within_a_month(db: TestDB, make) -> None:
    org = make.org()
    numbers = [make.invoice(org) for _ in range(3)]  # the seed's function failed on the second
    assert numbers == [f"INV-{_month()}-{n:05d}" for n in (1, 2, 3)]
    assert all(re.fullmatch(r"INV-\d{6}-\d{5}", n) for n in numbers)


def test_month_is_utc_whatever_the_session_time_zone(db: TestDB, make) -> None:
    org = make.org()
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET TIME ZONE 'Pacific/Kiritimati'")  # UTC+14
        number = make.invoice(org, conn=conn)
    assert number.startswith(f"INV-{_month()}-")


def test_a_rolled_back_invoice_leaves_no_gap(db: TestDB, make) -> None:
    org = make.org()
    assert make.invoice(org).endswith("-00001")
    with psycopg.connect(db.url) as conn:
        assert make.invoice(org, conn=conn).endswith("-00002")
        conn.rollback()
    assert make.invoice(org).endswith("-00002")


def test_an_explicit_number_does_not_consume_the_counter(db: TestDB, make) -> None:
    org = make.org()
    db.execute("INSERT INTO scrapifie.invoices (organization_id, invoice_number, subtotal_cents, total_cents,"
               " amount_due_cents, period_start, period_end) VALUES (%s, 'LEGACY-1', 1, 1, 1, now(), now())", (org,))
    assert make.invoice(org).endswith("-00001")


def test_concurrent_invoices_are_unique_and_gap_free(db: TestDB, make) -> None:
    orgs = [make.org() for _ in range(4)]

    def work(conn: psycopg.Connection, i: int) -> list[str]:
        made = []
        for k in range(6):
            with conn.transaction():
                made.append(make.invoice(orgs[i % 4], conn=conn))
                if k == 3 and i % 3 == 0:  # some invoices are abandoned: their numbers come back
                    conn.execute("SELECT pg_sleep(0.01)")
                    raise psycopg.Rollback()
        return made

    results = concurrently(16, db.url, work)
    assert errors(results) == []
    stored = [r[0] for r in db.query("SELECT invoice_number FROM scrapifie.invoices ORDER BY 1")]
    assert stored == [f"INV-{_month()}-{n:05d}" for n in range(1, len(stored) + 1)]
    assert len(stored) == 16 * 6 - len([i for i in range(16) if i % 3 == 0])
    assert db.scalar("SELECT last_number FROM scrapifie.invoice_number_counters WHERE year_month = %s",
                     (_month(),)) == len(stored)


def test_numbers_past_99999_stay_unique(db: TestDB, make) -> None:
    org = make.org()
    db.execute("INSERT INTO scrapifie.invoice_number_counters VALUES (%s, 99998)", (_month(),))
    assert [make.invoice(org) for _ in range(3)] == [
        f"INV-{_month()}-99999", f"INV-{_month()}-100000", f"INV-{_month()}-100001"]


def test_billing_numbers_invoices_but_cannot_touch_counters(db: TestDB, make) -> None:
    org = make.org()
    with db.as_role("scrapifie_billing", {"app.organization_id": str(org)}) as conn:
        assert make.invoice(org, conn=conn) == f"INV-{_month()}-00001"
        for forbidden in ("SELECT * FROM scrapifie.invoice_number_counters",
                          "SELECT scrapifie.generate_invoice_number()"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(forbidden)
