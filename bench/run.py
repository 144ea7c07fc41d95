"""Run benchmarks side by side and print a markdown table of ratios.

Each bench_<name>.py defines run(bench: Bench) -> list[Result]. Not a test: nothing here
asserts a timing. A baseline that is not installed (pg_partman, procrastinate) leaves its
rows out with a "skipped: ... install it with ..." line; everything else still runs.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

KNOB = re.compile(r"""^(\w+)\s*=.*os\.environ\.get\(\s*["'](BENCH_\w+)["'](?:\s*,\s*["']([^"']*)["'])?""", re.M)

EPILOG = """\
Setup: .venv/bin/pip install -e '.[bench]'  (procrastinate, the queue baseline)
       apt-get install postgresql-15-partman  (pg_partman, the partition baseline)

Environment:
{knobs}"""
FIXED = [
    ("SCHEMA_TOOL_BENCH_URL", "a superuser URL of a server to use (default: a throwaway local cluster)"),
    ("BENCH_PROCRASTINATE_SQL", "procrastinate's schema.sql, when procrastinate is not installed here"),
]


def available() -> list[str]:
    return sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))


def knobs() -> str:
    """The environment the benchmarks read: the fixed two, then each BENCH_* size with its
    default (found in the sources, so a new one is listed without editing this file)."""
    found = {}
    for name in available():
        for variable, knob, default in KNOB.findall((HERE / f"bench_{name}.py").read_text()):
            if knob not in dict(FIXED):
                found[knob] = f"bench_{name}.py {variable}" + (f" (default {default})" if default else "")
    rows = FIXED + sorted(found.items())
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"  {k:<{width}}  {v}" for k, v in rows)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench/run.py", description=__doc__.split("\n\n")[0] + " Each row: ours, the baseline, the ratio "
        "and its goal, measured in one run.", epilog=EPILOG.format(knobs=knobs()),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME",
                        help=f"benchmarks to run (default: all): {', '.join(available())}")
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in available()]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(available())})")
    return args


def main(argv: list[str]) -> int:
    args = parse(argv)
    from harness import Bench, markdown
    from schema_tool.errors import ToolError

    try:
        bench = Bench()
    except ToolError as exc:
        print(f"bench/run.py: {exc}", file=sys.stderr)
        return 1
    results = []
    try:
        for name in args.names or available():
            module = importlib.import_module(f"bench_{name}")
            print(f"running bench_{name} ...", file=sys.stderr, flush=True)
            results.extend(module.run(bench))
    finally:
        bench.close()
    print(markdown(results))
    if bench.skipped:
        print("\n" + "\n".join(skipped.line() for skipped in bench.skipped))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
