"""Restored, cloned and new databases: `migrate` re-establishes what belongs to the
database rather than to a schema (the owner's CREATE on it, the app and worker roles'
search_path in it), says what it repaired, and repairs nothing twice."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

import upgrade
from pg import TestDB, run_cli
from schema_tool.dump import pg_dump_binary

REPAIR_LINES = ("repaired schema_tool_owner's CREATE on database", "repaired search_path of")


@contextlib.contextmanager
def _database(server_url: str, name: str, template: str | None = None) -> Iterator[str]:
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        if template:
            admin.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(sql.Identifier(name),
                                                                          sql.Identifier(template)))
        else:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield conninfo.make_conninfo(server_url, dbname=name)
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _app_roles(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return [r[0] for r in conn.execute(
            "SELECT rolname FROM pg_roles WHERE rolname ~ '_(app|worker)$'"
            " AND has_schema_privilege(oid, regexp_replace(rolname, '_(app|worker)$', ''), 'USAGE')"
            " ORDER BY 1").fetchall()]


def _login_search_path(url: str, role: str) -> str:
    """search_path as seen by a session that logs in as `role` (made LOGIN for the while)."""
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(sql.SQL("ALTER ROLE {} LOGIN").format(sql.Identifier(role)))
        try:
            with psycopg.connect(conninfo.make_conninfo(url, user=role)) as conn:
                return conn.execute("SHOW search_path").fetchone()[0]
        finally:
            admin.execute(sql.SQL("ALTER ROLE {} NOLOGIN").format(sql.Identifier(role)))


def _repaired_then_idempotent(url: str, expected_state: list[tuple]) -> str:
    first = run_cli("migrate", url=url)
    assert first.returncode == 0, first.stderr
    assert upgrade.database_state(url) == expected_state
    second = run_cli("migrate", url=url)
    assert second.returncode == 0, second.stderr
    assert not [line for line in second.stdout.splitlines() if line.startswith(REPAIR_LINES)]
    assert "nothing to apply" in second.stdout
    return first.stdout


def _complete(db: TestDB) -> list[tuple]:
    """The test's database (itself a clone of the template: migrate repairs it) and its state."""
    result = run_cli("migrate", url=db.url)
    assert result.returncode == 0, result.stderr
    return upgrade.database_state(db.url)


def test_a_restored_database_gets_its_database_level_state_back(db: TestDB, server_url: str, tmp_path: Path) -> None:
    state = _complete(db)
    roles = _app_roles(db.url)
    assert roles and ("setting", roles[0], f"search_path={roles[0].rsplit('_', 1)[0]}, public") in state
    archive = tmp_path / "db.dump"
    subprocess.run([pg_dump_binary(), "--format=custom", "--file", str(archive), "--dbname", db.url], check=True)
    db.close()
    with _database(server_url, f"{db.name}_restored") as url:
        restore = Path(pg_dump_binary()).with_name("pg_restore")
        subprocess.run([str(restore), "--exit-on-error", "--dbname", url, str(archive)], check=True,
                       capture_output=True)
        # what pg_restore does not bring: the grants on the database, the roles' settings in it
        assert upgrade.database_state(url) == []
        out = _repaired_then_idempotent(url, state)
        assert f"repaired schema_tool_owner's CREATE on database {db.name}_restored" in out
        assert f"repaired search_path of {', '.join(roles)}" in out
        assert _login_search_path(url, roles[0]) == f"{roles[0].rsplit('_', 1)[0]}, public"


def test_a_clone_of_a_template_gets_its_database_level_state_back(db: TestDB, server_url: str) -> None:
    state = _complete(db)
    db.close()
    with _database(server_url, f"{db.name}_clone", template=db.name) as url:
        assert upgrade.database_state(url) == []
        out = _repaired_then_idempotent(url, state)
        assert "repaired schema_tool_owner's CREATE" in out and "repaired search_path of" in out


def test_a_new_database_needs_no_repair(empty_db: TestDB) -> None:
    first = run_cli("migrate", "--system", "ops", url=empty_db.url)
    assert first.returncode == 0, first.stderr
    assert not [line for line in first.stdout.splitlines() if line.startswith(REPAIR_LINES)]
    second = run_cli("migrate", "--system", "ops", url=empty_db.url)
    assert second.returncode == 0 and second.stdout.splitlines() == ["nothing to apply: the database is up to date"]


def test_dry_run_says_what_it_would_repair_and_changes_nothing(db: TestDB, server_url: str) -> None:
    db.close()
    with _database(server_url, f"{db.name}_dry", template=db.name) as url:
        plan = run_cli("migrate", "--dry-run", url=url)
        assert plan.returncode == 0, plan.stderr
        assert "-- would repair: schema_tool_owner's CREATE on database" in plan.stdout
        assert upgrade.database_state(url) == []


@pytest.fixture(autouse=True)
def _needs_an_app_role(migrated_systems: list[str]) -> None:
    if migrated_systems == ["ops"]:
        pytest.skip("no system with an application role is migrated (SCHEMA_TOOL_TEST_SYSTEMS)")
