"""`schema-tool up` (no URL): a local cluster, migrated and maintained; again: nothing
changes; `down` stops it."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import psycopg
import pytest

from conftest import selected_systems
from pg import run_cli
from schema_tool import paths


def _migrations(tmp_path: Path) -> list[str]:
    """The real migrations; a copy of the selected ones under SCHEMA_TOOL_TEST_SYSTEMS."""
    wanted = selected_systems()
    if wanted is None:
        return []
    root = tmp_path / "migrations"
    for system in dict.fromkeys(["ops", *wanted]):
        shutil.copytree(paths.migrations_dir() / system, root / system)
    return ["--migrations-dir", str(root)]


def _state(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT count(*) FROM _yoyo_log").fetchone()[0],
            conn.execute("SELECT count(*) FROM ops.maintenance_log").fetchone()[0],
            conn.execute("SELECT count(*) FROM pg_class").fetchone()[0],
        )


def test_up_twice_then_down(tmp_path: Path) -> None:
    env = {"SCHEMA_TOOL_STATE_DIR": str(tmp_path / "state")}
    extra = _migrations(tmp_path)
    try:
        first = run_cli(*extra, "up", env=env, timeout=300)
        assert first.returncode == 0, first.stdout + first.stderr
        match = re.search(r"(postgresql://postgres@localhost:\d+/schema_tool)", first.stdout)
        assert match, first.stdout
        url = match.group(1)
        assert "ops" in first.stdout and "partitions" in first.stdout
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT count(*) FROM ops.partitioned_tables").fetchone()[0] >= 0
        before = _state(url)

        second = run_cli(*extra, "up", env=env, timeout=300)
        assert second.returncode == 0, second.stderr
        assert url in second.stdout
        assert "creating a local PostgreSQL cluster" not in second.stdout
        assert _state(url) == before, "a second up changed the database"

        stopped = run_cli("down", env=env)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        again = run_cli("down", env=env)
        assert again.returncode == 0 and "no local PostgreSQL is running" in again.stdout
    finally:
        run_cli("down", env=env)
        state = tmp_path / "state" / "cluster.json"
        if state.exists():
            import json

            shutil.rmtree(json.loads(state.read_text())["pgdir"], ignore_errors=True)
