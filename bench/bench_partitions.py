"""Partition engine benchmarks (issue 3), each side by side in one run:

- setting up N parents x 24 monthly partitions, and a no-op maintenance run:
  ours (ops.register_partitioned_table / CALL ops.run_maintenance(), and the CLI) vs
  pg_partman 4.x (create_parent / run_maintenance) on identical tables;
- retention of one month holding 1M rows: our DROP / DETACH vs DELETE ... WHERE;
- insert throughput into a registered partitioned table (with DEFAULT) vs the same table
  unpartitioned.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from harness import Bench, Result, timed

PARENTS = int(os.environ.get("BENCH_PARENTS", "20"))
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
CLI = str(Path(sys.executable).parent / "schema-tool")

TABLE = """CREATE TABLE {name} (
    id bigint GENERATED ALWAYS AS IDENTITY,
    created_at timestamptz NOT NULL,
    account_id bigint NOT NULL,
    kind text NOT NULL,
    payload jsonb,
    PRIMARY KEY (created_at, id)
){partition}"""


def _make_tables(conn: psycopg.Connection, schema: str, n: int) -> list[str]:
    conn.execute(f"CREATE SCHEMA {schema} AUTHORIZATION schema_tool_owner")
    conn.execute("SET ROLE schema_tool_owner")
    names = []
    for i in range(n):
        name = f"{schema}.events_{i:03d}"
        conn.execute(TABLE.format(name=name, partition=" PARTITION BY RANGE (created_at)"))
        conn.execute(f"CREATE INDEX ON {name} (account_id, created_at)")
        names.append(name)
    conn.execute("RESET ROLE")
    return names


def setup_and_noop(bench: Bench) -> list[Result]:
    if not bench.has_extension("pg_partman"):
        bench.skip("partition setup and no-op maintenance vs pg_partman", "pg_partman")
        return []
    url = bench.fresh_db("bench_setup", systems=["ops"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA partman")
        conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
        ours = _make_tables(conn, "ours", PARENTS)
        theirs = _make_tables(conn, "theirs", PARENTS)
        start = datetime.now(timezone.utc).replace(day=1)
        start = start.replace(year=start.year - 1).strftime("%Y-%m-%d")

        def setup_ours() -> None:
            for name in ours:
                conn.execute("SELECT ops.register_partitioned_table(%s::regclass, 'created_at',"
                             " p_premake => 11, p_start_months_back => 12)", (name,))

        def setup_theirs() -> None:
            for name in theirs:
                conn.execute("SELECT partman.create_parent(%s, 'created_at', 'native', 'monthly',"
                             " p_premake => 11, p_start_partition => %s, p_jobmon => false)", (name, start))

        t_setup_ours, t_setup_theirs = timed(setup_ours), timed(setup_theirs)
        count = "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass"
        n_ours = conn.execute(count, (ours[0],)).fetchone()[0]
        n_theirs = conn.execute(count, (theirs[0],)).fetchone()[0]
        assert n_ours == n_theirs == 25, (n_ours, n_theirs)  # 24 months + DEFAULT each

        noop_ours = timed(lambda: conn.execute("CALL ops.run_maintenance()"), repeat=5)
        noop_theirs = timed(lambda: conn.execute("SELECT partman.run_maintenance()"), repeat=5)
        noop_cli = timed(lambda: subprocess.run([CLI, "maintain", "--database-url", url], check=True,
                                                capture_output=True), repeat=5)
        assert conn.execute(count, (ours[0],)).fetchone()[0] == 25
    label = f"{PARENTS} parents x 24 months"
    return [
        Result(f"partition setup, {label}", t_setup_ours, t_setup_theirs, "pg_partman 4.7 create_parent"),
        Result(f"no-op maintenance, {label} (SQL: CALL ops.run_maintenance())", noop_ours, noop_theirs,
               "pg_partman 4.7 run_maintenance()"),
        Result(f"no-op maintenance, {label} (CLI: schema-tool maintain, whole process)", noop_cli, noop_theirs,
               "pg_partman 4.7 run_maintenance()"),
    ]


def retention(bench: Bench) -> list[Result]:
    results = []
    url = bench.fresh_db("bench_retention", systems=["ops"])
    with psycopg.connect(url, autocommit=True) as conn:
        for mode in ("drop", "detach"):
            schema = f"ret_{mode}"
            parent = _make_tables(conn, schema, 1)[0]
            conn.execute("SELECT ops.register_partitioned_table(%s::regclass, 'created_at', p_premake => 0,"
                         " p_retention => '1 month', p_retention_mode => %s)", (parent, mode))
            conn.execute("SELECT * FROM ops.ensure_partitions(%s::regclass, '2020-01-01', 1)", (parent,))
            plain = f"{schema}.plain"
            conn.execute(TABLE.format(name=plain, partition=""))
            conn.execute(f"CREATE INDEX ON {plain} (account_id, created_at)")
            for table in (parent, plain):
                conn.execute(f"INSERT INTO {table} (created_at, account_id, kind, payload)"
                             " SELECT '2020-01-01'::timestamptz + (g %% 2678400) * interval '1 second', g %% 1000,"
                             " 'click', '{\"x\": 1}' FROM generate_series(1, %s) g", (ROWS,))
                conn.execute(f"VACUUM ANALYZE {table}")
            ours = timed(lambda: conn.execute("SELECT * FROM ops.apply_retention(%s::regclass, '2020-04-15')",
                                              (parent,)))
            theirs = timed(lambda: conn.execute(f"DELETE FROM {plain} WHERE created_at < '2020-02-01'"))
            left = conn.execute(f"SELECT count(*) FROM {parent}").fetchone()[0]
            assert left == 0, left
            results.append(Result(f"retention of one month of {ROWS:,} rows ({mode})", ours, theirs,
                                  "DELETE ... WHERE of the same rows"))
    return results


def inserts(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_inserts", systems=["ops"])
    n = ROWS // 4
    with psycopg.connect(url, autocommit=True) as conn:
        parent = _make_tables(conn, "ins", 1)[0]
        conn.execute("SELECT ops.register_partitioned_table(%s::regclass, 'created_at', p_premake => 1,"
                     " p_start_months_back => 1)", (parent,))
        plain = "ins.plain"
        conn.execute(TABLE.format(name=plain, partition=""))
        conn.execute(f"CREATE INDEX ON {plain} (account_id, created_at)")

        def bulk(table: str) -> None:
            conn.execute(f"INSERT INTO {table} (created_at, account_id, kind)"
                         " SELECT now() - (g %% 86400) * interval '1 second', g %% 1000, 'view'"
                         " FROM generate_series(1, %s) g", (n,))

        def rows(table: str) -> None:
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} (created_at, account_id, kind) VALUES (now(), %s, 'view')",
                                [(i % 1000,) for i in range(n // 10)])

        bulk_ours, bulk_plain = timed(lambda: bulk(parent)), timed(lambda: bulk(plain))
        row_ours, row_plain = timed(lambda: rows(parent)), timed(lambda: rows(plain))
    return [
        Result(f"bulk INSERT ... SELECT of {n:,} rows", n / bulk_ours, n / bulk_plain,
               "same table unpartitioned", "rows/s"),
        Result(f"{n // 10:,} single-row INSERTs (pipelined executemany)", (n // 10) / row_ours,
               (n // 10) / row_plain, "same table unpartitioned", "rows/s"),
    ]


def run(bench: Bench) -> list[Result]:
    return setup_and_noop(bench) + retention(bench) + inserts(bench)
