"""Fixtures for the scrapifie schema: skip unless migrated, and a small data builder."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import skip_unless_migrated
from pg import TestDB
from scrapifie.support import Builder


@pytest.fixture(autouse=True)
def _needs_system(migrated_systems: list[str]) -> None:
    skip_unless_migrated(migrated_systems, "scrapifie")


@pytest.fixture
def make(db: TestDB) -> Iterator[Builder]:
    builder = Builder(db)
    yield builder
    builder.close()
