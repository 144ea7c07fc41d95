"""A Supabase-like PostgreSQL for the tests in this folder.

A cluster of its own (the session's cluster has a superuser named `postgres`; here
`postgres` must be an ordinary CREATEROLE role, so the bootstrap superuser is
`supabase_admin`), started once per session on first use, with roles.sql applied; each
test gets a new project database cloned from a template holding project.sql. Skips, with
the reason, when the cluster cannot start.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import conninfo, sql

from schema_tool import embedded
from schema_tool.errors import ToolError

HERE = Path(__file__).parent
TEMPLATE = "sb_template"
_names = (f"sb_project_{n}" for n in itertools.count(1))


@dataclass
class Supabase:
    """The Supabase-like cluster."""

    port: int

    def url(self, dbname: str, user: str = "postgres") -> str:
        return conninfo.make_conninfo(host="localhost", port=self.port, user=user, dbname=dbname)

    def admin(self, dbname: str = "postgres") -> psycopg.Connection:
        return psycopg.connect(self.url(dbname, "supabase_admin"), autocommit=True)


@dataclass
class Project:
    """One project database: `url` is Supabase's `postgres` (what users migrate as),
    `admin_url` the bootstrap superuser's (for looking, never for migrating)."""

    name: str
    url: str
    admin_url: str

    def scalar(self, query: str, params: object = None) -> object:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            row = conn.execute(query, params).fetchone()
            return row[0] if row else None

    def query(self, query: str, params: object = None) -> list[tuple]:
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            return conn.execute(query, params).fetchall()


@pytest.fixture(scope="session")
def supabase() -> Iterator[Supabase]:
    base = Path(tempfile.mkdtemp(prefix="schema-tool-supabase-", dir="/tmp"))
    os.chmod(base, 0o755)
    try:
        cluster = embedded.Cluster(base / "pg", embedded.free_port(), embedded.server_os_user(),
                                   superuser="supabase_admin")
        cluster.init({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                      "max_locks_per_transaction": "256", "log_min_messages": "warning"})
        cluster.start()
    except (ToolError, OSError) as exc:
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(f"cannot start a Supabase-like cluster: {exc}")
    handle = Supabase(cluster.port)
    try:
        with handle.admin() as conn:
            conn.execute((HERE / "roles.sql").read_text())
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER postgres").format(sql.Identifier(TEMPLATE)))
        with handle.admin(TEMPLATE) as conn:
            conn.execute((HERE / "project.sql").read_text())
        yield handle
    finally:
        try:
            cluster.stop()
        finally:
            shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def project(supabase: Supabase) -> Iterator[Project]:
    """A new Supabase-like project database (nothing of ours in it yet)."""
    name = next(_names)
    with supabase.admin() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {} OWNER postgres").format(
            sql.Identifier(name), sql.Identifier(TEMPLATE)))
    yield Project(name, supabase.url(name), supabase.url(name, "supabase_admin"))
    with supabase.admin() as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
