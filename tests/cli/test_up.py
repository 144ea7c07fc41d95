"""`schema-tool up` (no URL): a local cluster, migrated and maintained, that every other
command then uses when given no database; again: nothing changes; `down` stops it, and
`down --purge` deletes it. Where the cluster lives is said, recorded under .schema-tool/,
and found again when that record is lost."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
from pathlib import Path

import psycopg
import pytest

from conftest import selected_systems
from pg import run_cli
from schema_tool import paths

URL = re.compile(r"^ready in [\d.]+s: (postgresql://postgres@localhost:(\d+)/schema_tool)$", re.M)


def _migrations(tmp_path: Path, systems: list[str] | None) -> list[str]:
    """The real migrations, or a copy of only these systems' folders (and ops)."""
    if systems is None:
        return []
    root = tmp_path / "migrations"
    for system in dict.fromkeys(["ops", *systems]):
        shutil.copytree(paths.migrations_dir() / system, root / system)
    return ["--migrations-dir", str(root)]


def _up(extra: list[str], env: dict[str, str]) -> tuple[str, str]:
    """Runs up; returns (URL, stdout)."""
    result = run_cli(*extra, "up", env=env, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    match = URL.search(result.stdout)
    assert match, result.stdout
    assert f"export DATABASE_URL={match.group(1)}" in result.stdout.splitlines()
    return match.group(1), result.stdout


def _cleanup(env: dict[str, str]) -> None:
    run_cli("down", "--purge", env=env)


def _state(url: str) -> tuple:
    with psycopg.connect(url) as conn:
        return (
            conn.execute("SELECT count(*) FROM schema_tool._yoyo_log").fetchone()[0],
            conn.execute("SELECT count(*) FROM ops.maintenance_log").fetchone()[0],
            conn.execute("SELECT count(*) FROM pg_class").fetchone()[0],
        )


def _summary(stdout: str) -> dict[str, tuple[int, int, int]]:
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("schema "))
    table = {}
    ends = {len(lines[start])}
    for line in lines[start + 1:]:
        if line.startswith("ready in"):
            break
        schema, tables, views, parts = line.split()
        table[schema] = (int(tables), int(views), int(parts))
        ends.add(len(line))
    assert len(ends) == 1, f"columns are not aligned:\n{stdout}"
    return table


def test_up_twice_then_down(tmp_path: Path) -> None:
    env = {"SCHEMA_TOOL_STATE_DIR": str(tmp_path / "state")}
    extra = _migrations(tmp_path, selected_systems())
    try:
        url, first = _up(extra, env)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CREATE SCHEMA a_schema_name_longer_than_the_column AUTHORIZATION schema_tool_owner")
            counted = dict(conn.execute(
                "SELECT n.nspname, count(c.oid) FILTER (WHERE c.relkind IN ('r', 'p') AND c.relispartition)"
                " FROM pg_namespace n LEFT JOIN pg_class c ON c.relnamespace = n.oid"
                " WHERE pg_get_userbyid(n.nspowner) = 'schema_tool_owner' GROUP BY 1").fetchall())
        before = _state(url)

        url_again, second = _up(extra, env)
        assert url_again == url
        assert "creating a local PostgreSQL cluster" not in second
        assert _state(url) == before, "a second up changed the database"
        summary = _summary(second)  # aligned, with a long schema name in it
        assert {s: parts for s, (_, _, parts) in summary.items()} == counted, "partitions: tables, not indexes"

        # every command finds the local cluster when given no database, and says so on stderr
        for command in (["status"], ["maintain", "--json"], ["partitions", "list"]):
            result = run_cli(*command, env=env)
            assert result.returncode == 0, result.stderr
            assert result.stderr.strip() == (f"schema-tool: no --database-url or DATABASE_URL given: using the"
                                             f" local PostgreSQL of `schema-tool up`, {url}")
        assert json.loads(run_cli("maintain", "--json", env=env).stdout)["ok"] is True
        dumped = run_cli("dump", "--system", "ops", "--output-dir", str(tmp_path / "sql"), env=env)
        assert dumped.returncode == 0, dumped.stderr
        assert url.replace("/schema_tool", "/postgres") in dumped.stderr
        assert (tmp_path / "sql" / "ops.sql").read_text() == (paths.snapshots_dir() / "ops.sql").read_text()

        stopped = run_cli("down", env=env)
        assert stopped.returncode == 0 and "stopped" in stopped.stdout
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(url, connect_timeout=2)
        again = run_cli("down", env=env)
        assert again.returncode == 0 and "no local PostgreSQL is running" in again.stdout
        nothing = run_cli("status", env=env)
        assert nothing.returncode == 2 and "no database given" in nothing.stderr
    finally:
        _cleanup(env)


