"""Temporary migrations/ folders for runner tests: the real ops migrations plus test ones."""

from __future__ import annotations

import shutil
from pathlib import Path

import psycopg

from schema_tool import paths

BOOKKEEPING = "schema_tool"  # the schema holding yoyo's tables and the checksums


def applied(url: str) -> list[str]:
    """Ids of the migrations a database has applied (from either bookkeeping place), sorted."""
    with psycopg.connect(url, autocommit=True) as conn:
        for schema in (BOOKKEEPING, "public"):
            if conn.execute("SELECT to_regclass(%s)", (f"{schema}._yoyo_migration",)).fetchone()[0]:
                rows = conn.execute(f"SELECT migration_id FROM {schema}._yoyo_migration ORDER BY 1").fetchall()
                return [r[0] for r in rows]
    return []


def ops_ids() -> list[str]:
    """Ids of the real ops migrations, in order."""
    return sorted(p.stem for p in (paths.migrations_dir() / "ops").glob("ops_*.sql")
                  if not p.name.endswith(".rollback.sql"))


def make(tmp: Path, systems: tuple[str, ...] = ("ops",)) -> Path:
    """A migrations/ folder holding copies of the named real systems."""
    root = tmp / "migrations"
    root.mkdir()
    for system in systems:
        shutil.copytree(paths.migrations_dir() / system, root / system)
    return root


def add(root: Path, system: str, name: str, sql: str, rollback: str | None = "SELECT 1;",
        depends: str | None = None) -> str:
    """Writes <system>/<name>.sql (and its rollback); returns the migration id."""
    folder = root / system
    folder.mkdir(exist_ok=True)
    if depends is None:
        existing = sorted(p.stem for p in folder.glob("*.sql") if not p.name.endswith(".rollback.sql"))
        depends = existing[-1] if existing else "ops_0001_foundation"
    header = f"-- test migration {name}\n-- depends: {depends}\n\n"
    (folder / f"{name}.sql").write_text(header + sql.strip() + "\n")
    if rollback is not None:
        (folder / f"{name}.rollback.sql").write_text(rollback.strip() + "\n")
    return name
