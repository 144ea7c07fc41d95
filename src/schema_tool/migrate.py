"""Apply, roll back and report migrations, on yoyo's API, safely.

What this adds to yoyo:
- one PostgreSQL advisory lock per run (dies with the session, so a killed run never
  blocks the next); yoyo's own lock row is taken inside it and a dead run's row removed;
- pending migrations are computed inside the lock;
- each migration, its yoyo bookkeeping and its checksum commit in one transaction
  (yoyo marks a migration applied in a second transaction);
- checksums of applied files, so edited migrations are reported and refused;
- lock_timeout on DDL, and a failure message that names the lock and its holder.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TextIO

import psycopg
from yoyo.migrations import Migration, MigrationList, descendants, topological_sort

from schema_tool import dburl, locks, sources
from schema_tool.backend import CHECKSUM_TABLE, Backend
from schema_tool.errors import ToolError, UsageError

DEFAULT_LOCK_TIMEOUT = "5s"
DEFAULT_LOCK_WAIT = 60.0


@dataclass
class Entry:
    """One migration as status reports it."""

    id: str
    system: str
    applied_at: datetime | None = None
    state: str = "pending"  # pending | applied | edited | unknown (applied, no file here)
    changed: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "system": self.system,
            "state": self.state,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "changed": self.changed,
        }


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
                pending = self._pending(backend, migrations)
                _check_concurrent(pending, "apply")
                self._print_plan(pending, "apply")
                return [m.id for m in pending]
            with self._locked(backend):
                self._refuse_drift(backend, everything, allow_drift)
                pending = self._pending(backend, migrations)
                _check_concurrent(pending, "apply")
                if not pending:
                    self._say("nothing to apply: the database is up to date")
                    return []
                for migration in pending:
                    self._run_one(backend, migration, "apply")
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
            with self._locked(backend):
                chosen = self._to_roll_back(backend, migrations, system, count)
                if not chosen:
                    self._say("nothing to roll back")
                    return []
                for migration in chosen:
                    self._run_one(backend, migration, "rollback")
                return [m.id for m in chosen]

    # -- connection, lock, bookkeeping --------------------------------------

    def _backend(self, verb: str) -> Backend:
        return Backend(self.url, app=f"schema-tool {verb}",
                       settings={"lock_timeout": self.lock_timeout})

    def _locked(self, backend: Backend) -> "_RunLock":
        return _RunLock(self, backend)

    def _ensure_bookkeeping(self, backend: Backend) -> None:
        backend.ensure_internal_schema_updated()
        with backend.transaction():
            backend.execute(
                f"CREATE TABLE IF NOT EXISTS {CHECKSUM_TABLE} ("
                " migration_id text PRIMARY KEY,"
                " apply_sha256 text NOT NULL,"
                " rollback_sha256 text,"
                " recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now())"
            )

    def _applied(self, backend: Backend) -> dict[str, datetime]:
        """Applied migration ids and when, in the order they were applied."""
        if "_yoyo_migration" not in backend.list_tables():
            return {}
        rows = backend.execute(
            "SELECT migration_id, applied_at_utc FROM _yoyo_migration ORDER BY applied_at_utc, migration_id"
        ).fetchall()
        return {row[0]: row[1] for row in rows}

    def _checksums(self, backend: Backend) -> dict[str, sources.Checksum]:
        if CHECKSUM_TABLE not in backend.list_tables():
            return {}
        rows = backend.execute(
            f"SELECT migration_id, apply_sha256, rollback_sha256 FROM {CHECKSUM_TABLE}"
        ).fetchall()
        return {row[0]: sources.Checksum(row[1], row[2]) for row in rows}

    def _entries(self, backend: Backend, migrations: MigrationList) -> list[Entry]:
        applied = self._applied(backend)
        stored = self._checksums(backend)
        entries: list[Entry] = []
        for m in migrations:
            entry = Entry(m.id, sources.system_of(m), applied.get(m.id))
            if m.id in applied:
                entry.state = "applied"
                recorded = stored.get(m.id)
                current = sources.checksum(m)
                if recorded is not None:
                    if recorded.apply != current.apply:
                        entry.changed.append("apply")
                    if recorded.rollback != current.rollback:
                        entry.changed.append("rollback")
                if entry.changed:
                    entry.state = "edited"
            entries.append(entry)
        known = {m.id for m in migrations}
        for mid, when in applied.items():
            if mid not in known:
                entries.append(Entry(mid, mid.split("_", 1)[0], when, "unknown"))
        return entries

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

    def _record_checksum(self, backend: Backend, migration: Migration) -> None:
        digest = sources.checksum(migration)
        backend.execute(
            f"INSERT INTO {CHECKSUM_TABLE} (migration_id, apply_sha256, rollback_sha256)"
            " VALUES (:id, :apply, :rollback)"
            " ON CONFLICT (migration_id) DO UPDATE SET apply_sha256 = excluded.apply_sha256,"
            " rollback_sha256 = excluded.rollback_sha256, recorded_at = pg_catalog.now()",
            {"id": migration.id, "apply": digest.apply, "rollback": digest.rollback},
        )

    def _pending(self, backend: Backend, migrations: MigrationList) -> list[Migration]:
        applied = self._applied(backend)
        return list(topological_sort(m for m in migrations if m.id not in applied))

    def _to_roll_back(self, backend: Backend, migrations: MigrationList, system: str | None,
                      count: int | None) -> list[Migration]:
        """Most recently applied first; refuses what would orphan a dependent."""
        applied = self._applied(backend)
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

    # -- running one migration ---------------------------------------------

    def _run_one(self, backend: Backend, migration: Migration, direction: str) -> None:
        """One migration, its yoyo bookkeeping and its checksum: one transaction."""
        verb = "applying" if direction == "apply" else "rolling back"
        if sources.is_concurrent(migration):
            self._run_concurrent(backend, migration, direction, verb)
            return
        self._say(f"{verb} {migration.id}")
        statement = ""
        with locks.LockWatcher(self.url, backend.pid) as watcher:
            try:
                with backend.transaction():
                    for statement in sources.statements(migration, direction):
                        backend.conn().execute(statement)  # no parameters: % is literal
                    statement = "(schema-tool bookkeeping)"
                    backend.execute("RESET ROLE")
                    backend.execute("RESET search_path")
                    self._book(backend, migration, direction)
            except psycopg.errors.LockNotAvailable:
                seen = watcher.last.describe() if watcher.last else "a lock whose holder let go before it was seen"
                raise ToolError(
                    f"{verb} {migration.id} failed, nothing of it was kept: lock_timeout "
                    f"({self.lock_timeout}) expired waiting for {seen}; statement: {_clip(statement)}"
                ) from None
            except psycopg.Error as exc:
                raise ToolError(
                    f"{verb} {migration.id} failed, nothing of it was kept: "
                    f"{dburl.error_line(exc)}; statement: {_clip(statement)}"
                ) from None

    def _book(self, backend: Backend, migration: Migration, direction: str) -> None:
        """yoyo's record of the migration, its checksum and the log row (in a transaction)."""
        if direction == "apply":
            backend.mark_one(migration, log=False)
            self._record_checksum(backend, migration)
        else:
            backend.unmark_one(migration, log=False)
            backend.execute(f"DELETE FROM {CHECKSUM_TABLE} WHERE migration_id = :id",
                            {"id": migration.id})
        backend.log_migration(migration, direction)

    def _run_concurrent(self, backend: Backend, migration: Migration, direction: str, verb: str) -> None:
        """A concurrent-index migration: each statement on its own, then the bookkeeping."""
        from schema_tool import indexbuild

        steps = sources.concurrent_steps(migration, direction)
        self._say(f"{verb} {migration.id} (not in a transaction: {len(steps)} concurrent index statement(s))")
        indexbuild.run(self.url, steps, migration_id=migration.id, verb=verb, say=self._say)
        try:
            with backend.transaction():
                self._book(backend, migration, direction)
        except psycopg.Error as exc:
            raise ToolError(f"{verb} {migration.id}: its indexes are done but recording it failed: "
                            f"{dburl.error_line(exc)} (run it again)") from None

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
                self.out.write(stmt.rstrip() + ("\n\n" if stmt.rstrip().endswith(";") else ";\n\n"))
            self.out.write("\n")

    def _say(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()


class _RunLock:
    """The run's advisory lock, then yoyo's lock row (a dead run's row is removed)."""

    def __init__(self, runner: Runner, backend: Backend):
        self.runner = runner
        self.backend = backend
        self._yoyo_lock = None

    def __enter__(self) -> None:
        conn = self.backend.conn()
        if not locks.acquire(conn, locks.MIGRATE, self.runner.lock_wait):
            raise ToolError(
                f"another migration is running ({locks.holder(conn, locks.MIGRATE)}); "
                f"waited {self.runner.lock_wait:g}s"
            )
        try:
            if self.backend.lock_table not in self.backend.list_tables():
                self.backend.create_lock_table()
            stale = self.backend.execute(f"SELECT pid, ctime FROM {self.backend.lock_table_quoted}").fetchall()
            if stale:
                # Every schema-tool run takes the advisory lock first and we hold it:
                # this row was left by a run that died before it could remove it.
                self.backend.break_lock()
                self.runner._say(f"removed a stale yoyo lock left by process {stale[0][0]} at {stale[0][1]} UTC")
            self.runner._ensure_bookkeeping(self.backend)
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


def _check_concurrent(migrations: list[Migration], direction: str) -> None:
    """Refuse, before anything runs, a non-transactional migration that is not index builds."""
    for migration in migrations:
        if sources.is_concurrent(migration):
            sources.concurrent_steps(migration, direction)


def _clip(statement: str, limit: int = 200) -> str:
    text = " ".join(statement.split())
    return text[:limit] + ("..." if len(text) > limit else "")


def print_status(entries: list[Entry], out: TextIO, as_json: bool) -> None:
    import json

    if as_json:
        json.dump([e.as_dict() for e in entries], out, indent=2)
        out.write("\n")
        return
    if not entries:
        out.write("no migrations found\n")
        return
    width = max(len(e.id) for e in entries)
    for e in entries:
        when = e.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC") if e.applied_at else ""
        extra = f" (changed: {', '.join(e.changed)})" if e.changed else ""
        out.write(f"{e.id:<{width}}  {e.state:<8} {when}{extra}\n")
    counts: dict[str, int] = {}
    for e in entries:
        counts[e.state] = counts.get(e.state, 0) + 1
    out.write(", ".join(f"{n} {state}" for state, n in counts.items()) + "\n")

