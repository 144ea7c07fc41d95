"""Apply, roll back and report migrations, on yoyo's API, safely.

What this adds to yoyo:
- one PostgreSQL advisory lock per run (dies with the session, so a killed run never
  blocks the next); yoyo's own lock row is taken inside it and a dead run's row removed;
- bookkeeping in schema `schema_tool`, out of every other role's reach (bookkeeping.py);
- pending migrations are computed inside the lock;
- each migration, its yoyo bookkeeping and its checksum commit in one transaction
  (yoyo marks a migration applied in a second transaction);
- checksums of applied files, so edited migrations are reported and refused; earlier
  texts of a corrected released file are accepted as the manifest says (manifest.py),
  with their catch-up applied first when they need one;
- database-level state (the owner's CREATE, app roles' search_path) re-established on
  every migrate, for restored and cloned databases (repair.py);
- lock_timeout on DDL, and a failure message that names the lock and its holder;
- each migration's time, and the run's.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

import psycopg
from yoyo.migrations import Migration, MigrationList, descendants, topological_sort

from schema_tool import bookkeeping, dburl, locks, lockwait, manifest, repair, sources, status
from schema_tool.backend import Backend
from schema_tool.errors import ToolError, UsageError
from schema_tool.runlock import RunLock
from schema_tool.status import Entry, print_status  # noqa: F401 - print_status: the CLI's import

DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_LOCK_WAIT = 60.0


class Runner:
    def __init__(
        self,
        url: str,
        migrations_root: Path,
        *,
        lock_timeout: str = DEFAULT_LOCK_TIMEOUT,
        lock_wait: float = DEFAULT_LOCK_WAIT,
        out: TextIO = sys.stdout,
    ):
        self.url = url
        self.root = migrations_root
        self.lock_timeout = lock_timeout
        self.lock_wait = lock_wait
        self.out = out
        self.released = manifest.load(migrations_root)
        self._watcher: locks.LockWatcher | None = None  # inside _watching(), once a transaction ran

    # -- public operations -------------------------------------------------

    def status(self) -> list[Entry]:
        migrations = sources.load(sources.available_systems(self.root))
        with self._backend("status") as backend:
            return self._entries(backend, migrations)

    def migrate(self, systems: list[str] | None = None, *, dry_run: bool = False,
                allow_drift: bool = False) -> list[str]:
        """Apply what is pending for these systems (and what they depend on)."""
        everything = sources.load(sources.available_systems(self.root))
        migrations = sources.restrict(everything, self.root, systems)
        with self._backend("migrate") as backend:
            if dry_run:
                for line in repair.repair(backend.conn(), apply=False):
                    self.out.write(f"-- would repair: {line}\n")
                self._print_catch_ups(self._catch_ups(backend, everything))
                pending = self._pending(backend, migrations)
                _check_concurrent(pending, "apply")
                self._print_plan(pending, "apply")
                return [m.id for m in pending]
            with self._locked(backend), self._watching():
                self._refuse_drift(backend, everything, allow_drift)
                for line in repair.repair(backend.conn()):
                    self._say(f"repaired {line}")
                started = time.monotonic()
                for migration, entry in self._catch_ups(backend, everything):
                    self._catch_up(backend, migration, entry)
                pending = self._pending(backend, migrations)
                _check_concurrent(pending, "apply")
                if not pending:
                    self._say("nothing to apply: the database is up to date")
                    return []
                for migration in pending:
                    self._run_one(backend, migration, "apply")
                self._say(f"applied {_count(pending)} in {time.monotonic() - started:.2f}s")
                return [m.id for m in pending]

    def rollback(self, system: str | None = None, *, count: int | None = 1,
                 dry_run: bool = False) -> list[str]:
        """Roll back the last `count` applied migrations (of one system); None = all."""
        if count is not None and count < 1:
            raise UsageError("--count must be at least 1")
        names = [system] if system else None
        if names:
            sources.select(self.root, names)  # unknown system is a usage error
        migrations = sources.load(sources.available_systems(self.root))
        with self._backend("rollback") as backend:
            if dry_run:
                chosen = self._to_roll_back(backend, migrations, system, count)
                self._print_plan(chosen, "rollback")
                return [m.id for m in chosen]
            with self._locked(backend), self._watching():
                chosen = self._to_roll_back(backend, migrations, system, count)
                if not chosen:
                    self._say("nothing to roll back")
                    return []
                started = time.monotonic()
                for migration in chosen:
                    self._run_one(backend, migration, "rollback")
                self._say(f"rolled back {_count(chosen)} in {time.monotonic() - started:.2f}s")
                return [m.id for m in chosen]

    # -- connection, lock, bookkeeping --------------------------------------

    def _backend(self, verb: str) -> Backend:
        return Backend(self.url, app=f"schema-tool {verb}",
                       settings={"lock_timeout": self.lock_timeout})

    def _locked(self, backend: Backend) -> RunLock:
        return RunLock(backend, self.lock_wait, self._say)

    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
        """One lock watcher (one extra connection) for all the run's transactions, started
        by the first of them (a run with nothing to do opens none) and stopped here: made
        per migration, its connection cost more than most migrations do."""
        try:
            yield
        finally:
            if self._watcher:
                self._watcher.stop()
                self._watcher = None

    def _lock_watcher(self, backend: Backend) -> locks.LockWatcher:
        """The run's lock watcher (see _watching), cleared of earlier transactions' waits."""
        if self._watcher is None:
            self._watcher = locks.LockWatcher(self.url, backend.pid).start()
        self._watcher.last = None
        return self._watcher

    def _entries(self, backend: Backend, migrations: MigrationList) -> list[Entry]:
        return status.entries(backend.conn(), migrations, self.released)

    def _refuse_drift(self, backend: Backend, everything: MigrationList, allow: bool) -> None:
        drift = [e for e in self._entries(backend, everything) if e.state in ("edited", "unknown")]
        if not drift:
            return
        described = ", ".join(
            f"{e.id} ({'edited: ' + '+'.join(e.changed) if e.state == 'edited' else 'applied, file missing'})"
            for e in drift
        )
        if not allow:
            raise ToolError(
                f"refusing to migrate: applied migrations differ from the files here: {described} "
                "(restore the files, or pass --allow-drift to accept them as they are now)"
            )
        by_id = {m.id: m for m in everything}
        with backend.transaction():
            for entry in drift:
                if entry.id in by_id:
                    self._record_checksum(backend, by_id[entry.id])
        self._say(f"accepted drift: {described}")

    def _record_checksum(self, backend: Backend, migration: Migration, caught_up_from: str | None = None) -> None:
        digest = sources.checksum(migration)
        table = bookkeeping.quoted(bookkeeping.CHECKSUMS)
        backend.execute(
            f"INSERT INTO {table} (migration_id, apply_sha256, rollback_sha256, caught_up_from, caught_up_at)"
            " VALUES (:id, :apply, :rollback, CAST(:old AS text),"
            " CASE WHEN CAST(:old AS text) IS NULL THEN NULL ELSE pg_catalog.now() END)"
            " ON CONFLICT (migration_id) DO UPDATE SET apply_sha256 = excluded.apply_sha256,"
            " rollback_sha256 = excluded.rollback_sha256, recorded_at = pg_catalog.now(),"
            " caught_up_from = excluded.caught_up_from, caught_up_at = excluded.caught_up_at",
            {"id": migration.id, "apply": digest.apply, "rollback": digest.rollback, "old": caught_up_from},
        )

    def _pending(self, backend: Backend, migrations: MigrationList) -> list[Migration]:
        applied = status.applied(backend.conn())
        return list(topological_sort(m for m in migrations if m.id not in applied))

    def _to_roll_back(self, backend: Backend, migrations: MigrationList, system: str | None,
                      count: int | None) -> list[Migration]:
        """Most recently applied first; refuses what would orphan a dependent."""
        applied = status.applied(backend.conn())
        by_id = {m.id: m for m in migrations}
        topo = {m.id: i for i, m in enumerate(topological_sort(migrations))}
        present = sorted((mid for mid in applied if mid in by_id),
                         key=lambda mid: (applied[mid], topo[mid]))
        applied_ms = [by_id[mid] for mid in present]
        candidates = [m for m in applied_ms if system is None or sources.system_of(m) == system]
        chosen = list(reversed(candidates))
        if count is not None:
            chosen = chosen[:count]
        for m in chosen:
            if not sources.rollback_path(m).exists():
                raise ToolError(f"cannot roll back {m.id}: it has no {sources.rollback_path(m).name}")
        _check_concurrent(chosen, "rollback")
        late = [e.id for e in self._entries(backend, migrations) if e.needs_catch_up]
        if late:
            raise ToolError(f"cannot roll back: {', '.join(late)} still need(s) the catch-up of their earlier "
                            "text, which `schema-tool migrate` applies first (their rollback undoes the current text)")
        keep = set(applied_ms) - set(chosen)
        for m in chosen:
            blockers = sorted(d.id for d in descendants(m, applied_ms) if d in keep)
            if blockers:
                raise ToolError(
                    f"cannot roll back {m.id}: applied migrations depend on it: "
                    f"{', '.join(blockers)} (roll those back first)"
                )
        unknown = [mid for mid in applied if mid not in by_id]
        if unknown and count is None and system is None:
            raise ToolError(
                "cannot roll back everything: applied migrations have no files here: "
                + ", ".join(unknown)
            )
        return chosen

    # -- catch-ups of earlier texts -----------------------------------------

    def _catch_ups(self, backend: Backend, everything: MigrationList) -> list[tuple[Migration, Entry]]:
        """Applied migrations whose earlier text needs its catch-up, in dependency order."""
        late = {e.id: e for e in self._entries(backend, everything) if e.needs_catch_up}
        return [(m, late[m.id]) for m in topological_sort(everything) if m.id in late]

    def _catch_up(self, backend: Backend, migration: Migration, entry: Entry) -> None:
        revision = entry.revision
        assert revision is not None and revision.catch_up
        label = f"catching up {migration.id} from its {revision.describe()}"
        statements = sources.file_statements(self.root / revision.catch_up)
        self._transaction(backend, label, statements,
                          lambda: self._record_checksum(backend, migration, caught_up_from=revision.apply))

    def _print_catch_ups(self, late: list[tuple[Migration, Entry]]) -> None:
        for migration, entry in late:
            revision = entry.revision
            assert revision is not None and revision.catch_up
            self.out.write(f"-- catch up {migration.id} from its {revision.describe()} "
                           f"({self.root / revision.catch_up}), in one transaction: {revision.reason}\n")
            for stmt in sources.file_statements(self.root / revision.catch_up):
                self.out.write(_terminated(stmt))
            self.out.write("\n")

    # -- running one migration ---------------------------------------------

    def _run_one(self, backend: Backend, migration: Migration, direction: str) -> None:
        """One migration, its yoyo bookkeeping and its checksum: one transaction."""
        verb = "applying" if direction == "apply" else "rolling back"
        if sources.is_concurrent(migration):
            self._run_concurrent(backend, migration, direction, verb)
            return
        self._transaction(backend, f"{verb} {migration.id}", sources.statements(migration, direction),
                          lambda: self._book(backend, migration, direction))

    def _transaction(self, backend: Backend, label: str, statements: list[str], book: Callable[[], None]) -> None:
        """Statements, then the bookkeeping, in one transaction; its time on the same line.

        Lock waits are cut into attempts shorter than PostgreSQL's deadlock_timeout (1s by
        default): a migration that cannot get a lock, or deadlocks with the application,
        gives up first, keeps nothing, and runs again from its first statement, until
        --lock-timeout is spent. So the application's transactions wait at most one attempt
        behind a migration, and the one that loses a deadlock is never theirs."""
        self.out.write(f"{label} ... ")
        self.out.flush()
        started = time.monotonic()
        budget = lockwait.seconds(self.lock_timeout)
        deadline = None if budget is None else started + budget
        attempts: list[str] = []
        watcher = self._lock_watcher(backend)
        while True:
            statement = ""
            try:
                with backend.transaction():
                    backend.execute("SELECT pg_catalog.set_config('lock_timeout', :wait, true)",
                                    {"wait": lockwait.attempt(deadline)})
                    for statement in statements:
                        backend.conn().execute(statement)  # no parameters: % is literal
                    statement = "(schema-tool bookkeeping)"
                    backend.execute("RESET ROLE")
                    backend.execute("RESET search_path")
                    book()
                break
            except (psycopg.errors.LockNotAvailable, psycopg.errors.DeadlockDetected) as exc:
                seen = watcher.last.describe() if watcher.last else "a lock whose holder let go before it was seen"
                what = "deadlock with " + seen if isinstance(exc, psycopg.errors.DeadlockDetected) else seen
                attempts.append(what)
                if lockwait.retry(deadline):
                    continue
                self._say("failed")
                raise ToolError(
                    f"{label} failed, nothing of it was kept: lock_timeout ({self.lock_timeout}) spent "
                    f"in {len(attempts)} attempt(s) waiting for {what}; statement: {_clip(statement)}"
                ) from None
            except psycopg.Error as exc:
                self._say("failed")
                raise ToolError(
                    f"{label} failed, nothing of it was kept: "
                    f"{dburl.error_line(exc)}; statement: {_clip(statement)}"
                ) from None
        retried = f" ({len(attempts) + 1} attempts: waited for {attempts[-1]})" if attempts else ""
        self._say(f"{time.monotonic() - started:.2f}s{retried}")

    def _book(self, backend: Backend, migration: Migration, direction: str) -> None:
        """yoyo's record of the migration, its checksum and the log row (in a transaction)."""
        if direction == "apply":
            backend.mark_one(migration, log=False)
            self._record_checksum(backend, migration)
        else:
            backend.unmark_one(migration, log=False)
            backend.execute(f"DELETE FROM {bookkeeping.quoted(bookkeeping.CHECKSUMS)} WHERE migration_id = :id",
                            {"id": migration.id})
        backend.log_migration(migration, direction)

    def _run_concurrent(self, backend: Backend, migration: Migration, direction: str, verb: str) -> None:
        """A concurrent-index migration: each statement on its own, then the bookkeeping."""
        from schema_tool import indexbuild

        steps = sources.concurrent_steps(migration, direction)
        started = time.monotonic()
        self._say(f"{verb} {migration.id} (not in a transaction: {len(steps)} concurrent index statement(s))")
        indexbuild.run(self.url, steps, migration_id=migration.id, verb=verb, say=self._say)
        try:
            with backend.transaction():
                self._book(backend, migration, direction)
        except psycopg.Error as exc:
            raise ToolError(f"{verb} {migration.id}: its indexes are done but recording it failed: "
                            f"{dburl.error_line(exc)} (run it again)") from None
        self._say(f"  done in {time.monotonic() - started:.2f}s")

    # -- output ---------------------------------------------------------------

    def _print_plan(self, migrations: list[Migration], direction: str) -> None:
        if not migrations:
            self._say(f"-- nothing to {'apply' if direction == 'apply' else 'roll back'}")
            return
        for m in migrations:
            how = ("not in a transaction: each index built concurrently" if sources.is_concurrent(m)
                   else "in one transaction")
            path = sources.rollback_path(m) if direction == "rollback" else m.path
            self.out.write(f"-- {direction} {m.id} ({path}), {how}\n")
            for stmt in sources.statements(m, direction):
                self.out.write(_terminated(stmt))
            self.out.write("\n")

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


def _check_concurrent(migrations: list[Migration], direction: str) -> None:
    """Refuse, before anything runs, a non-transactional migration that is not index builds."""
    for migration in migrations:
        if sources.is_concurrent(migration):
            sources.concurrent_steps(migration, direction)


def _count(migrations: list[Migration]) -> str:
    return f"{len(migrations)} migration{'s' if len(migrations) != 1 else ''}"


def _terminated(statement: str) -> str:
    return statement.rstrip() + ("\n\n" if statement.rstrip().endswith(";") else ";\n\n")


def _clip(statement: str, limit: int = 200) -> str:
    text = " ".join(statement.split())
    return text[:limit] + ("..." if len(text) > limit else "")
