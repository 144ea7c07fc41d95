"""Run locks that no other role can take, and a watcher that names lock waits.

A run (maintain or migrate) holds its lock for as long as it runs, across many
transactions. Where the database has ops.run_locks (ops_0007 and later) the lock is a
row there that only the owner role can write: ops.take_run_lock() records this session
and replaces a holder whose session has ended. Before that (a database being migrated
for the first time) it is the advisory key (0x5354, purpose), which any role can take:
a holder that is not a maintenance role (a superuser or a member of schema_tool_owner)
is then named, and the run fails instead of reporting "another run holds the lock".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from schema_tool.errors import ToolError

if TYPE_CHECKING:
    import psycopg

# Two-key advisory locks: (namespace, purpose). 0x5354 is "ST".
NAMESPACE = 0x5354
MIGRATE = 1
MAINTAIN = 2
PURPOSES = {MIGRATE: "migrate", MAINTAIN: "maintain"}

HAS_RUN_LOCKS_SQL = "SELECT pg_catalog.to_regprocedure('ops.take_run_lock(text)') IS NOT NULL"

ADVISORY_HOLDER_SQL = """
SELECT l.pid, coalesce(r.rolname, '?'), coalesce(nullif(a.application_name, ''), '?'),
       coalesce(r.rolsuper OR CASE WHEN pg_catalog.to_regrole('schema_tool_owner') IS NULL THEN FALSE
                                   ELSE pg_catalog.pg_has_role(r.oid, 'schema_tool_owner', 'MEMBER') END, FALSE)
FROM pg_catalog.pg_locks AS l
LEFT JOIN LATERAL pg_catalog.pg_stat_get_activity(l.pid) AS a ON TRUE
LEFT JOIN pg_catalog.pg_roles AS r ON r.oid = a.usesysid
WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_catalog.pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
  AND l.classid = %s AND l.objid = %s AND l.objsubid = 2
LIMIT 1
"""

LEASE_HOLDER_SQL = """
SELECT pg_catalog.format('pid %%s, user %%s, application ''%%s'', since %%s', holder_pid, holder_user,
                         coalesce(nullif(holder_application, ''), '?'),
                         pg_catalog.to_char(acquired_at, 'YYYY-MM-DD HH24:MI:SS TZ'))
FROM ops.run_locks WHERE purpose = %s AND holder_pid IS NOT NULL
"""


def has_run_locks(conn: psycopg.Connection) -> bool:
    return bool(conn.execute(HAS_RUN_LOCKS_SQL).fetchone()[0])


def try_lock(conn: psycopg.Connection, purpose: int, run_locks: bool | None = None) -> bool:
    """One attempt; raises ToolError when only a non-maintenance role stands in the way."""
    if run_locks is None:
        run_locks = has_run_locks(conn)
    if run_locks:
        return bool(conn.execute("SELECT taken FROM ops.take_run_lock(%s)", (PURPOSES[purpose],)).fetchone()[0])
    got = conn.execute("SELECT pg_catalog.pg_try_advisory_lock(%s, %s)", (NAMESPACE, purpose)).fetchone()[0]
    if got:
        return True
    row = conn.execute(ADVISORY_HOLDER_SQL, (NAMESPACE, purpose)).fetchone()
    if row and not row[3]:
        pid, user, app, _ = row
        raise ToolError(
            f"the {PURPOSES[purpose]} lock is held by pid {pid} (user {user}, application '{app}'), which is "
            f"not a maintenance role (a superuser or a member of schema_tool_owner): nothing done; end that "
            f"session (SELECT pg_terminate_backend({pid})) and run again"
        )
    return False


def unlock(conn: psycopg.Connection, purpose: int) -> None:
    """Release this session's lock of that purpose (whichever kind it holds); never fails
    for a lock it does not hold (a rollback may have dropped ops.run_locks meanwhile)."""
    if has_run_locks(conn):
        conn.execute("SELECT ops.release_run_lock(%s)", (PURPOSES[purpose],))
        return
    conn.execute(
        "SELECT pg_catalog.pg_advisory_unlock(%s, %s) FROM pg_catalog.pg_locks"
        " WHERE locktype = 'advisory' AND granted AND pid = pg_catalog.pg_backend_pid()"
        " AND classid = %s AND objid = %s AND objsubid = 2",
        (NAMESPACE, purpose, NAMESPACE, purpose),
    )


def holder(conn: psycopg.Connection, purpose: int) -> str:
    """Who holds the lock, for the one-line message (pid, user, application, since)."""
    row = None
    if has_run_locks(conn):
        row = conn.execute(LEASE_HOLDER_SQL, (PURPOSES[purpose],)).fetchone()
    if row:
        return row[0]
    adv = conn.execute(ADVISORY_HOLDER_SQL, (NAMESPACE, purpose)).fetchone()
    if adv:
        return f"pid {adv[0]}, user {adv[1]}, application '{adv[2]}'"
    return "a session that just ended"


def acquire(conn: psycopg.Connection, purpose: int, wait_seconds: float, poll: float = 0.2,
            run_locks: bool | None = None) -> bool:
    """Take the run lock, waiting up to wait_seconds; False if another run keeps it."""
    deadline = time.monotonic() + max(wait_seconds, 0)
    while True:
        if try_lock(conn, purpose, run_locks):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)
        run_locks = None  # a migration may have created ops.run_locks meanwhile


@dataclass
class LockWait:
    """What a backend was last seen waiting for."""

    mode: str
    target: str
    blockers: str

    def describe(self) -> str:
        return f"{self.mode} on {self.target}, held by {self.blockers}"


WAIT_SQL = """
SELECT l.mode,
       CASE WHEN l.relation IS NOT NULL THEN l.locktype || ' ' || l.relation::pg_catalog.regclass::text
            ELSE l.locktype END,
       (SELECT pg_catalog.string_agg(
                   'pid ' || b.pid || ' (' || coalesce(b.state, '?') || ', application '''
                   || coalesce(nullif(b.application_name, ''), '?') || ''', transaction open for '
                   || coalesce(pg_catalog.date_trunc('second', pg_catalog.now() - b.xact_start)::text, '?') || ')',
                   ', ')
          FROM pg_catalog.pg_stat_activity AS b
         WHERE b.pid = ANY (pg_catalog.pg_blocking_pids(l.pid)))
FROM pg_catalog.pg_locks AS l
WHERE l.pid = %s AND NOT l.granted
LIMIT 1
"""


class LockWatcher:
    """Polls, from its own connection, what a backend waits for, so a lock_timeout
    failure can say which lock and who held it (PostgreSQL's error says neither)."""

    def __init__(self, url: str, pid: int, interval: float = 0.1):
        self._url = url
        self._pid = pid
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last: LockWait | None = None

    def start(self) -> "LockWatcher":
        self._thread = threading.Thread(target=self._run, name="lock-watcher", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
        import psycopg

        from schema_tool import dburl

        try:
            conn = dburl.connect(self._url, app="schema-tool lock watcher")
        except Exception:  # the watcher is a diagnostic aid; never fail the run for it
            return
        with conn:
            while not self._stop.wait(self._interval):
                try:
                    row = conn.execute(WAIT_SQL, (self._pid,)).fetchone()
                except psycopg.Error:
                    return
                if row:
                    self.last = LockWait(row[0], row[1], row[2] or "a session that has since let go")
