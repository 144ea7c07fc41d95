"""A full `schema-tool migrate` of every system on an empty database, as a whole process,
vs `psql -f` of the sql/ snapshots (the same schemas with nothing of the runner: no
bookkeeping, no lock, no checks, no monthly partitions) into an empty database.

Each round makes two fresh databases (not timed) and times one of each, the order
alternating; the medians are compared. Goal: the runner costs at most 1.5x the raw DDL.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from psycopg import conninfo

from harness import Bench, Result
from schema_tool import embedded, paths

ROUNDS = int(os.environ.get("BENCH_MIGRATE_ROUNDS", "5"))
CLI = str(Path(sys.executable).parent / "schema-tool")


def _empty(bench: Bench, name: str, extensions: list[str]) -> str:
    with psycopg.connect(bench.server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    url = conninfo.make_conninfo(bench.server_url, dbname=name)
    with psycopg.connect(url, autocommit=True) as conn:
        for ext in extensions:  # the snapshots assume them, as a migration creates them
            conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
    return url


def _timed(cmd: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, env=env)
    return time.perf_counter() - started


def run(bench: Bench) -> list[Result]:
    probe = bench.fresh_db("bench_migrate_probe")  # also creates the roles the snapshots grant to
    with psycopg.connect(probe, autocommit=True) as conn:
        extensions = [r[0] for r in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")]
    snapshots = [paths.snapshots_dir() / f"{s}.sql" for s in paths.SYSTEMS
                 if (paths.snapshots_dir() / f"{s}.sql").exists()]
    psql = str(embedded.find_bindir() / "psql")
    env = {**os.environ, "PGOPTIONS": "-c check_function_bodies=off"}  # as pg_dump's own header sets it
    ours: list[float] = []
    theirs: list[float] = []
    for r in range(ROUNDS):
        a = _empty(bench, "bench_migrate_ours", [])
        b = _empty(bench, "bench_migrate_psql", extensions)
        runs = [lambda: ours.append(_timed([CLI, "migrate", "--database-url", a])),
                lambda: theirs.append(_timed([psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", b,
                                              *[arg for f in snapshots for arg in ("-f", str(f))]], env))]
        for fn in runs if r % 2 == 0 else reversed(runs):
            fn()
    return [Result(f"full migrate of every system ({len(snapshots)} schemas) on an empty database, whole process",
                   statistics.median(ours), statistics.median(theirs), "psql -f of the sql/ snapshots",
                   goal=">= 0.67x (<= 1.5x the time)")]
