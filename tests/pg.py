"""Helpers for tests: a test database handle, role switching, concurrent connections."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import psycopg.sql
from psycopg import conninfo

import forkcli

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / "schema-tool"


def scratch_dir() -> str:
    """Memory (tmpfs) when it has room, else /tmp: every test's clone of the template is
    written and dropped, some 20 GB a run, and on a throttled disk the writes set the pace."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free >= 4 << 30:
            return str(shm)
    except OSError:
        pass
    return "/tmp"


@dataclass
class TestDB:
    """One test's own database (a clone of the migrated template)."""

    __test__ = False  # not a test class

    url: str
    _open: list[psycopg.Connection] = field(default_factory=list)

    @property
    def name(self) -> str:
        return conninfo.conninfo_to_dict(self.url)["dbname"]

    def url_for(self, dbname: str) -> str:
        params = conninfo.conninfo_to_dict(self.url)
        params["dbname"] = dbname
        return conninfo.make_conninfo(**params)

    def connect(self, *, autocommit: bool = True, role: str | None = None,
                settings: dict[str, str] | None = None) -> psycopg.Connection:
        """A new connection; with `role`, SET ROLE for the whole session."""
        conn = psycopg.connect(self.url, autocommit=autocommit)
        self._open.append(conn)
        if role:
            conn.execute(psycopg.sql.SQL("SET ROLE {}").format(psycopg.sql.Identifier(role)))
            if not autocommit:
                conn.commit()
        for name, value in (settings or {}).items():
            conn.execute("SELECT set_config(%s, %s, false)", (name, value))
        return conn

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> list[tuple]:
        with psycopg.connect(self.url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def execute(self, sql: str, params: Sequence[Any] | dict[str, Any] | None = None) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(sql, params)

    @contextlib.contextmanager
    def as_role(self, role: str, settings: dict[str, str] | None = None) -> Iterator[psycopg.Connection]:
        """A transaction run as `role` with SET LOCAL settings (e.g. app.user_id); rolled back."""
        with psycopg.connect(self.url) as conn:
            conn.execute(psycopg.sql.SQL("SET LOCAL ROLE {}").format(psycopg.sql.Identifier(role)))
            for name, value in (settings or {}).items():
                conn.execute("SELECT set_config(%s, %s, true)", (name, value))
            try:
                yield conn
            finally:
                conn.rollback()

    def cli(self, *args: str, timeout: float = 120, url: str | None = None,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run the real console script against this database."""
        return run_cli(*args, url=url or self.url, timeout=timeout, env=env)

    def close(self) -> None:
        for conn in self._open:
            with contextlib.suppress(Exception):
                conn.close()
        self._open.clear()


def cli_env(url: str | None = None, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: the tests' own, `env` on top, DATABASE_URL only when given."""
    # no local cluster of `schema-tool up` unless a test names one: a developer's own must not be used
    full_env = {**os.environ, "SCHEMA_TOOL_STATE_DIR": str(ROOT / ".schema-tool" / "tests-none"), **(env or {})}
    full_env.pop("DATABASE_URL", None)
    if url is not None:
        full_env["DATABASE_URL"] = url
    return full_env


def run_script(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """The console script itself, in a new interpreter."""
    return subprocess.run([str(CLI), *args], capture_output=True, text=True, timeout=timeout,
                          env=env, cwd=str(ROOT))


def run_cli(*args: str, url: str | None = None, timeout: float = 120,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = cli_env(url, env)
    if os.environ.get("SCHEMA_TOOL_TEST_REAL_CLI"):
        return run_script(*args, env=full_env, timeout=timeout)
    return forkcli.run([str(CLI), *args], full_env, str(ROOT), timeout)  # the same, without the start-up


def concurrently(n: int, url: str, work: Callable[[psycopg.Connection, int], Any],
                 *, autocommit: bool = True, timeout: float = 60) -> list[Any]:
    """Run work(conn, i) on n real connections released together by a barrier.

    Returns each worker's result, or the exception it raised, in worker order."""
    conns = [psycopg.connect(url, autocommit=autocommit) for _ in range(n)]
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(timeout)
            results[i] = work(conns[i], i)
        except BaseException as exc:  # reported to the caller, not swallowed
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout)
        alive = [t for t in threads if t.is_alive()]
        if alive:
            raise TimeoutError(f"{len(alive)} of {n} workers still running after {timeout}s")
    finally:
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
    return results


def insert_row(conn: psycopg.Connection, schema: str, table: str, cols: dict[str, Any]) -> Any:
    """INSERT one row into schema.table; returns its id."""
    names = list(cols)
    stmt = psycopg.sql.SQL("INSERT INTO {}.{} ({}) VALUES ({}) RETURNING id").format(
        psycopg.sql.Identifier(schema), psycopg.sql.Identifier(table),
        psycopg.sql.SQL(", ").join(map(psycopg.sql.Identifier, names)),
        psycopg.sql.SQL(", ").join(psycopg.sql.Placeholder() * len(names)),
    )
    return conn.execute(stmt, [cols[n] for n in names]).fetchone()[0]


def rejected_checks(url: str, schema: str, bad_updates: list[tuple[str, str, str]],
                    where: dict[str, str]) -> list[tuple[str, str, str | None]]:
    """Applies each (table, SET clause, expected constraint) in its own subtransaction and
    returns (table, SET clause, constraint PostgreSQL named) for each CheckViolation."""
    reported = []
    with psycopg.connect(url) as conn:
        for table, change, _expected in bad_updates:
            try:
                with conn.transaction():
                    conn.execute(f"UPDATE {schema}.{table} SET {change} WHERE {where[table]}")
            except psycopg.errors.CheckViolation as exc:
                reported.append((table, change, exc.diag.constraint_name))
    return reported


def errors(results: list[Any]) -> list[BaseException]:
    return [r for r in results if isinstance(r, BaseException)]
