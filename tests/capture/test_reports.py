"""generate_monthly_report(): counts of the UTC month from the data, one row per month,
updated when run again, right at the month's edges whatever the session's time zone."""

from __future__ import annotations

from datetime import date

import psycopg
import pytest

from pg import TestDB, concurrently, errors as failures

REPORT = ("SELECT report_month_start, new_users_count, total_users_end, new_replays_count, total_replays_end"
          " FROM capture.generate_monthly_report(%s)")

EDGES = ["2023-12-31 23:59:59.999+00", "2024-01-01 00:00:00+00", "2024-01-31 23:59:59.999+00",
         "2024-02-01 00:00:00+00"]


@pytest.fixture
def history(db: TestDB) -> None:
    """A user and a replay at each edge (last instant of December, first and last of January,
    first of February), plus two older users with one replay each."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        for n, at in enumerate(["2023-06-01 00:00:00+00", "2023-06-02 00:00:00+00", *EDGES]):
            user = conn.execute("INSERT INTO capture.users (email, name, created_at) VALUES (%s, 'u', %s)"
                                " RETURNING user_id", (f"u{n}@example.test", at)).fetchone()[0]
            start = at if at in EDGES else "2023-07-01 00:00:00+00"
            conn.execute("INSERT INTO capture.replays (user_id, initial_url, start_time)"
                         " VALUES (%s, 'https://a.test/', %s)", (user, start))


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "America/Los_Angeles"])
def test_month_edges_in_any_session_time_zone(db: TestDB, history, zone: str) -> None:
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
        reports = [conn.execute(REPORT, (month,)).fetchone() for month in
                   (date(2023, 12, 1), date(2024, 1, 17), date(2024, 2, 29))]
    assert reports == [
        (date(2023, 12, 1), 1, 3, 1, 3),
        (date(2024, 1, 1), 2, 5, 2, 5),
        (date(2024, 2, 1), 1, 6, 1, 6),
    ]


def test_running_again_updates_the_same_row(db: TestDB, history) -> None:
    first = db.query("SELECT report_id, generated_at FROM capture.generate_monthly_report('2024-01-01')")[0]
    db.execute("INSERT INTO capture.users (email, name, created_at) VALUES ('late@example.test', 'l',"
               " '2024-01-15 12:00:00+00')")
    db.execute("DELETE FROM capture.replays WHERE start_time = '2024-01-01 00:00:00+00'")
    again = db.query("SELECT report_id, generated_at, new_users_count, total_users_end, new_replays_count,"
                     " total_replays_end FROM capture.generate_monthly_report('2024-01-31')")[0]
    assert again[0] == first[0] and again[1] > first[1]
    assert again[2:] == (3, 6, 1, 4)
    assert db.query("SELECT report_id, report_month_start, new_users_count FROM capture.monthly_reports") == [
        (first[0], date(2024, 1, 1), 3)]


def test_the_current_month_and_an_empty_month(db: TestDB) -> None:
    db.execute("INSERT INTO capture.users (email, name) VALUES ('now@example.test', 'n')")
    current = db.query(REPORT, (db.scalar("SELECT (now() AT TIME ZONE 'UTC')::date"),))[0]
    assert current[0] == db.scalar("SELECT date_trunc('month', now() AT TIME ZONE 'UTC')::date")
    assert current[1:] == (1, 1, 0, 0)
    assert db.query(REPORT, (date(2000, 1, 1),)) == [(date(2000, 1, 1), 0, 0, 0, 0)]


def test_concurrent_runs_for_one_month_make_one_row(db: TestDB, history) -> None:
    results = concurrently(4, db.url, lambda conn, i: conn.execute(REPORT, (date(2024, 1, 1),)).fetchone())
    assert failures(results) == []
    assert results == [(date(2024, 1, 1), 2, 5, 2, 5)] * 4
    assert db.scalar("SELECT count(*) FROM capture.monthly_reports") == 1


@pytest.mark.parametrize(("month", "sqlstate"), [
    (None, "22004"), (date(1999, 12, 31), "22023"), (date(2099, 1, 1), "22023"),
])
def test_bad_months(db: TestDB, month: date | None, sqlstate: str) -> None:
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT capture.generate_monthly_report(%s)", (month,))
    assert exc.value.sqlstate == sqlstate
    assert db.scalar("SELECT count(*) FROM capture.monthly_reports") == 0


def test_next_month_is_refused(db: TestDB) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT capture.generate_monthly_report("
                   "(date_trunc('month', now() AT TIME ZONE 'UTC') + interval '1 month')::date)")
