"""Concurrent-index migrations (`-- transactional: false`): index builds on live tables
that block no writer, refused when they hold anything else, and safe to run again after
a failure half way."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import psycopg

import migdirs
from pg import CLI, ROOT, TestDB, run_cli

TABLE = "CREATE TABLE public.zeta_t (id int PRIMARY KEY, code text, note text);"


def _folder(tmp_path: Path, indexes: str, rollback: str) -> Path:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", TABLE, "DROP TABLE public.zeta_t;")
    migdirs.add(root, "zeta", "zeta_0002_indexes", "-- transactional: false\n\n" + indexes, rollback)
    return root


def _indexes(db: TestDB) -> list[tuple[str, bool]]:
    return db.query("SELECT c.relname, i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                    " WHERE i.indrelid = 'public.zeta_t'::regclass AND NOT i.indisprimary ORDER BY 1")


def _applied(db: TestDB) -> list[str]:
    return [r[0] for r in db.query("SELECT migration_id FROM schema_tool._yoyo_migration WHERE migration_id LIKE 'zeta%'"
                                   " ORDER BY 1")]


TWO_INDEXES = """
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_zeta_t_note ON public.zeta_t (note);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS idx_zeta_t_code ON public.zeta_t (code);
"""
DROP_TWO = """
DROP INDEX CONCURRENTLY IF EXISTS public.idx_zeta_t_code;
DROP INDEX CONCURRENTLY IF EXISTS public.idx_zeta_t_note;
"""


def test_applies_and_rolls_back_index_builds(empty_db: TestDB, tmp_path: Path) -> None:
    root = _folder(tmp_path, TWO_INDEXES, DROP_TWO)
    result = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert _indexes(empty_db) == [("idx_zeta_t_code", True), ("idx_zeta_t_note", True)]
    assert _applied(empty_db) == ["zeta_0001_schema", "zeta_0002_indexes"]
    back = run_cli("--migrations-dir", str(root), "rollback", "--system", "zeta", url=empty_db.url)
    assert back.returncode == 0, back.stderr
    assert _indexes(empty_db) == []
    assert _applied(empty_db) == ["zeta_0001_schema"]


def test_anything_but_index_statements_is_refused_before_anything_runs(empty_db: TestDB, tmp_path: Path) -> None:
    root = _folder(tmp_path, "CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_zeta_t_note ON public.zeta_t (note);\n"
                             "ALTER TABLE public.zeta_t ADD COLUMN extra int;", DROP_TWO)
    result = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "zeta_0002_indexes" in result.stderr
    # validated before the first migration of the run: nothing applied at all
    assert empty_db.scalar("SELECT to_regclass('public.zeta_t')") is None
    assert empty_db.scalar("SELECT to_regclass('ops.partitioned_tables')") is None


def test_an_invalid_index_is_rebuilt_and_the_migration_recorded_only_when_complete(
        empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", TABLE, "DROP TABLE public.zeta_t;")
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    empty_db.execute("INSERT INTO public.zeta_t SELECT g, 'dup', 'n' || g FROM generate_series(1, 3) g")
    migdirs.add(root, "zeta", "zeta_0002_indexes", "-- transactional: false\n\n" + TWO_INDEXES, DROP_TWO)

    failed = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert failed.returncode == 1 and len(failed.stderr.strip().splitlines()) == 1
    assert "statement 2 of 2" in failed.stderr
    # the first build is done, the unique one is left INVALID, the migration is not recorded
    assert _indexes(empty_db) == [("idx_zeta_t_code", False), ("idx_zeta_t_note", True)]
    assert _applied(empty_db) == ["zeta_0001_schema"]

    empty_db.execute("UPDATE public.zeta_t SET code = 'c' || id")
    again = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert again.returncode == 0, again.stderr
    assert "dropping INVALID index public.idx_zeta_t_code" in again.stdout
    assert _indexes(empty_db) == [("idx_zeta_t_code", True), ("idx_zeta_t_note", True)]
    assert _applied(empty_db) == ["zeta_0001_schema", "zeta_0002_indexes"]
    assert run_cli("--migrations-dir", str(root), "status", url=empty_db.url).returncode == 0


def test_writers_are_not_blocked_while_an_index_is_built(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", TABLE, "DROP TABLE public.zeta_t;")
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    migdirs.add(root, "zeta", "zeta_0002_indexes", "-- transactional: false\n\n" + TWO_INDEXES, DROP_TWO)
    old_writer = psycopg.connect(empty_db.url)  # an open write transaction the build must wait for
    old_writer.execute("INSERT INTO public.zeta_t VALUES (1, 'a', 'x')")
    proc = subprocess.Popen([str(CLI), "--migrations-dir", str(root), "migrate"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "DATABASE_URL": empty_db.url},
                            cwd=str(ROOT))
    try:
        deadline = time.monotonic() + 20
        while not empty_db.scalar("SELECT count(*) FROM pg_stat_progress_create_index"
                                  " WHERE relid = 'public.zeta_t'::regclass"):
            assert time.monotonic() < deadline, "the index build never started"
            time.sleep(0.05)
        with psycopg.connect(empty_db.url, autocommit=True) as writer:
            writer.execute("SET lock_timeout = '2s'")
            for i in range(2, 12):  # new writes go through while the build waits
                writer.execute("INSERT INTO public.zeta_t VALUES (%s, %s, 'y')", (i, f"c{i}"))
        assert proc.poll() is None, "the build should still be waiting for the old transaction"
        old_writer.commit()
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        old_writer.close()
        if proc.poll() is None:
            proc.kill()
    assert _indexes(empty_db) == [("idx_zeta_t_code", True), ("idx_zeta_t_note", True)]
    assert empty_db.scalar("SELECT count(*) FROM public.zeta_t") == 11


def test_dry_run_says_it_is_not_one_transaction(empty_db: TestDB, tmp_path: Path) -> None:
    root = _folder(tmp_path, TWO_INDEXES, DROP_TWO)
    result = run_cli("--migrations-dir", str(root), "migrate", "--dry-run", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert "zeta_0002_indexes" in result.stdout and "not in a transaction" in result.stdout
