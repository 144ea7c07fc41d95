"""Migration files on disk: which systems exist, their migrations, checksums, dependencies."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

from yoyo import read_migrations
from yoyo.exceptions import BadMigration, MigrationConflict
from yoyo.migrations import Migration, MigrationList, ancestors

from schema_tool import splitcache
from schema_tool.errors import ToolError, UsageError
from schema_tool.paths import SYSTEMS

splitcache.install()


@dataclass(frozen=True)
class Source:
    """One folder of migrations: one PostgreSQL schema."""

    system: str
    path: Path


@dataclass(frozen=True)
class Checksum:
    apply: str
    rollback: str | None


def available_systems(root: Path) -> list[Source]:
    """Folders under migrations/ that hold migrations, in dependency order."""
    if not root.is_dir():
        raise ToolError(f"migrations folder not found: {root}")
    found = {p.name: p for p in root.iterdir() if p.is_dir() and any(p.glob("*.sql"))}
    known = [Source(name, found[name]) for name in SYSTEMS if name in found]
    extra = sorted(set(found) - set(SYSTEMS))
    return known + [Source(name, found[name]) for name in extra]


def select(root: Path, names: list[str] | None) -> list[Source]:
    """The requested systems (all when none named); unknown names are a usage error."""
    sources = available_systems(root)
    if not names:
        return sources
    by_name = {s.system: s for s in sources}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise UsageError(
            f"unknown system {', '.join(repr(n) for n in unknown)} "
            f"(known: {', '.join(by_name)})"
        )
    return [s for s in sources if s.system in names]


def load(sources: list[Source]) -> MigrationList:
    """All migrations of these sources, each loaded so its dependencies resolve."""
    try:
        migrations = read_migrations(*(str(s.path) for s in sources))
        for migration in migrations:
            migration.load()
    except (BadMigration, MigrationConflict) as exc:
        raise ToolError(f"bad migration: {exc}") from None
    return migrations


def restrict(everything: MigrationList, root: Path, names: list[str] | None) -> MigrationList:
    """The named systems' migrations, every migration they depend on, and all of `ops`
    (the foundation every system runs on: its later migrations harden what the earlier
    ones made, whether or not a system's migration names them)."""
    if not names:
        return everything
    wanted = {s.path.resolve() for s in select(root, names)}
    chosen = {m for m in everything if Path(m.path).parent.resolve() in wanted or system_of(m) == "ops"}
    for migration in list(chosen):
        chosen |= ancestors(migration, everything)
    return everything.filter(lambda m: m in chosen)


def system_of(migration: Migration) -> str:
    return Path(migration.path).parent.name


def rollback_path(migration: Migration) -> Path:
    return Path(migration.path).with_suffix(".rollback.sql")


def checksum(migration: Migration) -> Checksum:
    """SHA-256 of the apply file and of its rollback file (None when it has none)."""
    apply = hashlib.sha256(Path(migration.path).read_bytes()).hexdigest()
    rb_path = rollback_path(migration)
    rollback = hashlib.sha256(rb_path.read_bytes()).hexdigest() if rb_path.exists() else None
    return Checksum(apply, rollback)


def statements(migration: Migration, direction: str = "apply") -> list[str]:
    """The SQL statements a direction runs, in the order it runs them."""
    migration.load()
    steps = list(migration.steps or [])
    if direction == "rollback":
        steps.reverse()
    out: list[str] = []
    for wrapper in steps:
        step = wrapper.step
        sql = step._apply if direction == "apply" else step._rollback
        if isinstance(sql, str) and sql.strip():
            out.append(sql.strip())
    return out


def file_statements(path: Path) -> list[str]:
    """The statements of a SQL file that is not a migration (a catch-up), split as yoyo splits."""
    if not path.exists():
        raise ToolError(f"catch-up file not found: {path}")
    _directives, _comment, found = splitcache.read_sql_migration(str(path))
    return [s.strip() for s in found if s.strip()]


# -- concurrent-index migrations ---------------------------------------------------
#
# The one kind of migration that does not run in a transaction: `-- transactional: false`
# in its leading comments, and nothing but index builds and drops that do not block
# writes. Anything else in such a file is refused before a statement runs.

_CREATE_CONCURRENTLY = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+IF\s+NOT\s+EXISTS\s+"
    r"([a-z_][a-z0-9_]*)\s+ON\s+([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)[\s(]",
    re.IGNORECASE,
)
_DROP_CONCURRENTLY = re.compile(
    r"^DROP\s+INDEX\s+CONCURRENTLY\s+IF\s+EXISTS\s+([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s*;?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class IndexStep:
    """One statement of a concurrent-index migration."""

    action: str  # "create" | "drop"
    schema: str
    index: str
    sql: str


def is_concurrent(migration: Migration) -> bool:
    """Declared `-- transactional: false`: a concurrent-index migration."""
    migration.load()
    return migration.use_transactions is False


def concurrent_steps(migration: Migration, direction: str = "apply") -> list[IndexStep]:
    """The statements of a concurrent-index migration, or a ToolError naming the first one
    that is not `CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <index> ON <schema>.<table>`
    or `DROP INDEX CONCURRENTLY IF EXISTS <schema>.<index>`."""
    steps: list[IndexStep] = []
    for statement in statements(migration, direction):
        code = " ".join(
            line for line in statement.splitlines() if not line.strip().startswith("--")
        ).strip()
        created = _CREATE_CONCURRENTLY.match(code)
        dropped = _DROP_CONCURRENTLY.match(code)
        if created:
            steps.append(IndexStep("create", created.group(2).lower(), created.group(1).lower(), statement))
        elif dropped:
            steps.append(IndexStep("drop", dropped.group(1).lower(), dropped.group(2).lower(), statement))
        else:
            raise ToolError(
                f"{migration.id} ({direction}) is not transactional, so it may hold only "
                "CREATE [UNIQUE] INDEX CONCURRENTLY IF NOT EXISTS <index> ON <schema>.<table> ... and "
                "DROP INDEX CONCURRENTLY IF EXISTS <schema>.<index>; found: " + " ".join(code.split())[:120]
            )
    if not steps:
        raise ToolError(f"{migration.id} ({direction}) is not transactional and holds no index statement")
    return steps