def test_up_moves_off_a_taken_port_recreates_lost_files_and_purges(tmp_path: Path) -> None:
    env = {"SCHEMA_TOOL_STATE_DIR": str(tmp_path / "state")}
    extra = _migrations(tmp_path, [])  # ops only: this test is about the cluster, not the schemas
    record = tmp_path / "state" / "cluster.json"
    try:
        url, first = _up(extra, env)
        pgdir = Path(json.loads(record.read_text())["pgdir"])
        assert f"creating a local PostgreSQL cluster in {pgdir}" in first
        port = int(URL.search(first).group(2))
        assert run_cli("down", env=env).returncode == 0

        with socket.socket() as squatter:  # another program takes the port meanwhile
            squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            squatter.bind(("127.0.0.1", port))
            squatter.listen()
            moved_url, moved = _up(extra, env)
        new_port = int(URL.search(moved).group(2))
        assert new_port != port
        assert f"port {port} is taken by another program: the local PostgreSQL moves to port {new_port}" in moved
        assert json.loads(record.read_text())["port"] == new_port

        assert run_cli("down", env=env).returncode == 0
        shutil.rmtree(pgdir)  # the files are gone, the record is not
        _, recreated = _up(extra, env)
        assert f"the local PostgreSQL's files in {pgdir} are gone: creating it again" in recreated

        purged = run_cli("down", "--purge", env=env)
        assert purged.returncode == 0, purged.stderr
        assert f"deleted {pgdir}" in purged.stdout
        assert not pgdir.exists() and not record.exists()
    finally:
        _cleanup(env)


@pytest.mark.skipif(os.geteuid() != 0, reason="only root puts the cluster outside .schema-tool/")
def test_root_in_a_private_directory_keeps_the_cluster_findable(tmp_path: Path) -> None:
    private = tmp_path / "private"
    private.mkdir(mode=0o700)  # the server's OS user cannot enter it
    state = private / ".schema-tool"
    env = {"SCHEMA_TOOL_STATE_DIR": str(state)}
    extra = _migrations(tmp_path, [])
    try:
        _, first = _up(extra, env)
        pgdir = Path(json.loads((state / "cluster.json").read_text())["pgdir"])
        assert pgdir.parent == Path("/var/tmp") and pgdir.name.startswith("schema-tool-")
        assert (f"creating a local PostgreSQL cluster in {pgdir} (the 'postgres' OS user that runs the server"
                f" cannot enter {state}; {state / 'cluster.json'} records where it is)") in first

        shutil.rmtree(state)  # what made the next up fail with initdb's "directory exists"
        url, again = _up(extra, env)
        assert f"found a local PostgreSQL cluster in {pgdir}" in again and "reusing it" in again
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT to_regclass('ops.partitioned_tables')").fetchone()[0] is not None

        assert run_cli("down", "--purge", env=env).returncode == 0
        assert not pgdir.exists()
    finally:
        _cleanup(env)


def test_purge_deletes_only_a_cluster_directory(tmp_path: Path) -> None:
    """Whatever the record says, `down --purge` never deletes a directory of other files."""
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "notes.txt").write_text("keep me")
    state = tmp_path / "state"
    state.mkdir()
    (state / "cluster.json").write_text(json.dumps({"pgdir": str(precious), "port": 1}))
    result = run_cli("down", "--purge", env={"SCHEMA_TOOL_STATE_DIR": str(state)})
    assert result.returncode == 1
    assert result.stderr.strip() == (f"schema-tool: not deleting {precious}: it holds more than a PostgreSQL "
                                     "cluster (notes.txt)")
    assert (precious / "notes.txt").read_text() == "keep me" and (state / "cluster.json").exists()
