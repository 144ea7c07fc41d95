"""Migrate, roll back everything of scrapifie, migrate again: the same schema, nothing left
over; and each rollback of ours restores exactly the schema before its migration."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import psycopg
from psycopg import conninfo

from pg import TestDB
from schema_tool import dump, paths
from schema_tool.migrate import Runner

# released before the tenant boundary: their rollbacks are covered by the round trip
FIRST_CHECKED = "scrapifie_0003"


def _ids() -> list[str]:
    return sorted(p.stem for p in (paths.migrations_dir() / "scrapifie").glob("scrapifie_*.sql")
                  if not p.name.endswith(".rollback.sql"))


def test_round_trip_leaves_nothing_and_rebuilds_the_same_schema(empty_db: TestDB) -> None:
    run = empty_db.cli("migrate", "--system", "scrapifie")
    assert run.returncode == 0, run.stderr
    run = empty_db.cli("rollback", "--system", "scrapifie", "--count", str(len(_ids()) - 1))
    assert run.returncode == 0, run.stderr
    assert empty_db.scalar("SELECT count(*) FROM scrapifie.proxy_providers") == 0  # only the seed data went
    run = empty_db.cli("rollback", "--system", "scrapifie", "--count", "1")
    assert run.returncode == 0, run.stderr
    leftovers = empty_db.query(
        """SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'scrapifie%%'
           -- the roles themselves stay while other databases of the cluster (the test template) use them
           UNION ALL SELECT 'role setting ' || setrole::regrole::text FROM pg_db_role_setting s
               JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()
           UNION ALL SELECT 'registry ' || parent_table FROM ops.partitioned_tables""")
    assert leftovers == []
    run = empty_db.cli("migrate", "--system", "scrapifie")
    assert run.returncode == 0, run.stderr
    assert dump.snapshot(empty_db.url, "scrapifie") == (paths.snapshots_dir() / "scrapifie.sql").read_text()
    assert empty_db.scalar("SELECT count(*) FROM scrapifie.proxy_providers") == 3


def test_each_rollback_restores_the_schema_before_its_migration(empty_db: TestDB, server_url: str,
                                                                tmp_path: Path) -> None:
    quiet = open(os.devnull, "w")  # noqa: SIM115 - closed below
    try:
        Runner(empty_db.url, paths.migrations_dir(), out=quiet).migrate(["scrapifie"])
        ids = _ids()
        for position in range(len(ids) - 1, 0, -1):
            if ids[position] < FIRST_CHECKED:
                break
            run = empty_db.cli("rollback", "--system", "scrapifie", "--count", "1")
            assert run.returncode == 0, run.stderr
            assert dump.snapshot(empty_db.url, "scrapifie") == _snapshot_of_prefix(
                server_url, tmp_path / ids[position], ids[:position], quiet), ids[position]
    finally:
        quiet.close()


def _snapshot_of_prefix(server_url: str, folder: Path, ids: list[str], out) -> str:
    """The scrapifie snapshot of a new database migrated with only these scrapifie migrations."""
    root = folder / "migrations"
    shutil.copytree(paths.migrations_dir() / "ops", root / "ops")
    (root / "scrapifie").mkdir()
    for mid in ids:
        for suffix in (".sql", ".rollback.sql"):
            shutil.copy(paths.migrations_dir() / "scrapifie" / f"{mid}{suffix}", root / "scrapifie")
    name = f"st_prefix_{os.getpid()}_{len(ids)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = conninfo.make_conninfo(server_url, dbname=name)
    try:
        Runner(url, root, out=out).migrate(["scrapifie"])
        return dump.snapshot(url, "scrapifie")
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
