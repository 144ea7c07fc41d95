"""Every migration: named in order, paired with a rollback, with explicit dependencies."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from schema_tool import manifest, paths, sources

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


def test_released_migrations_are_unchanged_and_every_migration_is_listed() -> None:
    """migrations/manifest.toml: a released file never changes (fix it with a new
    migration); `python -m schema_tool.manifest add` lists new ones."""
    assert manifest.problems(ROOT) == []


def _code(statement: str) -> str:
    return "\n".join(l for l in statement.splitlines() if not l.strip().startswith("--")).strip()


def test_catch_ups_repeat_the_current_text_verbatim() -> None:
    """A catch-up re-creates objects exactly as the migration's current file does (CREATE
    made CREATE OR REPLACE); besides, it may only switch to the owner role and drop an
    overload the current file no longer creates."""
    everything = {m.id: m for m in sources.load(sources.available_systems(ROOT))}
    checked = 0
    for mid, entry in manifest.load(ROOT).items():
        current = {_code(s) for s in sources.statements(everything[mid])}
        for path in sorted({rev.catch_up for rev in entry.earlier if rev.catch_up}):
            for statement in sources.file_statements(ROOT / path):
                code = _code(statement)
                original = re.sub(r"^CREATE OR REPLACE (FUNCTION|PROCEDURE|VIEW)", r"CREATE \1", code)
                if original in current or code == "SET LOCAL ROLE schema_tool_owner;":
                    checked += 1
                    continue
                dropped = re.match(r"^DROP FUNCTION IF EXISTS (\S+)\((.*)\);$", code)
                assert dropped, f"{path}: not in {mid}.sql: {code[:120]}"
                assert not any(s.startswith(f"CREATE FUNCTION {dropped.group(1)}(") and
                               s.split("(", 1)[1].startswith(dropped.group(2)) for s in current), code
                checked += 1
    assert checked > 0


def test_squawk_lint_is_clean() -> None:
    """squawk (configured in .squawk.toml) on every migration; a concurrent-index migration
    is linted as what it is, outside a transaction."""
    squawk = shutil.which("squawk")
    if squawk is None:
        pytest.skip("squawk is not installed (npm install -g squawk-cli; .ci/run installs it)")
    config = paths.project_root() / ".squawk.toml"
    everything = sources.load(sources.available_systems(ROOT))
    groups = {
        "--assume-in-transaction": [m.path for m in everything if not sources.is_concurrent(m)],
        "--no-assume-in-transaction": [m.path for m in everything if sources.is_concurrent(m)],
    }
    for flag, files in groups.items():
        if not files:
            continue
        result = subprocess.run([squawk, "--config", str(config), flag, "--reporter", "gcc", *files],
                                capture_output=True, text=True, cwd=paths.project_root(), timeout=300)
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_squawk_flags_a_blocking_change_to_an_existing_table_and_not_a_new_one(tmp_path: Path) -> None:
    """The configuration keeps the lint meaningful: an index built on an existing table
    without CONCURRENTLY is flagged; the same on a table the file creates is not."""
    squawk = shutil.which("squawk")
    if squawk is None:
        pytest.skip("squawk is not installed (npm install -g squawk-cli; .ci/run installs it)")
    config = paths.project_root() / ".squawk.toml"
    existing = tmp_path / "zeta_0002_index.sql"
    existing.write_text("SET LOCAL ROLE schema_tool_owner;\nCREATE INDEX idx_t_note ON zeta.t (note);\n")
    new = tmp_path / "zeta_0001_schema.sql"
    new.write_text("SET LOCAL ROLE schema_tool_owner;\nCREATE TABLE zeta.t (id bigint PRIMARY KEY, note text);\n"
                   "CREATE INDEX idx_t_note ON zeta.t (note);\n")
    flagged = subprocess.run([squawk, "--config", str(config), "--reporter", "gcc", str(existing)],
                             capture_output=True, text=True, timeout=60)
    assert flagged.returncode != 0 and "require-concurrent-index-creation" in flagged.stdout
    clean = subprocess.run([squawk, "--config", str(config), "--reporter", "gcc", str(new)],
                           capture_output=True, text=True, timeout=60)
    assert clean.returncode == 0, clean.stdout
