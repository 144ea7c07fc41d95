"""Concurrent-index migrations: index builds on live tables that do not block writes.

`CREATE INDEX CONCURRENTLY` cannot run in a transaction, so such a migration is not
all-or-nothing. What makes it safe to re-run instead:
- every statement is idempotent (`IF NOT EXISTS` / `IF EXISTS`), checked by
  `sources.concurrent_steps` before anything runs;
- a build that failed half way leaves an INVALID index behind (PostgreSQL keeps it, it
  slows writes and serves no query): it is dropped concurrently and built again;
- the migration is recorded as applied only after every statement succeeded.

No lock_timeout here: a concurrent build takes SHARE UPDATE EXCLUSIVE, which blocks no
reader or writer, and then waits for the transactions older than it to end; cutting that
wait short would only leave an INVALID index behind. A long wait shows in
pg_stat_progress_create_index.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg

from schema_tool import dburl, sources
from schema_tool.errors import ToolError

INDEX_STATE_SQL = """
SELECT i.indisvalid
FROM pg_catalog.pg_index AS i
JOIN pg_catalog.pg_class AS c ON c.oid = i.indexrelid
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""


def run(url: str, steps: list[sources.IndexStep], *, migration_id: str, verb: str,
        say: Callable[[str], None]) -> None:
    """Run the steps one by one in autocommit, on a connection of their own."""
    conn = dburl.connect(url, app=f"schema-tool {verb} (concurrent index)", lock_timeout="0")
    try:
        dburl.end_with_client(conn)
        for number, step in enumerate(steps, start=1):
            try:
                _run_step(conn, step, say)
            except psycopg.Error as exc:
                raise ToolError(
                    f"{verb} {migration_id} failed at statement {number} of {len(steps)} "
                    f"({step.action} index {step.schema}.{step.index}): {dburl.error_line(exc)}; "
                    f"{number - 1} statement(s) before it are done and it is not recorded as "
                    "applied: run it again (done statements are skipped, an INVALID index is rebuilt)"
                ) from None
    finally:
        conn.close()


def _run_step(conn: psycopg.Connection, step: sources.IndexStep, say: Callable[[str], None]) -> None:
    if step.action == "create":
        row = conn.execute(INDEX_STATE_SQL, (step.schema, step.index)).fetchone()
        if row is not None and not row[0]:
            say(f"  dropping INVALID index {step.schema}.{step.index} left by a failed build")
            conn.execute(f'DROP INDEX CONCURRENTLY IF EXISTS "{step.schema}"."{step.index}"')
    conn.execute(step.sql)  # no parameters: % is literal
    if step.action == "create":
        row = conn.execute(INDEX_STATE_SQL, (step.schema, step.index)).fetchone()
        if row is None or not row[0]:
            raise ToolError(f"index {step.schema}.{step.index} is not valid after its build")
