"""Fresh clones of the migrated template database, made ahead of need.

CREATE DATABASE ... TEMPLATE of a template with ~1,000 relations takes most of a second;
a background thread makes the next clones while the current test runs, so a test waits
only when it outruns the thread. Every test still gets its own, never-used clone.
"""

from __future__ import annotations

import itertools
import os
import queue
import threading

import psycopg
from psycopg import sql


class ClonePool:
    def __init__(self, server_url: str, template: str, ahead: int = 2):
        self._server_url = server_url
        self._template = template
        self._ready: queue.Queue[str] = queue.Queue(maxsize=ahead)
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._names = (f"st_clone_{os.getpid()}_{n}" for n in itertools.count(1))
        self._thread = threading.Thread(target=self._fill, name="clone-pool", daemon=True)
        self._thread.start()

    def _fill(self) -> None:
        try:
            with psycopg.connect(self._server_url, autocommit=True) as conn:
                while not self._stop.is_set():
                    name = next(self._names)
                    conn.execute(sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        sql.Identifier(name), sql.Identifier(self._template)))
                    # database-level grants are not copied from a template (nor restored
                    # into a new database): the owner's CREATE, as ops_0001 granted it
                    conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO schema_tool_owner").format(
                        sql.Identifier(name)))
                    while not self._stop.is_set():
                        try:
                            self._ready.put(name, timeout=0.2)
                            break
                        except queue.Full:
                            continue
                    else:
                        self._drop(conn, name)
        except BaseException as exc:  # reported by take()
            self._failure = exc

    def take(self, timeout: float = 120) -> str:
        while True:
            if self._failure is not None:
                raise RuntimeError(f"cloning the template database failed: {self._failure}")
            try:
                return self._ready.get(timeout=min(timeout, 1.0))
            except queue.Empty:
                timeout -= 1.0
                if timeout <= 0:
                    raise TimeoutError("no clone of the template database became ready") from None

    def drop(self, name: str) -> None:
        with psycopg.connect(self._server_url, autocommit=True) as conn:
            self._drop(conn, name)

    @staticmethod
    def _drop(conn: psycopg.Connection, name: str) -> None:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)
        while not self._ready.empty():
            self.drop(self._ready.get_nowait())
