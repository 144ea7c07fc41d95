"""Credits: exact under concurrency, never below zero, monthly reset once per period."""

from __future__ import annotations

import json

import psycopg
import pytest

from pg import TestDB, concurrently, errors
from scrapifie.support import APP, BILLING, acting


def _deduct(db: TestDB, org, amount: int) -> bool:
    """deduct_credits the way the application calls it: as scrapifie_app acting for the organization."""
    with db.as_role(APP, acting(org)) as conn:
        ok = conn.execute("SELECT scrapifie.deduct_credits(%s, %s)", (org, amount)).fetchone()[0]
        conn.commit()
    return ok


def _act(conn: psycopg.Connection, role: str, org) -> None:
    """The session acts as role for org (for the concurrent workers)."""
    conn.execute(f"SET ROLE {role}")
    conn.execute("SELECT set_config('app.organization_id', %s, false)", (str(org),))


def _add(db: TestDB, org, amount: int) -> None:
    """add_credits the way billing calls it: as scrapifie_billing acting for the organization."""
    with db.as_role(BILLING, acting(org)) as conn:
        conn.execute("SELECT scrapifie.add_credits(%s, %s)", (org, amount))
        conn.commit()


def test_deduct_takes_only_what_the_balance_covers(db: TestDB, make) -> None:
    org = make.org(balance=10)
    assert _deduct(db, org, 4) is True
    assert make.balance(org) == 6
    assert _deduct(db, org, 7) is False
    assert make.balance(org) == 6
    assert _deduct(db, org, 6) is True
    assert make.balance(org) == 0
    deleted = make.org(balance=10, deleted_at="2025-01-01")
    assert _deduct(db, deleted, 1) is False


def test_enterprise_is_unlimited_and_never_negative(db: TestDB, make) -> None:
    org = make.org(balance=5, plan_id="enterprise")
    assert db.scalar("SELECT scrapifie.check_organization_credits(%s, 1000)", (org,)) is True
    assert _deduct(db, org, 3) is True
    assert make.balance(org) == 2
    assert _deduct(db, org, 1000) is True
    assert make.balance(org) == 0


def test_check_organization_credits(db: TestDB, make) -> None:
    org = make.org(balance=100)
    assert db.scalar("SELECT scrapifie.check_organization_credits(%s, 100)", (org,)) is True
    assert db.scalar("SELECT scrapifie.check_organization_credits(%s, 101)", (org,)) is False
    # the seed returned NULL for an unknown organization
    assert db.scalar("SELECT scrapifie.check_organization_credits(gen_random_uuid(), 1)") is False
    for bad, error in (("NULL", psycopg.errors.NullValueNotAllowed), ("0", psycopg.errors.InvalidParameterValue),
                       ("-5", psycopg.errors.InvalidParameterValue)):
        with pytest.raises(error):
            db.scalar(f"SELECT scrapifie.check_organization_credits(%s, {bad})", (org,))
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        db.scalar("SELECT scrapifie.check_organization_credits(NULL, 1)")


def test_add_credits_and_updated_at(db: TestDB, make) -> None:
    org = make.org(balance=1, updated_at="2025-01-01")
    _add(db, org, 41)
    assert make.balance(org) == 42
    assert db.scalar("SELECT updated_at > now() - interval '1 minute' FROM scrapifie.organizations WHERE id = %s",
                     (org,))


def test_sixteen_concurrent_deductions_are_exact(db: TestDB, make) -> None:
    start = 1000
    org = make.org(balance=start)
    amounts = [37 + 11 * i for i in range(16)]  # 2,168 in all: some must be refused

    def work(conn: psycopg.Connection, i: int) -> list[tuple[int, bool]]:
        _act(conn, APP, org)
        done = []
        for _ in range(5):
            ok = conn.execute("SELECT scrapifie.deduct_credits(%s, %s)", (org, amounts[i])).fetchone()[0]
            done.append((amounts[i], ok))
        return done

    results = concurrently(16, db.url, work)
    assert errors(results) == []
    taken = sum(amount for worker in results for amount, ok in worker if ok)
    refused = [amount for worker in results for amount, ok in worker if not ok]
    final = make.balance(org)
    assert final == start - taken
    assert 0 <= final < min(refused)  # refusals only when the balance could not cover them


def test_concurrent_adds_and_deducts_lose_nothing(db: TestDB, make) -> None:
    org = make.org(balance=0)

    def work(conn: psycopg.Connection, i: int) -> int:
        _act(conn, BILLING if i % 2 else APP, org)
        taken = 0
        for _ in range(20):
            if i % 2:
                conn.execute("SELECT scrapifie.add_credits(%s, 3)", (org,))
            elif conn.execute("SELECT scrapifie.deduct_credits(%s, 2)", (org,)).fetchone()[0]:
                taken += 2
        return taken

    results = concurrently(8, db.url, work)
    assert errors(results) == []
    assert make.balance(org) == 4 * 20 * 3 - sum(results)


