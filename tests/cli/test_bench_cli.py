"""bench/run.py is a tool people run: its --help says how to set it up, and a missing
baseline is a "skipped: ... install it with ..." line, never a traceback. (This runs no
benchmark: benchmarks are not tests.)"""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg import ROOT

BENCH = ROOT / "bench"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(BENCH / "run.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)


@pytest.fixture
def harness(server_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    """The bench harness on the test server (SCHEMA_TOOL_BENCH_URL), as run.py imports it."""
    monkeypatch.setenv("SCHEMA_TOOL_BENCH_URL", server_url)
    monkeypatch.syspath_prepend(str(BENCH))
    import harness as module

    yield module


def test_help_says_how_to_set_up_and_what_it_reads() -> None:
    result = _run("--help")
    assert result.returncode == 0, result.stderr
    assert "pip install -e '.[bench]'" in result.stdout and "postgresql-15-partman" in result.stdout
    read = set(re.findall(r"BENCH_\w+|SCHEMA_TOOL_BENCH_URL", "".join(p.read_text() for p in BENCH.glob("*.py"))))
    listed = set(re.findall(r"^  (\w+) ", result.stdout, re.M))
    assert read <= listed, f"not documented in --help: {sorted(read - listed)}"


def test_unknown_benchmark_is_bad_usage() -> None:
    result = _run("nonesuch")
    assert result.returncode == 2
    assert "unknown benchmark nonesuch" in result.stderr and "Traceback" not in result.stderr


def test_missing_pg_partman_skips_its_rows_with_the_install_line(harness, monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    import bench_partitions

    bench = harness.Bench()
    try:
        assert bench.has_extension("plpgsql") and not bench.has_extension("no_such_extension")
        monkeypatch.setattr(bench, "has_extension", lambda name: name != "pg_partman")
        assert bench_partitions.setup_and_noop(bench) == []
    finally:
        bench.close()
    [skipped] = bench.skipped
    assert skipped.line() == ("skipped: partition setup and no-op maintenance vs pg_partman: pg_partman is not "
                              f"installed; install it with {harness.INSTALL['pg_partman']}")
    assert skipped.line() in capsys.readouterr().err


def test_procrastinate_schema_found_or_none(harness, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("BENCH_PROCRASTINATE_SQL", str(tmp_path / "missing.sql"))
    assert harness.procrastinate_schema() is None
    (tmp_path / "schema.sql").write_text("SELECT 1;")
    monkeypatch.setenv("BENCH_PROCRASTINATE_SQL", str(tmp_path / "schema.sql"))
    assert harness.procrastinate_schema() == tmp_path / "schema.sql"
