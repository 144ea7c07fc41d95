"""Run benchmarks side by side and print a markdown table of ratios.

    .venv/bin/python bench/run.py            # every bench_*.py
    .venv/bin/python bench/run.py partitions # only bench_partitions.py

Each bench_<name>.py defines run(bench: Bench) -> list[Result]. Not a test: nothing here
asserts a timing.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Bench, markdown  # noqa: E402


def main(argv: list[str]) -> int:
    here = Path(__file__).resolve().parent
    names = argv or sorted(p.stem[len("bench_"):] for p in here.glob("bench_*.py"))
    bench = Bench()
    results = []
    try:
        for name in names:
            module = importlib.import_module(f"bench_{name}")
            print(f"running bench_{name} ...", file=sys.stderr, flush=True)
            results.extend(module.run(bench))
    finally:
        bench.close()
    print(markdown(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
