"""The partition engine through the console script: ensure, list, retention, maintain."""

from __future__ import annotations

import json
import threading
import time

import psycopg

from demo_tables import make_parent, names, register_only, rows_by_partition
from pg import TestDB

MAINTAIN_LOCK = (0x5354, 2)


def _json(result) -> dict:
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def _demo(report: dict) -> dict:
    """The demo table's entry (the tables other systems register are in the report too)."""
    return next(t for t in report["tables"] if t["parent"] == "demo.events")


def _catalog(db: TestDB, schema: str) -> list[tuple]:
    return db.query("SELECT c.relname, c.relkind, pg_get_expr(c.relpartbound, c.oid) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s ORDER BY 1", (schema,))


def test_ensure_twice_creates_nothing_the_second_time(db: TestDB) -> None:
    parent = make_parent(db, "demo", register=False)
    register_only(db, parent, premake=2)
    first = _json(db.cli("partitions", "ensure", "--json", "--reference-date", "2027-01-15"))
    created = [c["partition"] for c in _demo(first)["created"]]
    assert created == ["demo.events_default", "demo.events_2027_01", "demo.events_2027_02", "demo.events_2027_03"]
    assert first["ok"] is True
    second = _json(db.cli("partitions", "ensure", "--json", "--reference-date", "2027-01-15"))
    assert _demo(second)["created"] == [] and _demo(second)["drained"] == []
    more = _json(db.cli("partitions", "ensure", "--json", "--months-ahead", "4", "--reference-date", "2027-01-15"))
    assert [c["partition"] for c in _demo(more)["created"]] == ["demo.events_2027_04",
                                                                 "demo.events_2027_05"]


def test_maintain_moves_far_past_and_future_rows_home(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=1)
    for stamp in ("2001-06-01", "2001-06-30 23:59:59+00", "2098-01-01", "2098-02-01"):
        db.execute(f"INSERT INTO {parent} (created_at, payload) VALUES (%s, 'p')", (stamp,))
    report = _json(db.cli("maintain", "--json"))
    drained = {d["partition"]: d["rows_moved"] for d in _demo(report)["drained"]}
    assert drained == {"demo.events_2001_06": 2, "demo.events_2098_01": 1, "demo.events_2098_02": 1}
    assert rows_by_partition(db, parent) == {"demo.events_2001_06": 2, "demo.events_2098_01": 1,
                                             "demo.events_2098_02": 1}
    again = db.cli("maintain")
    assert again.returncode == 0 and "0 changes" in again.stdout


