"""The split cache answers exactly what yoyo's own split answers, for the current bytes only."""

from __future__ import annotations

from pathlib import Path

import pytest
import yoyo.migrations

from schema_tool import paths, splitcache


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "schema-tool" / "split"


def test_every_migration_file_splits_the_same_from_the_cache(cache: Path) -> None:
    files = sorted(paths.migrations_dir().rglob("*.sql"))
    assert len(files) > 50
    for path in files:
        expected = splitcache._original(str(path))
        assert splitcache.read_sql_migration(str(path)) == expected  # split, then stored
        assert splitcache.read_sql_migration(str(path)) == expected  # read back
    assert len(list(cache.glob("*.json"))) == len({p.read_bytes() for p in files})


def test_an_edited_file_is_split_again(cache: Path, tmp_path: Path) -> None:
    path = tmp_path / "x_0001.sql"
    path.write_text("-- depends: a\nCREATE TABLE t (id int);\nSELECT 1;\n")
    assert splitcache.read_sql_migration(str(path))[2] == ["CREATE TABLE t (id int);", "SELECT 1;"]
    path.write_text("-- depends: a b\nSELECT 2;\n")
    directives, _comment, statements = splitcache.read_sql_migration(str(path))
    assert (directives, statements) == ({"depends": "a b"}, ["SELECT 2;"])


def test_a_corrupt_entry_or_an_unwritable_cache_only_costs_the_split(
        cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "x_0001.sql"
    path.write_text("SELECT 1;\nSELECT 2;\n")
    splitcache.read_sql_migration(str(path))
    (entry,) = cache.glob("*.json")
    entry.write_text("{not json")
    assert splitcache.read_sql_migration(str(path))[2] == ["SELECT 1;", "SELECT 2;"]
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # no directory can be made under a file
    assert splitcache.read_sql_migration(str(path))[2] == ["SELECT 1;", "SELECT 2;"]


def test_yoyo_loads_migrations_through_the_cache() -> None:
    assert yoyo.migrations.read_sql_migration is splitcache.read_sql_migration
