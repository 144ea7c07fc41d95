"""Each migration of each system applied while its application writes: no writer ever
sees an error (see tests/live.py for the workloads and how to add one)."""

from __future__ import annotations

from pathlib import Path

import pytest

import live
from pg import TestDB
from schema_tool import paths, sources

SYSTEMS = [s.system for s in sources.available_systems(paths.migrations_dir())]


@pytest.mark.parametrize("system", SYSTEMS)
def test_migrations_apply_under_concurrent_writers(system: str, empty_db: TestDB, tmp_path: Path) -> None:
    if system not in live.WORKLOADS:
        pytest.skip(f"no live workload for {system}: add one to tests/live.py")
    log: list[str] = []
    applied = live.apply_live(empty_db.url, tmp_path, system, log)
    ids = live.migrations_of(system)
    assert [mid for mid, _longest, _writes in applied] == ids[ids.index(live.WORKLOADS[system].since) + 1:]
    assert all(writes > 0 for _mid, _longest, writes in applied)
