"""Fixtures for the insights schema: skip unless migrated, a data builder, acting as a project."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from conftest import skip_unless_migrated
from insights.support import App, Builder
from pg import TestDB


@pytest.fixture(autouse=True)
def _needs_system(migrated_systems: list[str]) -> None:
    skip_unless_migrated(migrated_systems, "insights")


@pytest.fixture
def make(db: TestDB) -> Iterator[Builder]:
    builder = Builder(db)
    yield builder
    builder.close()


@pytest.fixture
def app(db: TestDB) -> App:
    return App(db)
