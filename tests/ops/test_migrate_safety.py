"""The runner under pressure: overlapping runs, a failing migration, a lock it cannot
get, a run killed with SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import psycopg
import pytest

import migdirs
from pg import CLI, ROOT, TestDB, run_cli
from schema_tool import lockwait


def _popen(url: str, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen([str(CLI), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=str(ROOT))


def _wait_for_query(db: TestDB, fragment: str, timeout: float = 20) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pid = db.scalar("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                        " AND query LIKE %s AND pid <> pg_backend_pid()", (f"%{fragment}%",))
        if pid:
            return pid
        time.sleep(0.05)
    raise AssertionError(f"no backend ran {fragment!r} within {timeout}s")


def _slow_folder(tmp_path: Path, seconds: float) -> Path:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_slow",
                f"CREATE TABLE public.zeta_t (id int);\nSELECT pg_sleep({seconds});",
                "DROP TABLE public.zeta_t;", depends="ops_0002_partition_engine")
    return root


def test_two_migrate_runs_at_once_apply_once(empty_db: TestDB, tmp_path: Path) -> None:
    root = _slow_folder(tmp_path, 1.5)
    runs = [_popen(empty_db.url, "--migrations-dir", str(root), "migrate") for _ in range(2)]
    outputs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outputs
    assert sum("nothing to apply" in out for out, _ in outputs) == 1
    counts = empty_db.query("SELECT migration_id, count(*) FROM schema_tool._yoyo_log WHERE operation = 'apply'"
                            " GROUP BY 1 ORDER BY 1")
    assert counts == [(mid, 1) for mid in migdirs.ops_ids()] + [("zeta_0001_slow", 1)]


def test_second_run_that_will_not_wait_fails_with_one_line(empty_db: TestDB, tmp_path: Path) -> None:
    root = _slow_folder(tmp_path, 3)
    first = _popen(empty_db.url, "--migrations-dir", str(root), "migrate")
    _wait_for_query(empty_db, "pg_sleep(3)")
    second = run_cli("--migrations-dir", str(root), "migrate", "--lock-wait", "0", url=empty_db.url)
    out, err = first.communicate(timeout=60)
    assert first.returncode == 0, err
    assert second.returncode == 1
    lines = second.stderr.strip().splitlines()
    assert len(lines) == 1 and "another migration is running" in lines[0] and "pid" in lines[0]


def test_failing_migration_leaves_the_database_as_it_was(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_good", "CREATE TABLE public.zeta_good (id int);",
                "DROP TABLE public.zeta_good;", depends="ops_0001_foundation")
    migdirs.add(root, "zeta", "zeta_0002_broken",
                "CREATE TABLE public.zeta_broken (id int);\n"
                "INSERT INTO public.zeta_good VALUES (1);\n"
                "SELECT 1 / 0;", "DROP TABLE public.zeta_broken;")
    result = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "zeta_0002_broken failed, nothing of it was kept" in lines[0]
    assert "22012" in lines[0] and "SELECT 1 / 0" in lines[0]
    assert empty_db.scalar("SELECT to_regclass('public.zeta_broken')") is None
    assert empty_db.scalar("SELECT count(*) FROM public.zeta_good") == 0
    assert empty_db.scalar("SELECT count(*) FROM schema_tool._yoyo_migration WHERE migration_id LIKE 'zeta_0002%'") == 0
    assert empty_db.scalar("SELECT count(*) FROM schema_tool.checksums WHERE migration_id LIKE 'zeta_0002%'") == 0
    assert empty_db.scalar("SELECT count(*) FROM schema_tool.yoyo_lock") == 0


def test_lock_timeout_names_the_lock_and_its_holder(empty_db: TestDB, tmp_path: Path) -> None:
    root = migdirs.make(tmp_path)
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    migdirs.add(root, "zeta", "zeta_0001_alter", "ALTER TABLE ops.maintenance_log ADD COLUMN note text;",
                "ALTER TABLE ops.maintenance_log DROP COLUMN note;", depends="ops_0002_partition_engine")
    with psycopg.connect(empty_db.url) as holder:
        holder.execute("SELECT count(*) FROM ops.maintenance_log")  # AccessShareLock, transaction left open
        holder_pid = holder.info.backend_pid
        started = time.monotonic()
        result = run_cli("--migrations-dir", str(root), "migrate", "--lock-timeout", "700ms", url=empty_db.url)
        elapsed = time.monotonic() - started
        holder.rollback()
    assert result.returncode == 1
    line = result.stderr.strip()
    assert "\n" not in line
    assert "lock_timeout (700ms)" in line and "AccessExclusiveLock" in line
    assert "ops.maintenance_log" in line and f"pid {holder_pid}" in line and "idle in transaction" in line
    assert elapsed < 30
    assert empty_db.scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ops'"
                           " AND table_name = 'maintenance_log' AND column_name = 'note'") == 0


def test_run_killed_with_sigkill_does_not_block_the_next(empty_db: TestDB, tmp_path: Path) -> None:
    root = _slow_folder(tmp_path, 60)
    victim = _popen(empty_db.url, "--migrations-dir", str(root), "migrate")
    backend = _wait_for_query(empty_db, "pg_sleep(60)")
    assert empty_db.scalar("SELECT count(*) FROM schema_tool.yoyo_lock") == 1
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    # the same folder, the migration now fast (it was never applied, so no drift)
    slow = root / "zeta" / "zeta_0001_slow.sql"
    slow.write_text(slow.read_text().replace("pg_sleep(60)", "pg_sleep(0)"))
    started = time.monotonic()
    result = run_cli("--migrations-dir", str(root), "migrate", "--lock-wait", "30", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 15
    assert "removed a stale yoyo lock" in result.stdout
    assert empty_db.scalar("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)) == 0
    assert empty_db.scalar("SELECT count(*) FROM schema_tool._yoyo_log WHERE migration_id = 'zeta_0001_slow'") == 1
    assert empty_db.scalar("SELECT count(*) FROM schema_tool.yoyo_lock") == 0


@pytest.mark.parametrize("bad", ["5 parsecs", "-1s"])
def test_bad_lock_timeout_is_a_usage_error(bad: str) -> None:
    result = run_cli("migrate", "--lock-timeout", bad, url="postgresql://localhost:1/x")
    assert result.returncode == 2


def test_a_lock_held_for_a_while_is_waited_for_in_short_attempts(empty_db: TestDB, tmp_path: Path) -> None:
    """Waits are cut into attempts shorter than deadlock_timeout and retried while the
    --lock-timeout budget lasts: the migration succeeds once the holder lets go."""
    import threading

    root = migdirs.make(tmp_path)
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    migdirs.add(root, "zeta", "zeta_0001_alter", "ALTER TABLE ops.maintenance_log ADD COLUMN note text;",
                "ALTER TABLE ops.maintenance_log DROP COLUMN note;", depends="ops_0002_partition_engine")
    def release_after_a_failed_attempt(holder: psycopg.Connection, stop: threading.Event) -> None:
        """Lets go once the migration has been seen waiting, and one whole attempt later (a
        fixed delay would race the CLI's start on a loaded machine)."""
        with psycopg.connect(empty_db.url, autocommit=True) as watcher:
            while not stop.is_set() and not watcher.execute(
                    "SELECT 1 FROM pg_catalog.pg_locks AS l JOIN pg_catalog.pg_stat_activity AS a USING (pid)"
                    " WHERE NOT l.granted AND l.relation = 'ops.maintenance_log'::regclass"
                    " AND a.application_name LIKE 'schema-tool migrate%'").fetchone():
                stop.wait(0.02)
        stop.wait(lockwait.ATTEMPT + 0.3)  # the attempt seen waiting has failed by then
        holder.rollback()

    with psycopg.connect(empty_db.url) as holder:
        holder.execute("SELECT count(*) FROM ops.maintenance_log")  # AccessShareLock, transaction left open
        stop = threading.Event()
        release = threading.Thread(target=release_after_a_failed_attempt, args=(holder, stop))
        release.start()
        try:
            result = run_cli("--migrations-dir", str(root), "migrate", "--lock-timeout", "20s", url=empty_db.url)
        finally:
            stop.set()
            release.join()
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("applying zeta_0001_alter"))
    assert "attempts: waited for AccessExclusiveLock on relation ops.maintenance_log" in line
    assert empty_db.scalar("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'ops'"
                           " AND table_name = 'maintenance_log' AND column_name = 'note'") == 1
