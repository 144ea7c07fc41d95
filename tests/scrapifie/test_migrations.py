"""Migrate, roll back everything of scrapifie, migrate again: the same schema, nothing left over."""

from __future__ import annotations

from pg import TestDB
from schema_tool import dump, paths


def test_round_trip_leaves_nothing_and_rebuilds_the_same_schema(empty_db: TestDB) -> None:
    run = empty_db.cli("migrate", "--system", "scrapifie")
    assert run.returncode == 0, run.stderr
    run = empty_db.cli("rollback", "--system", "scrapifie", "--count", "1")
    assert run.returncode == 0, run.stderr
    assert empty_db.scalar("SELECT count(*) FROM scrapifie.proxy_providers") == 0  # only the seed data went
    run = empty_db.cli("rollback", "--system", "scrapifie", "--count", "1")
    assert run.returncode == 0, run.stderr
    leftovers = empty_db.query(
        """SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'scrapifie%%'
           -- the role itself stays while other databases of the cluster (the test template) use it
           UNION ALL SELECT 'role setting ' || setrole::regrole::text FROM pg_db_role_setting s
               JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()
           UNION ALL SELECT 'registry ' || parent_table FROM ops.partitioned_tables""")
    assert leftovers == []
    run = empty_db.cli("migrate", "--system", "scrapifie")
    assert run.returncode == 0, run.stderr
    assert dump.snapshot(empty_db.url, "scrapifie") == (paths.snapshots_dir() / "scrapifie.sql").read_text()
    assert empty_db.scalar("SELECT count(*) FROM scrapifie.proxy_providers") == 3