def test_app_role_deducts_only_its_own_credits(db: TestDB, make) -> None:
    mine, theirs = make.org(balance=10), make.org(balance=10)
    with db.as_role("scrapifie_app", {"app.organization_id": str(mine)}) as conn:
        assert conn.execute("SELECT scrapifie.deduct_credits(%s, 5)", (mine,)).fetchone()[0] is True
        assert conn.execute("SELECT scrapifie.check_organization_credits(%s, 1)", (theirs,)).fetchone()[0] is False
        conn.commit()
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("SELECT scrapifie.deduct_credits(%s, 5)", (theirs,))
    assert (make.balance(mine), make.balance(theirs)) == (5, 10)


def test_reset_monthly_credits_once_per_period(db: TestDB, make) -> None:
    active, lapsed, none = make.org(balance=3), make.org(balance=3), make.org(balance=3)
    make.subscription(active, 5000)
    make.subscription(lapsed, 5000, start="now() - interval '40 days'", end="now() - interval '10 days'")
    make.subscription(make.org(balance=3, deleted_at="2025-01-01"), 5000)
    canceled = make.org(balance=3)
    make.subscription(canceled, 5000, status="canceled")
    db.execute("SELECT scrapifie.reset_monthly_credits()")
    assert [make.balance(o) for o in (active, lapsed, none, canceled)] == [5000, 3, 3, 3]
    _deduct(db, active, 100)
    db.execute("SELECT scrapifie.reset_monthly_credits()")  # same period: no second refill
    assert make.balance(active) == 4900
    # a new period starts: refilled again
    db.execute("UPDATE scrapifie.subscriptions SET current_period_start = now(), current_period_end ="
               " now() + interval '30 days' WHERE organization_id = %s", (active,))
    db.execute("SELECT scrapifie.reset_monthly_credits()")
    assert make.balance(active) == 5000


def test_reset_takes_the_latest_of_overlapping_subscriptions(db: TestDB, make) -> None:
    org = make.org()
    make.subscription(org, 100, start="now() - interval '20 days'")
    make.subscription(org, 700, start="now() - interval '2 days'")
    db.execute("SELECT scrapifie.reset_monthly_credits()")
    assert make.balance(org) == 700


def test_calculate_job_credits(db: TestDB, make) -> None:
    org = make.org()
    cases = [
        ({"engine": "http"}, 1),
        ({"engine": "auto"}, 1),
        ({"engine": "browser"}, 5),
        ({"engine": "stealth", "proxy_tier": "mobile"}, 20),
        ({"engine": "browser", "proxy_tier": "residential"}, 8),
        ({"engine": "http", "proxy_tier": "isp"}, 6),
        ({"engine": "browser", "options": '{"screenshot": true, "pdf": true}'}, 10),
        ({"engine": "browser", "options": '{"screenshot": "true", "pdf": false}'}, 7),
        ({"engine": "http", "proxy_tier": None}, 1),
    ]
    for cols, credits in cases:
        row = {"organization_id": str(org), "url": "https://a.test/", "options": "{}", **cols}
        got = db.scalar("SELECT scrapifie.calculate_job_credits(jsonb_populate_record(NULL::scrapifie.scrape_jobs,"
                        " %s::jsonb))", (json.dumps({k: json.loads(v) if k == "options" else v for k, v in row.items()}),))
        assert (cols, got) == (cols, credits)
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        db.scalar("SELECT scrapifie.calculate_job_credits(NULL)")
    # the price is the database's: a job's estimate follows its engine, tier and options
    job = make.job(org, engine="stealth", proxy_tier="mobile", credits_estimated=0)
    assert db.scalar("SELECT credits_estimated FROM scrapifie.scrape_jobs WHERE id = %s", (job,)) == 20


def test_deduction_failure_rolls_back_with_the_transaction(db: TestDB, make) -> None:
    org = make.org(balance=10)
    with db.as_role(APP, acting(org)) as conn:
        assert conn.execute("SELECT scrapifie.deduct_credits(%s, 4)", (org,)).fetchone()[0] is True
    assert make.balance(org) == 10
    with pytest.raises(psycopg.errors.CheckViolation) as exc, psycopg.connect(db.url) as conn:
        conn.execute("UPDATE scrapifie.organizations SET credits_balance = credits_balance - 11 WHERE id = %s",
                     (org,))
    assert exc.value.diag.constraint_name == "organizations_positive_credits"
