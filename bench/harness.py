"""Benchmark harness: a throwaway local cluster, fresh databases, and a markdown table of
side-by-side measurements (ours vs a baseline, measured in the same run)."""

from __future__ import annotations

import glob
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import conninfo

from schema_tool import embedded, paths
from schema_tool.migrate import Runner


@dataclass
class Result:
    benchmark: str
    ours: float
    baseline: float
    baseline_name: str
    unit: str = "s"  # "s": lower is better; anything ending in "/s": higher is better
    goal: str = ""  # the ratio we aim for, e.g. ">= 1.2x" (printed beside the ratio)

    @property
    def higher_is_better(self) -> bool:
        return self.unit.endswith("/s")

    @property
    def ratio(self) -> float:
        """How many times better ours is (> 1: ours wins)."""
        if self.higher_is_better:
            return self.ours / self.baseline if self.baseline else float("inf")
        return self.baseline / self.ours if self.ours else float("inf")


# How to get each baseline a benchmark compares against (printed when one is missing).
INSTALL = {
    "pg_partman": "apt-get install postgresql-15-partman (the server's major version)",
    "procrastinate": ".venv/bin/pip install -e '.[bench]' (or set BENCH_PROCRASTINATE_SQL to its schema.sql)",
}


@dataclass
class Skipped:
    """Rows a benchmark could not measure because a baseline is missing."""

    rows: str
    baseline: str

    def line(self) -> str:
        return f"skipped: {self.rows}: {self.baseline} is not installed; install it with {INSTALL[self.baseline]}"


