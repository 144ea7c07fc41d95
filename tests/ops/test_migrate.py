"""The migration runner through the real console script: apply, roll back, status,
dry-run, dependencies between systems, drift."""

from __future__ import annotations

import json
from pathlib import Path

import migdirs
from pg import TestDB, run_cli

from schema_tool import dump, paths


def applied(db: TestDB) -> list[str]:
    return migdirs.applied(db.url)


def test_migrate_rollback_all_then_migrate_again(empty_db: TestDB) -> None:
    ops_ids = migdirs.ops_ids()
    first = run_cli("migrate", "--system", "ops", url=empty_db.url)
    assert first.returncode == 0, first.stderr
    assert applied(empty_db) == ops_ids
    assert dump.snapshot(empty_db.url, "ops") == (paths.snapshots_dir() / "ops.sql").read_text()

    back = run_cli("rollback", "--all", url=empty_db.url)
    assert back.returncode == 0, back.stderr
    assert applied(empty_db) == []
    assert empty_db.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'ops'") == 0

    again = run_cli("migrate", "--system", "ops", url=empty_db.url)
    assert again.returncode == 0, again.stderr
    assert applied(empty_db) == ops_ids
    assert dump.snapshot(empty_db.url, "ops") == (paths.snapshots_dir() / "ops.sql").read_text()
    status = json.loads(run_cli("status", "--json", url=empty_db.url).stdout)["migrations"]
    assert {e["state"] for e in status if e["system"] == "ops"} == {"applied"}


def test_second_migrate_applies_nothing(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    second = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert second.returncode == 0
    assert "nothing to apply" in second.stdout
    assert empty_db.scalar("SELECT count(*) FROM schema_tool._yoyo_log WHERE operation = 'apply'") == len(migdirs.ops_ids())


def test_dry_run_prints_the_sql_and_changes_nothing(empty_db: TestDB) -> None:
    before = empty_db.query("SELECT nspname FROM pg_namespace ORDER BY 1")
    result = run_cli("migrate", "--dry-run", "--system", "ops", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert "CREATE SCHEMA ops;" in result.stdout
    assert "CREATE TABLE ops.partitioned_tables" in result.stdout
    assert empty_db.query("SELECT nspname FROM pg_namespace ORDER BY 1") == before
    assert empty_db.scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE '%yoyo%'") == 0


def test_rollback_dry_run_changes_nothing(empty_db: TestDB) -> None:
    assert run_cli("migrate", "--system", "ops", url=empty_db.url).returncode == 0
    before = applied(empty_db)
    every = str(len(migdirs.ops_ids()))
    result = run_cli("rollback", "--dry-run", "--system", "ops", "--count", every, url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert "DROP TABLE ops.partitioned_tables;" in result.stdout
    assert applied(empty_db) == before
    assert empty_db.scalar("SELECT to_regclass('ops.partitioned_tables')") is not None


def test_system_selection_brings_its_dependencies_and_all_of_ops(empty_db: TestDB, tmp_path: Path) -> None:
    """ops is the foundation: its later migrations harden what its earlier ones made (run
    locks, roles), so a system brings all of it, and of other systems only what it names."""
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", "CREATE TABLE public.zeta_t (id int);",
                "DROP TABLE public.zeta_t;", depends="ops_0002_partition_engine")
    migdirs.add(root, "omega", "omega_0001_schema", "CREATE TABLE public.omega_t (id int);",
                "DROP TABLE public.omega_t;", depends="ops_0001_foundation")
    result = run_cli("--migrations-dir", str(root), "migrate", "--system", "zeta", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert applied(empty_db) == [*migdirs.ops_ids(), "zeta_0001_schema"]


def test_rollback_refuses_to_orphan_a_dependent(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", "CREATE TABLE public.zeta_t (id int);",
                "DROP TABLE public.zeta_t;", depends="ops_0002_partition_engine")
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    result = run_cli("--migrations-dir", str(root), "rollback", "--system", "ops", "--all", url=empty_db.url)
    assert result.returncode == 1
    assert "zeta_0001_schema" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert len(applied(empty_db)) == len(migdirs.ops_ids()) + 1
    ok = run_cli("--migrations-dir", str(root), "rollback", "--count", "1", url=empty_db.url)
    assert ok.returncode == 0, ok.stderr
    assert "zeta_0001_schema" not in applied(empty_db)
    assert empty_db.scalar("SELECT to_regclass('public.zeta_t')") is None


def test_rollback_refuses_a_migration_without_rollback_file(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", "CREATE TABLE public.zeta_t (id int);", rollback=None,
                depends="ops_0001_foundation")
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    result = run_cli("--migrations-dir", str(root), "rollback", url=empty_db.url)
    assert result.returncode == 1
    assert "no zeta_0001_schema.rollback.sql" in result.stderr
    assert empty_db.scalar("SELECT to_regclass('public.zeta_t')") is not None


def test_edited_migration_is_reported_and_refused(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    mid = migdirs.add(root, "zeta", "zeta_0001_schema", "CREATE TABLE public.zeta_t (id int);",
                      "DROP TABLE public.zeta_t;", depends="ops_0001_foundation")
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    path = root / "zeta" / f"{mid}.sql"
    path.write_text(path.read_text() + "-- edited after it was applied\n")
    migdirs.add(root, "zeta", "zeta_0002_more", "CREATE TABLE public.zeta_u (id int);", "DROP TABLE public.zeta_u;")

    status = run_cli("--migrations-dir", str(root), "status", "--json", url=empty_db.url)
    assert status.returncode == 1
    states = {e["id"]: (e["state"], e["changed"]) for e in json.loads(status.stdout)["migrations"]}
    assert states[mid] == ("edited", ["apply"])
    assert states["zeta_0002_more"] == ("pending", [])

    refused = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert refused.returncode == 1
    assert mid in refused.stderr and "--allow-drift" in refused.stderr
    assert empty_db.scalar("SELECT to_regclass('public.zeta_u')") is None

    accepted = run_cli("--migrations-dir", str(root), "migrate", "--allow-drift", url=empty_db.url)
    assert accepted.returncode == 0, accepted.stderr
    assert empty_db.scalar("SELECT to_regclass('public.zeta_u')") is not None
    assert run_cli("--migrations-dir", str(root), "status", url=empty_db.url).returncode == 0


def test_applied_migration_missing_here_is_drift(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", "SELECT 1;", depends="ops_0001_foundation")
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    for p in (root / "zeta").iterdir():
        p.unlink()
    (root / "zeta").rmdir()
    status = run_cli("--migrations-dir", str(root), "status", "--json", url=empty_db.url)
    assert status.returncode == 1
    assert {"id": "zeta_0001_schema", "state": "unknown"}.items() <= next(
        e for e in json.loads(status.stdout)["migrations"] if e["id"] == "zeta_0001_schema").items()
    refused = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert refused.returncode == 1 and "file missing" in refused.stderr
