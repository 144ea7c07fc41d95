"""Test harness: one PostgreSQL server per session, one template database migrated
once, and a fresh clone of it (CREATE DATABASE ... TEMPLATE) for every test.

The server is a throwaway cluster started from the machine's PostgreSQL binaries
(as the unprivileged `postgres` OS user when the tests run as root), or an existing
server when SCHEMA_TOOL_TEST_URL names one (a superuser URL).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import conninfo
from pytest_postgresql import factories
from pytest_postgresql.janitor import DatabaseJanitor

from clones import ClonePool
from lint_ahead import Lint
from pg import TestDB, scratch_dir
from schema_tool import embedded, paths
from schema_tool.migrate import Runner

TEST_DB = "st_test"


def selected_systems() -> list[str] | None:
    """SCHEMA_TOOL_TEST_SYSTEMS=replay,recorder migrates only those (and ops) into the
    template, so work on one schema is not blocked by another's unfinished migration.
    Unset (as in CI): every system."""
    raw = os.environ.get("SCHEMA_TOOL_TEST_SYSTEMS", "").strip()
    return [s.strip() for s in raw.split(",") if s.strip()] or None


def _cron_available() -> bool:
    import subprocess

    try:
        libdir = subprocess.run(["pg_config", "--pkglibdir"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return False
    return bool(libdir) and Path(libdir, "pg_cron.so").exists()


def _start_cluster() -> tuple[embedded.Cluster, str]:
    base = Path(tempfile.mkdtemp(prefix="schema-tool-test-", dir=scratch_dir()))
    os.chmod(base, 0o755)
    cluster = embedded.Cluster(base / "pg", embedded.free_port(), embedded.server_os_user())
    settings = {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "max_connections": "120",
        "max_locks_per_transaction": "256",
        "log_min_messages": "warning",
        "log_lock_waits": "on",
    }
    if _cron_available():
        settings["shared_preload_libraries"] = "'pg_cron'"
        settings["cron.database_name"] = "'postgres'"
        settings["cron.use_background_workers"] = "on"
        settings["max_worker_processes"] = "16"
    cluster.init(settings)
    cluster.start()
    return cluster, str(base)


def pytest_configure(config: pytest.Config) -> None:
    external = os.environ.get("SCHEMA_TOOL_TEST_URL")
    if external:
        params = conninfo.conninfo_to_dict(external)
        host, port = params.get("host", "localhost"), int(params.get("port", 5432))
        user, password = params.get("user", "postgres"), params.get("password")
        config._st_cluster = None  # type: ignore[attr-defined]
    else:
        cluster, base = _start_cluster()
        config._st_cluster = (cluster, base)  # type: ignore[attr-defined]
        host, port, user, password = "localhost", cluster.port, cluster.superuser, None
    config.option.postgresql_host = host
    config.option.postgresql_port = port
    config.option.postgresql_user = user
    config.option.postgresql_password = password
    config.option.postgresql_dbname = TEST_DB
    config._st_server_url = conninfo.make_conninfo(  # type: ignore[attr-defined]
        host=host, port=port, user=user, dbname="postgres", **({"password": password} if password else {})
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The sqlfluff lint starts in the background once it is selected (tests/lint_ahead.py)."""
    if any(item.name == "test_sqlfluff_lint_is_clean" for item in items):
        config._st_lint = Lint()  # type: ignore[attr-defined]


def pytest_report_header(config: pytest.Config) -> str:
    earlier = upgrade_from()
    return (f"template: migrated with {earlier}'s files, then upgraded" if earlier
            else "template: a fresh migration")


def pytest_unconfigure(config: pytest.Config) -> None:
    lint = getattr(config, "_st_lint", None)
    if lint:
        lint.stop()
    started = getattr(config, "_st_cluster", None)
    if started:
        cluster, base = started
        try:
            cluster.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


def upgrade_from() -> str | None:
    """SCHEMA_TOOL_TEST_UPGRADE_FROM=<commit> migrates the template with that commit's
    runner and migration files first, then with this checkout's: the whole suite then runs
    on an upgraded database (the upgrade-then-test of issue 12). Unset: a fresh migration."""
    return os.environ.get("SCHEMA_TOOL_TEST_UPGRADE_FROM", "").strip() or None


def migrate_template(host: str, port: int, user: str, dbname: str, password: str | None = None,
                     **_: object) -> None:
    """Loader for pytest-postgresql: migrate the template database once per session."""
    url = conninfo.make_conninfo(host=host, port=port, user=user, dbname=dbname,
                                 **({"password": password} if password else {}))
    earlier = upgrade_from()
    if earlier:
        import upgrade

        upgrade.migrate_with(earlier, url, selected_systems())  # no skip: it was asked for
    with open(os.devnull, "w") as quiet:
        Runner(url, paths.migrations_dir(), out=quiet).migrate(selected_systems())


postgresql_noproc = factories.postgresql_noproc(load=[migrate_template])


@pytest.fixture(scope="session")
def server_url(pytestconfig: pytest.Config) -> str:
    """Superuser URL of the session's server (maintenance database)."""
    return pytestconfig._st_server_url  # type: ignore[attr-defined]


@pytest.fixture(scope="session")
def migrated_systems(postgresql_noproc) -> list[str]:
    """Schemas of the systems migrated into the template database, in dependency order."""
    from schema_tool import sources

    wanted = selected_systems()
    return [s.system for s in sources.available_systems(paths.migrations_dir())
            if wanted is None or s.system == "ops" or s.system in wanted]


def skip_unless_migrated(migrated: list[str], system: str) -> None:
    if system not in migrated:
        pytest.skip(f"{system} not migrated (SCHEMA_TOOL_TEST_SYSTEMS)")


@pytest.fixture(scope="session")
def clone_pool(postgresql_noproc, server_url: str) -> Iterator[ClonePool]:
    """Clones of the template pytest-postgresql migrated once for the session."""
    pool = ClonePool(server_url, postgresql_noproc.template_dbname)
    yield pool
    pool.close()


@pytest.fixture
def db(clone_pool: ClonePool, server_url: str) -> Iterator[TestDB]:
    """This test's own migrated database: a fresh clone of the template."""
    name = clone_pool.take()
    handle = TestDB(conninfo.make_conninfo(server_url, dbname=name))
    yield handle
    handle.close()
    clone_pool.drop(name)


_counter = iter(range(1, 1_000_000))


@pytest.fixture
def empty_db(server_url: str) -> Iterator[TestDB]:
    """A database with nothing migrated (for migration-runner tests)."""
    params = conninfo.conninfo_to_dict(server_url)
    name = f"st_empty_{os.getpid()}_{next(_counter)}"
    janitor = DatabaseJanitor(user=params["user"], host=params["host"], port=params["port"],
                              dbname=name, password=params.get("password"))
    with janitor:
        handle = TestDB(conninfo.make_conninfo(server_url, dbname=name))
        yield handle
        handle.close()
