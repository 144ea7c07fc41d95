"""What tests/ops/conftest.py hands the pg_cron test: a job scheduled ahead of need."""

from __future__ import annotations

from dataclasses import dataclass

from pg import TestDB


@dataclass
class CronJob:
    db: TestDB | None
    parent: str
    job: int
    admin_url: str
    scheduled_at: float
    skip: str = ""
