"""Fresh clones of the migrated template database, made ahead of need.

CREATE DATABASE ... TEMPLATE of a template with ~1,000 relations takes most of a second;
background threads make the next clones while the current test runs (two: one CREATE
DATABASE keeps one server process busy, and most tests are faster than that), and drop
used ones, so a test waits only when it outruns them. Every test still gets its own,
never-used clone.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import queue
import threading
from collections.abc import Iterator

import psycopg
from psycopg import sql


class ClonePool:
    def __init__(self, server_url: str, template: str, ahead: int = 3, makers: int = 2):
        self._server_url = server_url
        self._template = template
        self._ready: queue.Queue[str] = queue.Queue(maxsize=ahead)
        self._used: queue.Queue[str | None] = queue.Queue()
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._lock = threading.Lock()
        self._cond = threading.Condition()
        self._active = 0  # CREATE or DROP DATABASE statements running
        self._paused = False
        self._names = (f"st_clone_{os.getpid()}_{n}" for n in itertools.count(1))
        self._threads = [threading.Thread(target=self._fill, name=f"clone-maker-{i}", daemon=True)
                         for i in range(makers)]
        self._dropper = threading.Thread(target=self._drop_used, name="clone-dropper", daemon=True)
        for thread in [*self._threads, self._dropper]:
            thread.start()

    def _next_name(self) -> str:
        with self._lock:
            return next(self._names)

    def _fill(self) -> None:
        try:
            with psycopg.connect(self._server_url, autocommit=True) as conn:
                while not self._stop.is_set():
                    name = self._next_name()
                    with self._operation():
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

    def _drop_used(self) -> None:
        with psycopg.connect(self._server_url, autocommit=True) as conn:
            while (name := self._used.get()) is not None:
                with self._operation():
                    self._drop(conn, name)

    @contextlib.contextmanager
    def _operation(self) -> Iterator[None]:
        with self._cond:
            while self._paused:
                self._cond.wait()
            self._active += 1
        try:
            yield
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """No database created or dropped meanwhile (a base backup copies the files)."""
        with self._cond:
            self._paused = True
            while self._active:
                self._cond.wait()
        try:
            yield
        finally:
            with self._cond:
                self._paused = False
                self._cond.notify_all()

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
        """Done with: dropped in the background (the test's connections are closed)."""
        self._used.put(name)

    @staticmethod
    def _drop(conn: psycopg.Connection, name: str) -> None:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def close(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        while not self._ready.empty():
            self._used.put(self._ready.get_nowait())
        self._used.put(None)
        self._dropper.join(timeout=120)
