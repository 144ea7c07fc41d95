"""Partition engine benchmarks (issues 3 and 14), each side by side in one run:

- setting up N parents x 24 monthly partitions: ops.register_partitioned_table vs pg_partman
  4.x create_parent, and raw CREATE TABLE ... PARTITION OF statements (the limit), each
  parent of the three set up in turn, all as the owner role (as a migration does);
- a no-op maintenance run: CALL ops.run_maintenance() vs pg_partman run_maintenance() on the
  same N parents, and ours on 10 x N parents (flat: 10 times the parents, at most 10 times
  the cost); `schema-tool maintain` as a whole process against its 150 ms budget, and
  beside a Python process that only imports psycopg, connects and runs SELECT 1 (the floor);
- retention of one month holding 1M rows: our DROP / DETACH vs DELETE ... WHERE;
- insert throughput into a registered partitioned table (with DEFAULT) vs the same table
  unpartitioned, in alternating rounds after a CHECKPOINT (medians).

BENCH_PARENTS (20), BENCH_PARENTS_LARGE (200), BENCH_ROWS (1,000,000), BENCH_ROUNDS (5).
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import psycopg

from harness import Bench, Result, timed

PARENTS = int(os.environ.get("BENCH_PARENTS", "20"))
PARENTS_LARGE = int(os.environ.get("BENCH_PARENTS_LARGE", "200"))
ROWS = int(os.environ.get("BENCH_ROWS", "1000000"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CLI = str(Path(sys.executable).parent / "schema-tool")
CLI_BUDGET = 0.150  # seconds: `schema-tool maintain` with nothing to do, whole process

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


def _months(start: datetime, n: int) -> list[tuple[str, str]]:
    out, y, m = [], start.year, start.month
    for _ in range(n):
        y2, m2 = (y, m + 1) if m < 12 else (y + 1, 1)
        out.append((f"{y}-{m:02d}-01 00:00:00+00", f"{y2}-{m2:02d}-01 00:00:00+00"))
        y, m = y2, m2
    return out


def _setups(conn: psycopg.Connection, ours: list[str], theirs: list[str], raw: list[str]) -> tuple[float, ...]:
    """Each parent of the three kinds set up in turn (rotating who goes first); total seconds."""
    first = datetime.now(timezone.utc).replace(day=1)
    first = first.replace(year=first.year - 1)
    months = _months(first, 24)
    conn.execute("SET ROLE schema_tool_owner")

    def one(kind: int, name: str) -> None:
        if kind == 0:
            conn.execute("SELECT ops.register_partitioned_table(%s::regclass, 'created_at',"
                         " p_premake => 11, p_start_months_back => 12)", (name,))
        elif kind == 1:
            conn.execute("SELECT partman.create_parent(%s, 'created_at', 'native', 'monthly',"
                         " p_premake => 11, p_start_partition => %s, p_jobmon => false)",
                         (name, first.strftime("%Y-%m-%d")))
        else:
            with conn.transaction():
                conn.execute(f"CREATE TABLE {name}_default PARTITION OF {name} DEFAULT")
                for lower, upper in months:
                    conn.execute(f"CREATE TABLE {name}_{lower[:4]}_{lower[5:7]} PARTITION OF {name}"
                                 f" FOR VALUES FROM ('{lower}') TO ('{upper}')")

    totals = [0.0, 0.0, 0.0]
    for i, names in enumerate(zip(ours, theirs, raw)):
        for k in range(3):
            kind = (i + k) % 3
            totals[kind] += timed(lambda: one(kind, names[kind]))
    conn.execute("RESET ROLE")
    return tuple(totals)


def _alternating(fns: list, rounds: int) -> list[float]:
    """Median seconds of each fn over rounds, the order rotating every round."""
    samples: list[list[float]] = [[] for _ in fns]
    for r in range(rounds):
        for k in range(len(fns)):
            i = (r + k) % len(fns)
            samples[i].append(timed(fns[i]))
    return [statistics.median(s) for s in samples]


def setup_and_noop(bench: Bench) -> list[Result]:
    if not bench.has_extension("pg_partman"):
        bench.skip("partition setup and no-op maintenance vs pg_partman", "pg_partman")
        return []
    url = bench.fresh_db("bench_setup", systems=["ops"])
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA partman")
        conn.execute("CREATE EXTENSION pg_partman SCHEMA partman")
        # pg_partman run as the owner role too, as its documentation's dedicated role
        conn.execute("GRANT ALL ON SCHEMA partman TO schema_tool_owner;"
                     " GRANT ALL ON ALL TABLES IN SCHEMA partman TO schema_tool_owner;"
                     " GRANT ALL ON ALL SEQUENCES IN SCHEMA partman TO schema_tool_owner")
        ours = _make_tables(conn, "ours", PARENTS)
        theirs = _make_tables(conn, "theirs", PARENTS)
        raw = _make_tables(conn, "raw", PARENTS)
        t_ours, t_theirs, t_raw = _setups(conn, ours, theirs, raw)
        count = "SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass"
        kids = [conn.execute(count, (t[0],)).fetchone()[0] for t in (ours, theirs, raw)]
        assert kids == [25, 25, 25], kids  # 24 months + DEFAULT each

        noop_ours, noop_theirs = _alternating([lambda: conn.execute("CALL ops.run_maintenance()"),
                                               lambda: conn.execute("SELECT partman.run_maintenance()")], 7)
        # the floor beside it: a Python process that only imports psycopg, connects and runs one
        # query (what any psycopg client pays before its first result)
        floor = [sys.executable, "-c", "import sys, psycopg; psycopg.connect(sys.argv[1]).execute('SELECT 1')", url]
        cli, cli_floor = _alternating([
            lambda: subprocess.run([CLI, "maintain", "--database-url", url], check=True, capture_output=True),
            lambda: subprocess.run(floor, check=True, capture_output=True)], 9)
        assert conn.execute(count, (ours[0],)).fetchone()[0] == 25
    label = f"{PARENTS} parents x 24 months"
    return [
        Result(f"partition setup, {label}", t_ours, t_theirs, "pg_partman 4.7 create_parent", goal=">= 1.25x"),
        Result(f"partition setup, {label}: raw CREATE TABLE ... PARTITION OF (the limit)", t_raw, t_theirs,
               "pg_partman 4.7 create_parent", goal="(reference)"),
        Result(f"no-op maintenance, {label} (CALL ops.run_maintenance())", noop_ours, noop_theirs,
               "pg_partman 4.7 run_maintenance()", goal=">= 5x"),
        Result("`schema-tool maintain`, whole process, nothing to do", cli, CLI_BUDGET,
               "the 150 ms budget", goal=">= 1x (<= 150 ms)"),
        Result("`schema-tool maintain`, whole process, nothing to do: vs the floor", cli, cli_floor,
               "python: import psycopg, connect, SELECT 1", goal="(reference)"),
    ] + flatness(bench, url)


def flatness(bench: Bench, small_url: str) -> list[Result]:
    """No-op maintenance on PARENTS_LARGE parents vs on the PARENTS of small_url, in alternating
    rounds once both databases are vacuumed and analyzed (catalogs included: registering
    thousands of partitions leaves their catalog rows to autovacuum otherwise, mid-run)."""
    url = bench.fresh_db("bench_flat", systems=["ops"])
    with psycopg.connect(url, autocommit=True) as conn, psycopg.connect(small_url, autocommit=True) as small:
        parents = _make_tables(conn, "flat", PARENTS_LARGE)
        conn.execute("SET ROLE schema_tool_owner")
        for name in parents:
            conn.execute("SELECT ops.register_partitioned_table(%s::regclass, 'created_at',"
                         " p_premake => 11, p_start_months_back => 12)", (name,))
        conn.execute("RESET ROLE")
        for db in (conn, small):
            db.execute("VACUUM ANALYZE")
        noop_small, noop_large = _alternating([lambda: small.execute("CALL ops.run_maintenance()"),
                                               lambda: conn.execute("CALL ops.run_maintenance()")], 7)
    factor = PARENTS_LARGE / PARENTS
    return [Result(f"no-op maintenance, {PARENTS_LARGE} parents vs {factor:g} x {PARENTS} parents"
                   " (alternating rounds, medians)",
                   noop_large, noop_small * factor, f"{factor:g} x ours on {PARENTS} parents",
                   goal=f">= 1x (flat: <= {factor:g}x the cost)")]


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

        def fresh(table: str) -> None:
            conn.execute(f"TRUNCATE {table}")
            conn.execute("CHECKPOINT")

        def bulk(table: str) -> float:
            fresh(table)
            started = time.perf_counter()
            conn.execute(f"INSERT INTO {table} (created_at, account_id, kind)"
                         " SELECT now() - (g %% 86400) * interval '1 second', g %% 1000, 'view'"
                         " FROM generate_series(1, %s) g", (n,))
            return time.perf_counter() - started

        def rows(table: str) -> float:
            fresh(table)
            started = time.perf_counter()
            with conn.cursor() as cur:
                cur.executemany(f"INSERT INTO {table} (created_at, account_id, kind) VALUES (now(), %s, 'view')",
                                [(i % 1000,) for i in range(n // 10)])
            return time.perf_counter() - started

        samples: dict[tuple[str, str], list[float]] = {}
        for r in range(ROUNDS):
            for kind, fn in (("bulk", bulk), ("rows", rows)):
                for table in ((parent, plain) if r % 2 == 0 else (plain, parent)):
                    samples.setdefault((kind, table), []).append(fn(table))
        med = {key: statistics.median(v) for key, v in samples.items()}
    return [
        Result(f"bulk INSERT ... SELECT of {n:,} rows (median of {ROUNDS} alternating rounds)",
               n / med["bulk", parent], n / med["bulk", plain], "same table unpartitioned", "rows/s",
               goal=">= 0.9x"),
        Result(f"{n // 10:,} single-row INSERTs (pipelined executemany, median of {ROUNDS})",
               (n // 10) / med["rows", parent], (n // 10) / med["rows", plain], "same table unpartitioned",
               "rows/s"),
    ]


def run(bench: Bench) -> list[Result]:
    return setup_and_noop(bench) + retention(bench) + inserts(bench)
