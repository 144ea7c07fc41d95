"""`schema-tool up` / `down`: the embedded default, a local cluster under .schema-tool/."""

from __future__ import annotations

import sys
import time
from pathlib import Path

from schema_tool import dburl, embedded
from schema_tool.errors import ToolError

DATABASE = "schema_tool"


def up(url: str | None, migrations_root: Path) -> int:
    """Start (or reuse) the local cluster unless a URL is given; migrate; maintain; summarise."""
    from schema_tool import maintain
    from schema_tool.migrate import Runner

    started = time.monotonic()
    if url is None:
        cluster = embedded.load_local()
        if cluster is None:
            print("creating a local PostgreSQL cluster ...", flush=True)
            cluster = embedded.create_local()
        if not cluster.running():
            if embedded.port_in_use(cluster.port):
                cluster.port = embedded.free_port()
                embedded.save_local(cluster)
            cluster.start()
        embedded.wait_ready(cluster)
        _ensure_database(cluster.url("postgres"), DATABASE)
        url = cluster.url(DATABASE)
    Runner(url, migrations_root).migrate()
    code = maintain.run(url, steps=("drain", "ensure", "retention"), quiet=True)
    summary(url, sys.stdout)
    print(f"ready in {time.monotonic() - started:.1f}s: {url}")
    return code


def down() -> int:
    cluster = embedded.load_local()
    if cluster is None or not cluster.running():
        print("no local PostgreSQL is running")
        return 0
    cluster.stop()
    print(f"stopped the local PostgreSQL on port {cluster.port}")
    return 0


def running_url(dbname: str) -> str:
    """The local cluster's URL, for commands given no --database-url."""
    cluster = embedded.load_local()
    if cluster is None or not cluster.running():
        raise ToolError("no database given and no local PostgreSQL running: pass --database-url, "
                        "set DATABASE_URL, or run `schema-tool up` first")
    return cluster.url(dbname)


def _ensure_database(admin_url: str, name: str) -> None:
    with dburl.connect(admin_url, app="schema-tool up") as conn:
        exists = conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


SUMMARY_SQL = """
SELECT n.nspname,
       count(*) FILTER (WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition),
       count(*) FILTER (WHERE c.relkind = 'v'),
       count(*) FILTER (WHERE c.relispartition)
FROM pg_catalog.pg_namespace AS n
LEFT JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid
WHERE pg_catalog.pg_get_userbyid(n.nspowner) = 'schema_tool_owner'
GROUP BY n.nspname ORDER BY n.nspname
"""


def summary(url: str, out) -> None:
    with dburl.connect(url, app="schema-tool up") as conn:
        rows = conn.execute(SUMMARY_SQL).fetchall()
    out.write("schema        tables  views  partitions\n")
    for schema, tables, views, parts in rows:
        out.write(f"{schema:<12}  {tables:>6}  {views:>5}  {parts:>10}\n")
