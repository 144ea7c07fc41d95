"""A full `schema-tool migrate` of every system on an empty database, as a whole process,
vs `psql -f` of the sql/ snapshots (the same schemas with nothing of the runner: no
bookkeeping, no lock, no checks, no monthly partitions) into an empty database.

The snapshots leave out the monthly partitions that migrate creates (about 56, each a
table with its indexes: their files cost most of the difference), so a second baseline
replays the same end state: `pg_dump --schema-only` of a migrated database (partitions,
bookkeeping tables and all) through `psql -f`. The first row is the issue's goal; the
second tells the runner's own overhead apart from the partitions' DDL.

Each round makes three fresh databases (not timed) and times one of each, the order
rotating; the medians are compared. Goal: the runner costs at most 1.5x the raw DDL.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
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
    psql = [str(embedded.find_bindir() / "psql"), "-q", "-X", "-v", "ON_ERROR_STOP=1"]
    env = {**os.environ, "PGOPTIONS": "-c check_function_bodies=off"}  # as pg_dump's own header sets it
    files = [arg for f in snapshots for arg in ("-f", str(f))]
    with tempfile.TemporaryDirectory() as tmp:
        end_state = Path(tmp) / "end_state.sql"
        _run([str(embedded.find_bindir() / "pg_dump"), "--schema-only", "-f", str(end_state), probe])
        ours: list[float] = []
        theirs: list[float] = []
        same: list[float] = []
        for r in range(ROUNDS):
            a = _empty(bench, "bench_migrate_ours", [])
            b = _empty(bench, "bench_migrate_psql", extensions)
            c = _empty(bench, "bench_migrate_end_state", [])
            kinds = [(ours, [CLI, "migrate", "--database-url", a], None),
                     (theirs, [*psql, "-d", b, *files], env),
                     (same, [*psql, "-d", c, "-f", str(end_state)], None)]
            for samples, cmd, cmd_env in kinds[r % 3:] + kinds[:r % 3]:
                samples.append(timed(lambda: _run(cmd, cmd_env)))  # noqa: B023 - called at once
    label = f"full migrate of every system ({len(snapshots)} schemas) on an empty database, whole process"
    return [Result(label, statistics.median(ours), statistics.median(theirs), "psql -f of the sql/ snapshots",
                   goal=">= 0.67x (<= 1.5x the time)"),
            Result(f"{label}: vs the same end state", statistics.median(ours), statistics.median(same),
                   "psql -f of pg_dump --schema-only of a migrated database (partitions included)")]