def test_dry_run_prints_exact_ddl_and_changes_nothing(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0, retention="1 month")
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2005-01-01')")
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2020-01-01', 0)", (parent,))
    before, log_before = _catalog(db, "demo"), db.scalar("SELECT count(*) FROM ops.maintenance_log")
    result = db.cli("maintain", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE demo.events_2005_01 (" in result.stdout
    assert "ALTER TABLE demo.events ATTACH PARTITION demo.events_2005_01 FOR VALUES FROM" in result.stdout
    assert "DELETE FROM ONLY demo.events_default" in result.stdout
    assert "DROP TABLE demo.events_2020_01;" in result.stdout
    assert "noqa" not in result.stdout
    assert _catalog(db, "demo") == before
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log") == log_before
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 1


def test_retention_at_the_cutoff_through_the_cli(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0, retention="14 days")
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2026-04-10', 3)", (parent,))
    early = _json(db.cli("retention", "run", "--json", "--reference-date", "2026-06-14"))
    assert [d["partition"] for d in _demo(early)["dropped"]] == ["demo.events_2026_04"]
    exact = _json(db.cli("retention", "run", "--json", "--reference-date", "2026-06-15"))
    assert [d["partition"] for d in _demo(exact)["dropped"]] == ["demo.events_2026_05"]
    assert "events_2026_06" in names(db, parent) and "events_2026_07" in names(db, parent)
    assert "events_default" in names(db, parent)


def test_detach_mode_through_the_cli_keeps_the_rows(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0, retention="1 month", mode="detach")
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2025-01-01', 0)", (parent,))
    db.execute(f"INSERT INTO {parent} (created_at, payload) VALUES ('2025-01-31', 'archived')")
    report = _json(db.cli("retention", "run", "--json"))
    assert [d["partition"] for d in _demo(report)["detached"]] == ["demo.events_2025_01"]
    assert db.scalar("SELECT payload FROM demo_archive.events_2025_01") == "archived"


def test_maintain_loser_exits_zero_or_waits(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2009-01-01')")
    with psycopg.connect(db.url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s, %s)", MAINTAIN_LOCK)
        loser = db.cli("maintain")
        assert loser.returncode == 0, loser.stderr
        assert "another maintenance run holds the lock" in loser.stdout
        assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 1
        threading.Timer(1.0, lambda: holder.execute("SELECT pg_advisory_unlock(%s, %s)", MAINTAIN_LOCK)).start()
        started = time.monotonic()
        waiter = db.cli("maintain", "--wait")
        assert waiter.returncode == 0, waiter.stderr
        assert time.monotonic() - started >= 0.9
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 0


def test_two_maintain_runs_started_together(db: TestDB) -> None:
    import subprocess
    from pg import CLI, ROOT
    import os

    parents = [make_parent(db, f"demo{i}", premake=0) for i in range(6)]
    for p in parents:
        db.execute(f"INSERT INTO {p} (created_at) SELECT d FROM generate_series("
                   "'2000-01-15'::timestamptz, '2001-12-15', '1 month') d")
    env = {**os.environ, "DATABASE_URL": db.url}
    runs = [subprocess.Popen([str(CLI), "maintain", "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=env, cwd=str(ROOT)) for _ in range(2)]
    outs = [r.communicate(timeout=120) for r in runs]
    assert [r.returncode for r in runs] == [0, 0], outs
    reports = [json.loads(out) for out, _ in outs]
    assert sum(1 for r in reports if r.get("locked_out")) <= 1
    # one run creates at most 12 months per table from DEFAULT rows: one more run ends the drain
    assert db.cli("maintain").returncode == 0
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'drain'"
                     " AND parent_schema LIKE 'demo%%'") == 6 * 24
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error'") == 0
    for p in parents:
        assert db.scalar(f"SELECT count(*) FROM {p}_default") == 0 and db.scalar(f"SELECT count(*) FROM {p}") == 24


def test_lock_timeout_on_one_parent_is_partial_not_fatal(db: TestDB) -> None:
    stuck = make_parent(db, "demo_a", premake=0)
    fine = make_parent(db, "demo_b", premake=0)
    for p in (stuck, fine):
        db.execute(f"INSERT INTO {p} (created_at) VALUES ('2003-03-03')")
    with psycopg.connect(db.url) as blocker:
        blocker.execute(f"SELECT count(*) FROM {stuck}")  # AccessShareLock on every partition
        result = db.cli("maintain", "--json", "--lock-timeout", "300ms")
        blocker.rollback()
    assert result.returncode == 1
    report = {t["parent"]: t for t in json.loads(result.stdout)["tables"]}
    assert "lock_timeout" in report[stuck]["error"] and "55P03" in report[stuck]["error"]
    assert [d["partition"] for d in report[fine]["drained"]] == ["demo_b.events_2003_03"]
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error' AND parent_schema = 'demo_a'") == 1
    assert db.cli("maintain").returncode == 0


def test_a_registered_table_that_is_gone_is_reported(db: TestDB) -> None:
    make_parent(db, "demo", premake=0)
    register_only(db, "demo.nonexistent")
    result = db.cli("maintain")
    assert result.returncode == 1
    assert "FAILED   demo.nonexistent: registered table demo.nonexistent does not exist" in result.stdout


def test_partitions_list(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=1, retention="90 days")
    listing = json.loads(db.cli("partitions", "list", "--json").stdout)["tables"]
    entry = next(e for e in listing if e["parent"] == parent)
    assert entry["retention"] == "90 days" and entry["retention_mode"] == "drop" and entry["exists"]
    assert [p["partition"] for p in entry["partitions"]] == ["demo." + n for n in names(db, parent)]
    assert entry["partitions"][0]["default"] is True
    text = db.cli("partitions", "list")
    assert text.returncode == 0 and "demo.events_default" in text.stdout and "DEFAULT" in text.stdout


def test_maintain_prints_one_line_per_table_that_changed(db: TestDB) -> None:
    busy = make_parent(db, "demo_busy", premake=0, retention="1 month")
    make_parent(db, "demo_idle", premake=0)
    stuck = make_parent(db, "demo_stuck", premake=0)
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2020-01-01', 0)", (busy,))
    db.execute(f"INSERT INTO {busy} (created_at) VALUES ('2030-01-02'), ('2030-01-03'), ('2030-02-02')")
    db.execute(f"INSERT INTO {stuck} (created_at) VALUES ('1999-12-31'), ('infinity')")
    tables = db.scalar("SELECT count(*) FROM ops.partitioned_tables")
    result = db.cli("maintain")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":")[0] for line in lines[:-1]] == [busy, stuck]
    assert lines[0].startswith(f"{busy}: 2 drained (3 rows moved), 1 dropped (")
    assert lines[1].startswith(f"{stuck}: 2 rows kept in DEFAULT (their time is NULL, infinite or outside")
    assert lines[-1].startswith(f"{tables} tables, 3 changes, ") and lines[-1].endswith(": ok")
    again = db.cli("maintain")
    assert again.stdout.splitlines()[:-1] == [line for line in again.stdout.splitlines()[:-1]
                                              if line.startswith(stuck)]
    assert again.stdout.splitlines()[-1].startswith(f"{tables} tables, 0 changes, ")


def test_json_is_one_object_on_one_line_even_for_a_dry_run(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2030-05-05')")
    for args in (("maintain", "--json", "--dry-run"), ("maintain", "--json"), ("partitions", "list", "--json")):
        result = db.cli(*args)
        assert result.returncode == 0, result.stderr
        assert result.stdout.count("\n") == 1, args
        json.loads(result.stdout)
    dry = json.loads(db.cli("maintain", "--json", "--dry-run").stdout)
    assert dry["tables"] and all(t["drained"] == [] for t in dry["tables"])  # it ran meanwhile: nothing left
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2031-06-06')")
    dry = json.loads(db.cli("maintain", "--json", "--dry-run").stdout)
    step = next(t for t in dry["tables"] if t["parent"] == parent)["drained"][0]
    assert step["partition"] == "demo.events_2031_06" and "ATTACH PARTITION demo.events_2031_06" in step["sql"]
