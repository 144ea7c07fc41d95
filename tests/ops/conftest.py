"""pg_cron runs jobs on the minute (1.4): the scheduling test's job is scheduled when the
first ops test starts, so the suite does not sit through the wait (the test still waits
for, and checks, a real run)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo

from clones import ClonePool
from cron_ahead import CronJob
from demo_tables import make_parent
from pg import TestDB


@pytest.fixture(scope="session", autouse=True)
def pg_cron_job(clone_pool: ClonePool, server_url: str) -> Iterator[CronJob]:
    """`CALL ops.run_maintenance()` scheduled by pg_cron on a clone with two rows in the
    DEFAULT partition; unscheduled and dropped at the end of the session."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        if not admin.execute("SELECT count(*) FROM pg_available_extensions WHERE name = 'pg_cron'").fetchone()[0]:
            yield CronJob(None, "", 0, server_url, 0.0, "pg_cron is not installed (Debian: apt-get install "
                                                        "postgresql-15-cron)")
            return
        if "pg_cron" not in admin.execute("SHOW shared_preload_libraries").fetchone()[0]:
            yield CronJob(None, "", 0, server_url, 0.0, "pg_cron is not in shared_preload_libraries of this server")
            return
        admin.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    name = clone_pool.take()
    db = TestDB(conninfo.make_conninfo(server_url, dbname=name))
    parent = make_parent(db, "demo", premake=0)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2001-01-01'), ('2091-01-01')")
    with psycopg.connect(server_url, autocommit=True) as admin:
        job = admin.execute("SELECT cron.schedule_in_database(%s, '* * * * *', 'CALL ops.run_maintenance()', %s)",
                            (f"schema-tool maintain {name}", name)).fetchone()[0]
    try:
        yield CronJob(db, parent, job, server_url, time.monotonic())
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute("SELECT cron.unschedule(%s)", (job,))
        db.close()
        clone_pool.drop(name)
