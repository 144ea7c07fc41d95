"""Every migration: named in order, paired with a rollback, with explicit dependencies."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from schema_tool import paths, sources

ROOT = paths.migrations_dir()
SYSTEM_DIRS = [p for p in sorted(ROOT.iterdir()) if p.is_dir()]


def _migrations(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.sql") if not p.name.endswith(".rollback.sql"))


def _depends(path: Path) -> set[str]:
    deps: set[str] = set()
    for line in path.read_text().splitlines():
        if not line.startswith("--") and line.strip():
            break
        match = re.match(r"^\s*--\s*depends\s*:\s*(.*)$", line)
        if match:
            deps |= set(match.group(1).split())
    return deps


@pytest.mark.parametrize("folder", SYSTEM_DIRS, ids=lambda p: p.name)
def test_names_sort_in_order_without_gaps(folder: Path) -> None:
    names = [p.name for p in _migrations(folder)]
    assert names, f"{folder} holds no migrations"
    pattern = re.compile(rf"^{folder.name}_(\d{{4}})_[a-z0-9]+(_[a-z0-9]+)*\.sql$")
    numbers = []
    for name in names:
        match = pattern.match(name)
        assert match, f"{name}: expected {folder.name}_NNNN_lowercase_words.sql"
        numbers.append(int(match.group(1)))
    assert numbers == list(range(1, len(numbers) + 1)), f"{folder.name}: numbers {numbers} have gaps"
    assert not list(folder.glob("*.py")), "migrations are SQL files only"


@pytest.mark.parametrize("folder", SYSTEM_DIRS, ids=lambda p: p.name)
def test_every_migration_has_its_rollback(folder: Path) -> None:
    applies = {p.name[: -len(".sql")] for p in _migrations(folder)}
    rollbacks = {p.name[: -len(".rollback.sql")] for p in folder.glob("*.rollback.sql")}
    assert applies - rollbacks == set(), "missing .rollback.sql (yoyo would silently 'roll back' nothing)"
    assert rollbacks - applies == set(), "rollback files without a migration"
    for name in rollbacks:
        assert (folder / f"{name}.rollback.sql").read_text().strip(), f"{name}.rollback.sql is empty"


@pytest.mark.parametrize("folder", SYSTEM_DIRS, ids=lambda p: p.name)
def test_dependencies_are_explicit(folder: Path) -> None:
    files = _migrations(folder)
    for previous, current in zip(files, files[1:]):
        assert previous.stem in _depends(current), f"{current.name} must depend on {previous.stem}"
    if folder.name != "ops":
        first = _depends(files[0])
        assert any(d.startswith("ops_") for d in first), f"{files[0].name} must depend on an ops migration"


def test_migrations_are_transactional_or_concurrent_index_builds_and_ids_unique() -> None:
    everything = sources.load(sources.available_systems(ROOT))
    assert len({m.id for m in everything}) == len(everything)
    session_set = re.compile(r"^SET\s+(?!LOCAL\b)", re.I)
    for migration in everything:
        if sources.is_concurrent(migration):
            # the one exception: index builds on live tables (refused otherwise, ToolError)
            for direction in ("apply", "rollback"):
                sources.concurrent_steps(migration, direction)
            continue
        for direction in ("apply", "rollback"):
            for statement in sources.statements(migration, direction):
                code = "\n".join(l for l in statement.splitlines() if not l.strip().startswith("--")).strip()
                assert not session_set.match(code), (
                    f"{migration.id} ({direction}): use SET LOCAL (a session-wide SET outlives the migration)"
                )
