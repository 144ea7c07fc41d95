"""Machine-readable output: every --json is one JSON object on one line (JSON Lines), with
nothing else on stdout; dry runs put their SQL where it cannot spoil that, and say the
same summary line as a real run."""

from __future__ import annotations

import json
import re

import psycopg

from demo_tables import make_parent
from pg import TestDB

MAINTAIN_LOCK = (0x5354, 2)
SUMMARY = re.compile(r"^\d+ tables, (\d+) changes, \d+ ms: ok$")


def _json_line(result) -> dict:
    """stdout is exactly one line holding one JSON object."""
    assert result.returncode in (0, 1), result.stderr
    assert result.stdout.endswith("\n") and result.stdout.count("\n") == 1, result.stdout[:500]
    payload = json.loads(result.stdout)
    assert isinstance(payload, dict)
    return payload


def test_every_json_output_is_one_object_on_one_line(db: TestDB) -> None:
    make_parent(db, "demo", premake=1, retention="1 month")
    status = _json_line(db.cli("status", "--json"))
    assert status["ok"] is True and status["migrations"]
    assert status["counts"] == {"applied": len(status["migrations"])}
    listing = _json_line(db.cli("partitions", "list", "--json"))
    assert "demo.events" in [t["parent"] for t in listing["tables"]]
    for command in (["partitions", "ensure"], ["retention", "run"], ["maintain"]):
        report = _json_line(db.cli(*command, "--json", "--reference-date", "2030-03-10"))
        assert report["ok"] is True and report["dry_run"] is False
        assert "demo.events" in [t["parent"] for t in report["tables"]]


def test_json_lines_append_to_one_file(db: TestDB) -> None:
    """What the README's cron line does: each run appends one parsable line."""
    lines = [db.cli("maintain", "--json").stdout for _ in range(2)]
    assert [json.loads(line)["ok"] for line in "".join(lines).splitlines()] == [True, True]


def test_locked_out_run_is_one_json_line(db: TestDB) -> None:
    with psycopg.connect(db.url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", MAINTAIN_LOCK)
        report = _json_line(db.cli("maintain", "--json"))
    assert report["locked_out"] is True and report["ok"] is True


def test_dry_run_json_keeps_the_sql_off_stdout(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    before = db.scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (parent,))
    result = db.cli("maintain", "--dry-run", "--json", "--reference-date", "2031-01-15")
    report = _json_line(result)
    assert report["dry_run"] is True
    planned = next(t for t in report["tables"] if t["parent"] == parent)["created"]
    assert [p["partition"] for p in planned] == ["demo.events_2031_01"]
    assert "CREATE TABLE demo.events_2031_01" in result.stderr
    assert db.scalar("SELECT count(*) FROM pg_inherits WHERE inhparent = %s::regclass", (parent,)) == before


def test_dry_run_with_nothing_to_do_says_what_a_real_run_says(db: TestDB) -> None:
    make_parent(db, "demo", premake=1)
    assert db.cli("maintain").returncode == 0
    real = db.cli("maintain")
    dry = db.cli("maintain", "--dry-run")
    assert real.returncode == dry.returncode == 0
    real_match, dry_match = SUMMARY.match(real.stdout.strip()), SUMMARY.match(dry.stdout.strip())
    assert real_match and dry_match, (real.stdout, dry.stdout)
    assert real_match.group(1) == dry_match.group(1) == "0"
    assert dry.stdout.split(",")[0] == real.stdout.split(",")[0]


def test_dry_run_with_work_prints_sql_then_the_summary(db: TestDB) -> None:
    make_parent(db, "demo", premake=0)
    result = db.cli("maintain", "--dry-run", "--reference-date", "2031-01-15")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert "CREATE TABLE demo.events_2031_01 (" in result.stdout
    match = SUMMARY.match(lines[-1])
    assert match and int(match.group(1)) >= 1


def test_rollback_dry_run_names_the_rollback_file(db: TestDB) -> None:
    last = db.scalar("SELECT migration_id FROM schema_tool._yoyo_migration ORDER BY applied_at_utc DESC, migration_id DESC"
                     " LIMIT 1")
    result = db.cli("rollback", "--dry-run")
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert first.startswith(f"-- rollback {last} (") and first.endswith(f"{last}.rollback.sql), in one transaction")
