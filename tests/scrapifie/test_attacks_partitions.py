"""Partition keys (issue 11, item 6): no row can carry a time outside the documented range
[2000-01-01, 2100-01-01) into job_events or usage_records, so no row can break shared
maintenance or make it create partitions without end."""

from __future__ import annotations

import pytest
from psycopg import errors

from pg import TestDB
from scrapifie.support import BILLING, acting

OUT_OF_RANGE = ["294276-12-31 00:00:00+00", "0044-03-15 00:00:00+00 BC", "1999-12-31 23:59:59.999999+00",
                "2100-01-01 00:00:00+00", "infinity", "-infinity"]
CHECKS = {"job_events": ("created_at", "chk_job_events_created_at_range"),
          "usage_records": ("period_start", "chk_usage_records_period_start_range")}


@pytest.mark.parametrize("at", OUT_OF_RANGE)
def test_out_of_range_keys_are_refused(db: TestDB, make, at: str) -> None:
    org = make.org()
    job = make.job(org)
    with db.as_role(BILLING, acting(org)) as conn, pytest.raises(errors.CheckViolation) as exc:
        conn.execute("INSERT INTO scrapifie.usage_records (organization_id, period_start, period_end)"
                     " VALUES (%s, %s::timestamptz, 'infinity')", (org, at))
    assert exc.value.diag.constraint_name == "chk_usage_records_period_start_range"
    with pytest.raises(errors.CheckViolation) as exc:  # events are written by the database; not even the owner
        db.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, created_at)"
                   " VALUES (%s, %s, 'job.queued', %s::timestamptz)", (job, org, at))
    assert exc.value.diag.constraint_name == "chk_job_events_created_at_range"


def test_the_range_ends_are_inclusive_then_exclusive_and_maintenance_stays_quiet(db: TestDB, make) -> None:
    org = make.org()
    job = make.job(org)
    for at in ("2000-01-01 00:00:00+00", "2099-12-31 23:59:59.999999+00"):
        db.execute("INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, created_at)"
                   " VALUES (%s, %s, 'job.queued', %s)", (job, org, at))
    partitions = db.scalar("SELECT count(*) FROM ops.partitions WHERE parent_table = 'job_events'")
    db.execute("CALL ops.run_maintenance()")
    db.execute("CALL ops.run_maintenance()")
    # two months moved out of DEFAULT into their own partitions, nothing else created, nothing failed
    assert db.scalar("SELECT count(*) FROM ops.partitions WHERE parent_table = 'job_events'") == partitions + 2
    assert db.scalar("SELECT count(*) FROM scrapifie.job_events_default") == 0
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error'") == 0


def test_every_partition_holds_the_range_check_validated(db: TestDB) -> None:
    db.execute("SELECT ops.create_partition('scrapifie.job_events'::regclass, '2031-07-01')")
    db.execute("SELECT ops.create_partition('scrapifie.usage_records'::regclass, '2031-07-01')")
    for parent, (column, name) in CHECKS.items():
        rows = db.query("""SELECT c.relname, con.convalidated, pg_get_constraintdef(con.oid)
                           FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                           LEFT JOIN pg_constraint con ON con.conrelid = c.oid AND con.conname = %s
                           WHERE i.inhparent = %s::regclass""", (name, f"scrapifie.{parent}"))
        assert len(rows) >= 6 and f"{parent}_default" in {r[0] for r in rows}
        assert {(r[1], r[2]) for r in rows} == {(True, f"CHECK ((({column} >= '2000-01-01 00:00:00+00'::timestamp"
                                                        f" with time zone) AND ({column} < '2100-01-01"
                                                        f" 00:00:00+00'::timestamp with time zone)))")}, parent
