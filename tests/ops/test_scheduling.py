"""Maintenance from pg_cron, and on a standby."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from clones import ClonePool
from cron_ahead import CronJob
from pg import TestDB, run_cli, scratch_dir
from schema_tool import embedded


def test_pg_cron_runs_maintenance(pg_cron_job: CronJob) -> None:
    """The README's one-liner, run by a real pg_cron (1.4 runs jobs on the minute; the job
    was scheduled when the ops tests started: see conftest.py)."""
    if pg_cron_job.skip:
        pytest.skip(pg_cron_job.skip)
    db, parent = pg_cron_job.db, pg_cron_job.parent
    assert db is not None
    with psycopg.connect(pg_cron_job.admin_url, autocommit=True) as admin:
        deadline = pg_cron_job.scheduled_at + 75
        while time.monotonic() < deadline and db.scalar(f"SELECT count(*) FROM {parent}_default"):
            time.sleep(1)
        status = admin.execute("SELECT status, return_message FROM cron.job_run_details WHERE jobid = %s"
                               " ORDER BY runid", (pg_cron_job.job,)).fetchall()
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 0, status
    assert db.scalar(f"SELECT count(*) FROM {parent}") == 2
    assert status and status[0][0] == "succeeded", status


@pytest.fixture
def standby(db: TestDB, server_url: str, clone_pool: ClonePool) -> Iterator[str]:
    """A streaming standby of the session's server (pg_basebackup -R), started on its own port;
    the URL of the test database there."""
    params = psycopg.conninfo.conninfo_to_dict(server_url)
    base = Path(tempfile.mkdtemp(prefix="schema-tool-standby-", dir=scratch_dir()))
    os.chmod(base, 0o755)
    cluster = embedded.Cluster(base / "pg", embedded.free_port(), embedded.server_os_user())
    cluster.pgdir.mkdir()
    if cluster.os_user:
        shutil.chown(cluster.pgdir, cluster.os_user, cluster.os_user)
    with clone_pool.paused():  # databases made or dropped during the copy would break it
        cluster._run([str(embedded.find_bindir() / "pg_basebackup"), "-h", params["host"], "-p",
                      str(params["port"]), "-U", params["user"], "-D", str(cluster.data), "-R", "-X", "stream",
                      "-c", "fast"])
    with open(cluster.data / "postgresql.conf", "a") as conf:
        conf.write(f"\nunix_socket_directories = '{cluster.pgdir}'\nshared_preload_libraries = ''\n")
    cluster.start()
    try:
        yield cluster.url(db.name)
    finally:
        # a throwaway standby: no restartpoint on the way down (a fast stop spent seconds on one)
        cluster._pg_ctl(["stop", "-m", "immediate", "-w", "-t", "60"], check=False)
        shutil.rmtree(base, ignore_errors=True)


def test_maintenance_on_a_standby_is_a_no_op_that_says_so(db: TestDB, standby: str) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            with psycopg.connect(standby, autocommit=True) as conn:
                assert conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]
                break
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    result = run_cli("maintain", url=standby)
    assert result.returncode == 0, result.stderr
    assert "standby: maintenance is a no-op here" in result.stdout
    with psycopg.connect(standby, autocommit=True) as conn:
        notices: list[str] = []
        conn.add_notice_handler(lambda d: notices.append(d.message_primary))
        conn.execute("CALL ops.run_maintenance()")
    assert notices == ["this server is a standby: maintenance is a no-op here"]
