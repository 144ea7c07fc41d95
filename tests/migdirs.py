"""Temporary migrations/ folders for runner tests: the real ops migrations plus test ones."""

from __future__ import annotations

import shutil
from pathlib import Path

from schema_tool import paths


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
