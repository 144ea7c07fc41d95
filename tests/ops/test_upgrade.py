"""Upgrades: a database migrated with an earlier release (its own runner and files, from
git) migrates with the current ones, is never refused, and ends exactly where a fresh
migration does; status says honestly which text each migration was applied with."""

from __future__ import annotations

import difflib
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import conninfo, sql

import migdirs
import upgrade
from pg import TestDB, run_cli
from schema_tool import paths
from schema_tool.migrate import Runner

# Each earlier text of a released file that the manifest accepts is applied by one case.
EARLIER = [
    pytest.param(upgrade.PREVIOUS_RELEASE, id="previous-release"),  # replay_0001/0003, recorder_0003 corrected since
    pytest.param("790def9", id="first-ops"),  # ops_0001 and ops_0002 as first written: catch-ups
    pytest.param("b84528b", id="second-engine"),  # ops_0002's second text
    pytest.param("7906cbe", id="first-scrapifie"),  # ops_0002's third text, scrapifie_0001's first
]


@dataclass
class Fresh:
    schema: str
    state: list[tuple]


@pytest.fixture(scope="session")
def fresh(server_url: str) -> Iterator[Fresh]:
    """Every migration of this checkout applied to a new database, as it dumps."""
    name = f"st_fresh_{os.getpid()}"
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = conninfo.make_conninfo(server_url, dbname=name)
    try:
        with open(os.devnull, "w") as quiet:
            Runner(url, paths.migrations_dir(), out=quiet).migrate()
        yield Fresh(upgrade.schema_dump(url), upgrade.database_state(url))
    finally:
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


def _migrate_with(rev: str, url: str) -> None:
    try:
        upgrade.migrate_with(rev, url)
    except upgrade.Unavailable as exc:
        pytest.skip(f"the files of {rev} are not available: {exc}")


def _status(url: str) -> dict[str, dict]:
    result = run_cli("status", "--json", url=url)
    assert result.returncode == 0, result.stdout + result.stderr
    return {e["id"]: e for e in json.loads(result.stdout)["migrations"]}


def _same(upgraded: str, fresh: str) -> None:
    if upgraded != fresh:
        diff = "".join(difflib.unified_diff(fresh.splitlines(True), upgraded.splitlines(True),
                                            "fresh migration", "upgraded", n=2))
        pytest.fail(f"the upgraded database differs from a fresh migration:\n{diff[:6000]}")


@pytest.mark.parametrize("rev", EARLIER)
def test_upgrade_ends_where_a_fresh_migration_does(rev: str, empty_db: TestDB, fresh: Fresh) -> None:
    _migrate_with(rev, empty_db.url)
    assert empty_db.scalar("SELECT to_regclass('public._yoyo_migration')") is not None  # the old layout
    before = _status(empty_db.url)
    assert not [e for e in before.values() if e["state"] in ("edited", "unknown")]

    result = run_cli("migrate", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert "moved the migration bookkeeping from public to schema schema_tool" in result.stdout
    _same(upgrade.schema_dump(empty_db.url), fresh.schema)
    assert upgrade.database_state(empty_db.url) == fresh.state

    after = _status(empty_db.url)
    assert {e["state"] for e in after.values()} == {"applied"}
    assert [mid for mid, e in after.items() if e["catch_up"] == "pending"] == []
    for mid, entry in before.items():
        if entry["catch_up"] == "pending":
            assert after[mid]["catch_up"] == "done" and after[mid]["revision"] == "current", after[mid]
            assert "caught up from its earlier text of" in after[mid]["note"]
        if entry["revision"] == "earlier" and entry["catch_up"] is None:
            assert after[mid]["revision"] == "earlier" and "accepted as equivalent" in after[mid]["note"]

    again = run_cli("migrate", url=empty_db.url)
    assert again.returncode == 0, again.stderr
    assert again.stdout.splitlines() == ["nothing to apply: the database is up to date"]


def test_previous_release_status_names_the_earlier_texts(empty_db: TestDB) -> None:
    _migrate_with(upgrade.PREVIOUS_RELEASE, empty_db.url)
    status = _status(empty_db.url)
    earlier = sorted(mid for mid, e in status.items() if e["revision"] == "earlier")
    assert earlier == ["recorder_0003_teams", "replay_0001_schema", "replay_0003_tenancy"]
    assert all(f"earlier text of {upgrade.PREVIOUS_RELEASE}" in status[mid]["note"] for mid in earlier)
    pending = [mid for mid, e in status.items() if e["state"] == "pending"]
    assert "ops_0003_roles" in pending


def test_rollback_waits_for_a_pending_catch_up(empty_db: TestDB) -> None:
    _migrate_with("790def9", empty_db.url)
    status = _status(empty_db.url)
    assert status["ops_0002_partition_engine"]["catch_up"] == "pending"
    refused = run_cli("rollback", url=empty_db.url)
    assert refused.returncode == 1
    assert "catch-up" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    assert migdirs.applied(empty_db.url) == ["ops_0001_foundation", "ops_0002_partition_engine"]
    plan = run_cli("migrate", "--dry-run", url=empty_db.url)
    assert plan.returncode == 0, plan.stderr
    assert "-- catch up ops_0002_partition_engine from its earlier text of 790def9" in plan.stdout
    assert _status(empty_db.url)["ops_0002_partition_engine"]["catch_up"] == "pending"


def test_two_runs_moving_the_bookkeeping_at_once(empty_db: TestDB) -> None:
    """The move happens under the migration lock: one run moves, the other finds it done."""
    import subprocess

    from pg import CLI, ROOT

    try:
        upgrade.migrate_with(upgrade.PREVIOUS_RELEASE, empty_db.url, ["ops"])
    except upgrade.Unavailable as exc:
        pytest.skip(f"the previous release is not available: {exc}")
    before = migdirs.applied(empty_db.url)
    env = {**os.environ, "DATABASE_URL": empty_db.url}
    runs = [subprocess.Popen([str(CLI), "migrate", "--system", "ops"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env, cwd=str(ROOT)) for _ in range(2)]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    assert sum("moved the migration bookkeeping" in out for out, _err in outputs) == 1
    after = migdirs.applied(empty_db.url)
    assert set(before) < set(after) and after == migdirs.ops_ids()
    assert empty_db.scalar("SELECT to_regclass('public._yoyo_migration')") is None
    assert empty_db.scalar("SELECT count(*) FROM schema_tool._yoyo_log WHERE operation = 'apply'") == len(after)


def test_app_roles_made_before_ops_0003_become_noinherit(empty_db: TestDB) -> None:
    """ops_0001 made <system>_app INHERIT, and roles outlive databases; ops_0005 brings
    them to what ops_0003 makes (found by the whole suite on an upgraded template)."""
    _migrate_with(upgrade.PREVIOUS_RELEASE, empty_db.url)
    roles = [r[0] for r in empty_db.query("SELECT rolname FROM pg_roles WHERE rolname ~ '^(replay|recorder|scrapifie)_app$'"
                                          " ORDER BY 1")]
    assert roles
    try:
        for role in roles:  # as the earlier release's ops_0001 created them on a new cluster
            empty_db.execute(f'ALTER ROLE "{role}" INHERIT')
        result = run_cli("migrate", url=empty_db.url)
        assert result.returncode == 0, result.stderr
        assert empty_db.query("SELECT rolname FROM pg_roles WHERE rolname = ANY(%s) AND rolinherit", (roles,)) == []
    finally:
        for role in roles:
            empty_db.execute(f'ALTER ROLE "{role}" NOINHERIT')