class Bench:
    """A local server for one benchmark run (SCHEMA_TOOL_BENCH_URL: use an existing one)."""

    def __init__(self) -> None:
        self._base: str | None = None
        self._cluster: embedded.Cluster | None = None
        self.skipped: list[Skipped] = []
        external = os.environ.get("SCHEMA_TOOL_BENCH_URL")
        if external:
            self.server_url = external
            return
        self._base = tempfile.mkdtemp(prefix="schema-tool-bench-", dir="/tmp")
        os.chmod(self._base, 0o755)
        self._cluster = embedded.Cluster(Path(self._base) / "pg", embedded.free_port(), embedded.server_os_user())
        self._cluster.init({"shared_buffers": "'512MB'", "max_wal_size": "'4GB'", "synchronous_commit": "off",
                            "max_connections": "120", "max_locks_per_transaction": "512"})
        self._cluster.start()
        self.server_url = self._cluster.url("postgres")

    def fresh_db(self, name: str, *, migrate: bool = True, systems: list[str] | None = None) -> str:
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        url = conninfo.make_conninfo(self.server_url, dbname=name)
        if migrate:
            with open(os.devnull, "w") as quiet:
                Runner(url, paths.migrations_dir(), out=quiet).migrate(systems)
        return url

    def has_extension(self, name: str) -> bool:
        """Whether the server can CREATE EXTENSION name (its files are installed)."""
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            return conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = %s", (name,)).fetchone() is not None

    def procrastinate_db(self, name: str, rows: str) -> str | None:
        """A fresh database holding procrastinate's schema; None, with `rows` said skipped,
        when its schema.sql is not to be found (procrastinate_schema)."""
        schema = procrastinate_schema()
        if not (schema and schema.exists()):
            self.skip(rows, "procrastinate")
            return None
        url = self.fresh_db(name, migrate=False)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(schema.read_text())
        return url

    def skip(self, rows: str, baseline: str) -> None:
        """Note rows left out for want of a baseline; said now and again under the table."""
        skipped = Skipped(rows, baseline)
        self.skipped.append(skipped)
        print(skipped.line(), file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._cluster:
            self._cluster.stop()
        if self._base:
            shutil.rmtree(self._base, ignore_errors=True)


def procrastinate_schema() -> Path | None:
    """procrastinate's schema.sql: BENCH_PROCRASTINATE_SQL, an importable procrastinate (the
    `bench` extra), or a throwaway venv at /tmp/bench-venv; None when there is none."""
    explicit = os.environ.get("BENCH_PROCRASTINATE_SQL")
    if explicit:
        return Path(explicit) if Path(explicit).is_file() else None
    try:
        import procrastinate  # type: ignore[import-not-found]

        return Path(procrastinate.__file__).parent / "sql" / "schema.sql"
    except ImportError:
        found = sorted(glob.glob("/tmp/bench-venv/lib/python3*/site-packages/procrastinate/sql/schema.sql"))
        return Path(found[-1]) if found else None


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """Median wall-clock seconds of fn over `repeat` runs."""
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def _pgbench(url: str, script: str, clients: int, how: list[str], role: str | None,
             define: dict[str, str] | None) -> subprocess.CompletedProcess[str]:
    """pgbench running `script` (prepared statements) on `clients` connections, one thread
    each, with `how` (-t N, or -T seconds); a failed or aborted run is raised."""
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    try:
        args = [str(embedded.find_bindir() / "pgbench"), "-n", "-M", "prepared", "-c", str(clients),
                "-j", str(clients), *how, "-f", f.name]
        for name, value in (define or {}).items():
            args += ["-D", f"{name}={value}"]
        env = {**os.environ, "PGOPTIONS": f"-c role={role}" if role else ""}
        out = subprocess.run([*args, url], capture_output=True, text=True, env=env)
    finally:
        os.unlink(f.name)
    if out.returncode != 0 or "aborted" in out.stderr or not re.search(r"^tps = ", out.stdout, re.MULTILINE):
        raise RuntimeError(f"pgbench failed ({out.returncode}): {out.stderr.strip()[-500:]}")
    return out


def pgbench(url: str, script: str, clients: int, transactions: int, *, role: str | None = None,
            define: dict[str, str] | None = None) -> float:
    """Transactions per second of `transactions` runs of `script` on each of `clients`
    connections: the server's side of a loop with no Python client in it (pgbench is C)."""
    out = _pgbench(url, script, clients, ["-t", str(transactions)], role, define)
    return float(re.search(r"^tps = ([0-9.]+)", out.stdout, re.MULTILINE).group(1))  # type: ignore[union-attr]


def pgbench_intervals(url: str, script: str, clients: int, seconds: int, every: int, *, role: str | None = None,
                      define: dict[str, str] | None = None) -> list[float]:
    """Transactions per second in each `every`-second interval of `seconds` of `script` on
    `clients` connections (pgbench's progress report): how throughput holds up over time."""
    out = _pgbench(url, script, clients, ["-T", str(seconds), "-P", str(every)], role, define)
    return [float(m) for m in re.findall(r"^progress: [0-9.]+ s, ([0-9.]+) tps", out.stderr, re.MULTILINE)]


def race(url: str, n: int, work: Callable[[psycopg.Connection, int], Any]) -> tuple[float, list[Any]]:
    """work(conn, i) on n connections released together by a barrier: wall seconds from the
    release to the last finish, and each worker's result. A worker's exception is raised."""
    conns = [psycopg.connect(url, autocommit=True) for _ in range(n)]
    barrier = threading.Barrier(n + 1)
    results: list[Any] = [None] * n
    failures: list[BaseException] = []

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(conns[i], i)
        except BaseException as exc:  # raised below, in the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    try:
        for t in threads:
            t.start()
        barrier.wait()
        started = time.perf_counter()
        for t in threads:
            t.join()
        elapsed = time.perf_counter() - started
    finally:
        for conn in conns:
            conn.close()
    if failures:
        raise failures[0]
    return elapsed, results


def markdown(results: list[Result]) -> str:
    lines = ["| benchmark | ours | baseline | baseline is | ours is | goal |", "|---|---|---|---|---|---|"]
    for r in results:
        verdict = f"{r.ratio:.2f}x {'better' if r.ratio >= 1 else 'worse'}"
        lines.append(f"| {r.benchmark} | {_fmt(r.ours, r.unit)} | {_fmt(r.baseline, r.unit)} | "
                     f"{r.baseline_name} | {verdict} | {r.goal} |")
    return "\n".join(lines)


def _fmt(value: float, unit: str) -> str:
    if unit == "s":
        return f"{value * 1000:.1f} ms" if value < 1 else f"{value:.2f} s"
    return f"{value:,.0f} {unit}"
