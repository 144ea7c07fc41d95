"""`schema-tool up` / `down`: the embedded default, a local cluster under .schema-tool/."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import TextIO

from schema_tool import embedded

DATABASE = "schema_tool"


def up(url: str | None, migrations_root: Path, out: TextIO = sys.stdout) -> int:
    """Start (or reuse) the local cluster unless a URL is given; migrate; maintain; summarise."""
    from schema_tool import maintain
    from schema_tool.migrate import Runner

    started = time.monotonic()
    local = url is None
    if url is None:
        cluster = _start(out)
        _ensure_database(cluster.url("postgres"), DATABASE)
        url = cluster.url(DATABASE)
    Runner(url, migrations_root, out=out).migrate()
    code = maintain.run(url, steps=("drain", "ensure", "retention"), quiet=True, out=out)
    summary(url, out)
    out.write(f"ready in {time.monotonic() - started:.1f}s: {url}\n")
    if local:
        out.write("every schema-tool command uses it when given no database; for psql and your "
                  "application:\n")
        out.write(f"export DATABASE_URL={shlex.quote(url)}\n")
    out.flush()
    return code


def _start(out: TextIO) -> embedded.Cluster:
    """The project's cluster, running: found, found again, or created; and said where."""
    cluster = embedded.load_local()
    if cluster is not None and not cluster.initialized():
        out.write(f"the local PostgreSQL's files in {cluster.pgdir} are gone: creating it again ...\n")
        out.flush()
        cluster = embedded.create_local(embedded.Placement(cluster.pgdir))
    elif cluster is None:
        placement = embedded.local_placement()
        cluster = embedded.adopt_local(placement)
        if cluster is not None:
            out.write(f"found a local PostgreSQL cluster in {cluster.pgdir} (its record in "
                      f"{embedded.state_dir()} was missing): reusing it\n")
        else:
            where = f"{placement.pgdir}" + (f" ({placement.reason}; {embedded.state_dir() / embedded.STATE_FILE}"
                                            " records where it is)" if placement.reason else "")
            out.write(f"creating a local PostgreSQL cluster in {where} ...\n")
            out.flush()
            cluster = embedded.create_local(placement)
    if not cluster.running():
        if embedded.port_in_use(cluster.port):
            old = cluster.port
            cluster.port = embedded.free_port()
            embedded.save_local(cluster)
            out.write(f"port {old} is taken by another program: the local PostgreSQL moves to port "
                      f"{cluster.port}\n")
        out.write(f"starting the local PostgreSQL in {cluster.pgdir} on port {cluster.port} ...\n")
        out.flush()
        cluster.start()
    else:
        out.write(f"the local PostgreSQL in {cluster.pgdir} is running on port {cluster.port}\n")
    embedded.wait_ready(cluster)
    return cluster


def down(purge: bool = False, out: TextIO = sys.stdout) -> int:
    cluster = embedded.load_local()
    if cluster is None:
        out.write("no local PostgreSQL is recorded here "
                  f"({embedded.state_dir() / embedded.STATE_FILE} does not exist)\n")
        return 0
    if cluster.running():
        cluster.stop()
        out.write(f"stopped the local PostgreSQL on port {cluster.port}\n")
    else:
        out.write("no local PostgreSQL is running\n")
    if purge:
        embedded.purge_local(cluster)
        out.write(f"deleted {cluster.pgdir} and its record\n")
    return 0


def running_url(dbname: str) -> str | None:
    """The local cluster's URL when it runs (for commands given no database), else None."""
    cluster = embedded.load_local()
    if cluster is None or not cluster.running():
        return None
    return cluster.url(dbname)


def _ensure_database(admin_url: str, name: str) -> None:
    from schema_tool import dburl

    with dburl.connect(admin_url, app="schema-tool up") as conn:
        exists = conn.execute("SELECT 1 FROM pg_catalog.pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


# Tables are the parents people work with; partitions are the monthly (and DEFAULT) tables
# under them, not the partitions of their indexes.
SUMMARY_SQL = """
SELECT n.nspname,
       count(*) FILTER (WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition),
       count(*) FILTER (WHERE c.relkind IN ('v', 'm')),
       count(*) FILTER (WHERE c.relkind IN ('r', 'p') AND c.relispartition)
FROM pg_catalog.pg_namespace AS n
LEFT JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid
WHERE pg_catalog.pg_get_userbyid(n.nspowner) = 'schema_tool_owner'
GROUP BY n.nspname ORDER BY n.nspname
"""


def summary(url: str, out: TextIO) -> None:
    from schema_tool import dburl

    with dburl.connect(url, app="schema-tool up") as conn:
        rows = conn.execute(SUMMARY_SQL).fetchall()
    width = max([len("schema"), *(len(r[0]) for r in rows)])
    out.write(f"{'schema':<{width}}  tables  views  partitions\n")
    for schema, tables, views, parts in rows:
        out.write(f"{schema:<{width}}  {tables:>6}  {views:>5}  {parts:>10}\n")
