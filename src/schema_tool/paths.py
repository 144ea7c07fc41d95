"""Where the package's SQL lives: migrations/, templates/ and sql/ at the project root."""

from __future__ import annotations

import os
from pathlib import Path

# Systems in dependency order: ops first, the others only depend on ops.
SYSTEMS: tuple[str, ...] = ("ops", "replay", "recorder", "capture", "insights", "scrapifie")


def project_root() -> Path:
    """The checkout this package runs from (SCHEMA_TOOL_HOME overrides)."""
    env = os.environ.get("SCHEMA_TOOL_HOME")
    if env:
        return Path(env).resolve()
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "migrations").is_dir() and (parent / "templates").is_dir():
            return parent
    return Path.cwd()


def migrations_dir() -> Path:
    return project_root() / "migrations"


def templates_dir() -> Path:
    return project_root() / "templates"


def snapshots_dir() -> Path:
    return project_root() / "sql"


def docs_dir() -> Path:
    return project_root() / "docs" / "schema"


def available_systems(root: Path) -> list[str]:
    """Folders of `root` that hold migrations: the known systems in dependency order, then
    any others by name. Only the file system: no import of the migration library."""
    if not root.is_dir():
        return []
    found = {p.name for p in root.iterdir() if p.is_dir() and any(p.glob("*.sql"))}
    return [s for s in SYSTEMS if s in found] + sorted(found - set(SYSTEMS))
