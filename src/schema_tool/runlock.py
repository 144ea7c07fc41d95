"""One migration run at a time: the advisory lock, the bookkeeping, then yoyo's lock row."""

from __future__ import annotations

from collections.abc import Callable

from schema_tool import bookkeeping, locks
from schema_tool.backend import Backend
from schema_tool.errors import ToolError


class RunLock:
    """The run's advisory lock (it dies with the session, so a killed run never blocks the
    next), then the bookkeeping created or moved into place, then yoyo's lock row (a dead
    run's row is removed: every schema-tool run takes the advisory lock first)."""

    def __init__(self, backend: Backend, wait: float, say: Callable[[str], None]):
        self.backend = backend
        self.wait = wait
        self.say = say
        self._yoyo_lock = None

    def __enter__(self) -> None:
        conn = self.backend.conn()
        if not locks.acquire(conn, locks.MIGRATE, self.wait):
            raise ToolError(
                f"another migration is running ({locks.holder(conn, locks.MIGRATE)}); "
                f"waited {self.wait:g}s"
            )
        try:
            bookkeeping.ensure(conn, self.say)
            stale = self.backend.execute(f"SELECT pid, ctime FROM {self.backend.lock_table_quoted}").fetchall()
            if stale:
                # we hold the advisory lock: this row was left by a run that died
                self.backend.break_lock()
                self.say(f"removed a stale yoyo lock left by process {stale[0][0]} at {stale[0][1]} UTC")
            self._yoyo_lock = self.backend.lock()
            self._yoyo_lock.__enter__()
        except BaseException:
            locks.unlock(conn, locks.MIGRATE)
            raise

    def __exit__(self, *exc: object) -> None:
        try:
            if self._yoyo_lock is not None:
                self._yoyo_lock.__exit__(None, None, None)
        finally:
            if not self.backend.conn().closed:
                locks.unlock(self.backend.conn(), locks.MIGRATE)
