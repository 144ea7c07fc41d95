"""Advisory locks that die with their session, and a watcher that names lock waits."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psycopg

from schema_tool import dburl

# Two-key advisory locks: (namespace, purpose). 0x5354 is "ST".
NAMESPACE = 0x5354
MIGRATE = 1
MAINTAIN = 2

HOLDER_SQL = """
SELECT a.pid, coalesce(nullif(a.application_name, ''), '?'), coalesce(a.state, '?'),
       pg_catalog.to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS TZ')
FROM pg_catalog.pg_locks AS l
JOIN pg_catalog.pg_stat_activity AS a ON a.pid = l.pid
WHERE l.locktype = 'advisory' AND l.granted
  AND l.database = (SELECT oid FROM pg_catalog.pg_database WHERE datname = current_database())
  AND l.classid = %s AND l.objid = %s AND l.objsubid = 2
"""


def try_lock(conn: psycopg.Connection, purpose: int) -> bool:
    row = conn.execute("SELECT pg_catalog.pg_try_advisory_lock(%s, %s)", (NAMESPACE, purpose)).fetchone()
    return bool(row and row[0])


def unlock(conn: psycopg.Connection, purpose: int) -> None:
    conn.execute("SELECT pg_catalog.pg_advisory_unlock(%s, %s)", (NAMESPACE, purpose))


def holder(conn: psycopg.Connection, purpose: int) -> str:
    """Who holds the lock, for the one-line message (pid, application, since)."""
    row = conn.execute(HOLDER_SQL, (NAMESPACE, purpose)).fetchone()
    if not row:
        return "a session that just ended"
    pid, app, state, since = row
    return f"pid {pid}, application '{app}', {state}, connected since {since}"


def acquire(conn: psycopg.Connection, purpose: int, wait_seconds: float, poll: float = 0.2) -> bool:
    """Take the session lock, waiting up to wait_seconds; False if another session keeps it."""
    deadline = time.monotonic() + max(wait_seconds, 0)
    while True:
        if try_lock(conn, purpose):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(poll)


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

    def __enter__(self) -> "LockWatcher":
        self._thread = threading.Thread(target=self._run, name="lock-watcher", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=5)

    def _run(self) -> None:
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
