"""What a database has applied, compared with the files here and the manifest."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import TextIO

import psycopg
from psycopg import sql
from yoyo.migrations import MigrationList

from schema_tool import bookkeeping, manifest, sources


@dataclass
class Entry:
    """One migration as status reports it."""

    id: str
    system: str
    applied_at: datetime | None = None
    state: str = "pending"  # pending | applied | edited | unknown (applied, no file here)
    changed: list[str] = field(default_factory=list)
    revision: manifest.Revision | None = None  # an accepted earlier text it was applied with
    catch_up: str | None = None  # "pending" | "done" | None
    caught_up_from: str | None = None  # the earlier text a catch-up brought to the current one
    caught_up_at: datetime | None = None

    @property
    def needs_catch_up(self) -> bool:
        return self.catch_up == "pending"

    def note(self) -> str:
        if self.revision is not None and self.needs_catch_up:
            return f"{self.revision.describe()}; catch-up pending: {self.revision.reason}"
        if self.revision is not None:
            return f"{self.revision.describe()}, accepted as equivalent: {self.revision.reason}"
        if self.catch_up == "done":
            when = f" at {self.caught_up_at:%Y-%m-%d %H:%M:%S %Z}".rstrip() if self.caught_up_at else ""
            return f"caught up from its {self.caught_up_from}{when}"
        return ""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "system": self.system,
            "state": self.state,
            "applied_at": self.applied_at.isoformat() if self.applied_at else None,
            "changed": self.changed,
            "revision": "current" if self.revision is None else "earlier",
            "catch_up": self.catch_up,
            "note": self.note() or None,
        }


@dataclass(frozen=True)
class Recorded:
    """An applied migration's row in the checksum table."""

    checksum: sources.Checksum
    caught_up_from: str | None = None
    caught_up_at: datetime | None = None


def applied(conn: psycopg.Connection) -> dict[str, datetime]:
    """Applied migration ids and when, in the order they were applied."""
    table = bookkeeping.table(conn, bookkeeping.MIGRATIONS)
    if table is None:
        return {}
    rows = conn.execute(sql.SQL(
        "SELECT migration_id, applied_at_utc FROM {} ORDER BY applied_at_utc, migration_id").format(table)).fetchall()
    return {row[0]: row[1] for row in rows}


def recorded(conn: psycopg.Connection) -> dict[str, Recorded]:
    table = bookkeeping.table(conn, bookkeeping.CHECKSUMS)
    if table is None:
        return {}
    columns = {r[0] for r in conn.execute(
        "SELECT a.attname FROM pg_catalog.pg_attribute AS a WHERE a.attrelid = %s::regclass AND a.attnum > 0",
        (table.as_string(conn),)).fetchall()}
    extra = ", caught_up_from, caught_up_at" if "caught_up_from" in columns else ", NULL, NULL"
    rows = conn.execute(sql.SQL("SELECT migration_id, apply_sha256, rollback_sha256" + extra + " FROM {}").format(
        table)).fetchall()
    return {row[0]: Recorded(sources.Checksum(row[1], row[2]), row[3], row[4]) for row in rows}


def entries(conn: psycopg.Connection, migrations: MigrationList,
            released: dict[str, manifest.Released]) -> list[Entry]:
    done = applied(conn)
    stored = recorded(conn)
    out: list[Entry] = []
    for m in migrations:
        entry = Entry(m.id, sources.system_of(m), done.get(m.id))
        if m.id in done:
            entry.state = "applied"
            _compare(entry, sources.checksum(m), stored.get(m.id), released.get(m.id))
        out.append(entry)
    known = {m.id for m in migrations}
    for mid, when in done.items():
        if mid not in known:
            out.append(Entry(mid, mid.split("_", 1)[0], when, "unknown"))
    return out


def _compare(entry: Entry, current: sources.Checksum, row: Recorded | None,
             released: manifest.Released | None) -> None:
    if row is None:
        return  # applied before checksums were kept
    if row.caught_up_from:
        earlier = released.by_apply(row.caught_up_from) if released else None
        entry.caught_up_from = earlier.describe() if earlier else f"text {row.caught_up_from[:12]}"
        entry.catch_up = "done"
        entry.caught_up_at = row.caught_up_at
    if row.checksum == current:
        return
    # an earlier text the manifest accepts, provided the file here is the released one
    if released is not None and current == sources.Checksum(released.current.apply, released.current.rollback):
        revision = released.match(row.checksum)
        if revision is not None and revision is not released.current:
            entry.revision = revision
            entry.catch_up = "pending" if revision.catch_up else None
            return
    if row.checksum.apply != current.apply:
        entry.changed.append("apply")
    if row.checksum.rollback != current.rollback:
        entry.changed.append("rollback")
    entry.state = "edited"


def print_status(items: list[Entry], out: TextIO, as_json: bool) -> None:
    if as_json:
        json.dump([e.as_dict() for e in items], out, indent=2)
        out.write("\n")
        return
    if not items:
        out.write("no migrations found\n")
        return
    width = max(len(e.id) for e in items)
    for e in items:
        when = e.applied_at.strftime("%Y-%m-%d %H:%M:%S UTC") if e.applied_at else ""
        extra = f" (changed: {', '.join(e.changed)})" if e.changed else ""
        note = f" ({e.note()})" if e.note() else ""
        out.write(f"{e.id:<{width}}  {e.state:<8} {when}{extra}{note}\n")
    counts: dict[str, int] = {}
    for e in items:
        counts[e.state] = counts.get(e.state, 0) + 1
    pending_catch_up = sum(e.needs_catch_up for e in items)
    summary = ", ".join(f"{n} {state}" for state, n in counts.items())
    if pending_catch_up:
        summary += f" ({pending_catch_up} catch-up pending: schema-tool migrate applies it)"
    out.write(summary + "\n")
