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
from pathlib import Path

import psycopg

from harness import Bench, Result, timed
from schema_tool import embedded, paths

ROUNDS = int(os.environ.get("BENCH_MIGRATE_ROUNDS", "5"))
CLI = str(Path(sys.executable).parent / "schema-tool")


def _empty(bench: Bench, name: str, extensions: list[str]) -> str:
    url = bench.fresh_db(name, migrate=False)
    with psycopg.connect(url, autocommit=True) as conn:
        for ext in extensions:  # the snapshots assume them, as a migration creates them
            conn.execute(f'CREATE EXTENSION IF NOT EXISTS "{ext}"')
    return url


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    subprocess.run(cmd, check=True, capture_output=True, env=env)


def run(bench: Bench) -> list[Result]:
    probe = bench.fresh_db("bench_migrate_probe")  # also creates the roles the snapshots grant to
    with psycopg.connect(probe, autocommit=True) as conn:
        extensions = [r[0] for r in conn.execute("SELECT extname FROM pg_extension WHERE extname <> 'plpgsql'")]
    snapshots = [paths.snapshots_dir() / f"{s}.sql" for s in paths.SYSTEMS
                 if (paths.snapshots_dir() / f"{s}.sql").exists()]
    psql = str(embedded.find_bindir() / "psql")
    env = {**os.environ, "PGOPTIONS": "-c check_function_bodies=off"}  # as pg_dump's own header sets it
    files = [arg for f in snapshots for arg in ("-f", str(f))]
    ours: list[float] = []
    theirs: list[float] = []
    for r in range(ROUNDS):
        a = _empty(bench, "bench_migrate_ours", [])
        b = _empty(bench, "bench_migrate_psql", extensions)
        both = [(ours, [CLI, "migrate", "--database-url", a], None),
                (theirs, [psql, "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", b, *files], env)]
        for samples, cmd, cmd_env in both if r % 2 == 0 else reversed(both):
            samples.append(timed(lambda: _run(cmd, cmd_env)))  # noqa: B023 - called at once
    return [Result(f"full migrate of every system ({len(snapshots)} schemas) on an empty database, whole process",
                   statistics.median(ours), statistics.median(theirs), "psql -f of the sql/ snapshots",
                   goal=">= 0.67x (<= 1.5x the time)")]
