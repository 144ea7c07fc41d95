"""The documented access paths use their indexes (EXPLAIN), and a time range prunes the
events partitions, also for capture_app under row level security."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import psycopg
import pytest

from pg import TestDB

MONTHS = ["2024_01", "2024_02", "2024_03"]


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from _nodes(child)


def plan_nodes(conn: psycopg.Connection, statement: str, params: Any = None) -> list[dict[str, Any]]:
    plan = conn.execute("EXPLAIN (FORMAT JSON) " + statement, params).fetchone()[0][0]["Plan"]
    return list(_nodes(plan))


def child_indexes(db: TestDB, parent_index: str) -> set[str]:
    return {r[0] for r in db.query("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                   " WHERE i.inhparent = %s::regclass", (parent_index,))}


@pytest.fixture
def data(db: TestDB) -> dict[str, Any]:
    """2,000 users with 10 replays each, started 4 minutes apart from 2024-01-01 on (to late
    February); every 33rd replay has 50 events a minute apart, one in three showing a page;
    statistics gathered. Returns a replay of February, its user and email, and a page."""
    with psycopg.connect(db.url, autocommit=True) as conn:
        for month in MONTHS:
            conn.execute("SELECT ops.create_partition('capture.events', %s)", (month.replace("_", "-") + "-01",))
        conn.execute("INSERT INTO capture.users (email, name) SELECT 'u' || g || '@example.test', 'u' || g"
                     " FROM generate_series(1, 2000) g")
        conn.execute("INSERT INTO capture.replays (user_id, initial_url, start_time)"
                     " SELECT user_id, 'https://a.test/', '2024-01-01 00:00:00+00'::timestamptz"
                     "   + row_number() OVER (ORDER BY user_id, g) * interval '4 minutes'"
                     " FROM capture.users, generate_series(1, 10) g")
        pages = [r[0] for r in conn.execute(
            "SELECT capture.store_webstate('<html>' || g || '</html>') FROM generate_series(1, 20) g")]
        conn.execute(
            "INSERT INTO capture.events (replay_id, timestamp, event_type, event_data, webstate_hash)"
            " SELECT r.replay_id, r.start_time + n * interval '1 minute', 'click', '{\"x\": 1, \"y\": 2}',"
            "   CASE WHEN n %% 3 = 0 THEN (%s::text[])[1 + n %% 20] END"
            " FROM (SELECT replay_id, start_time, row_number() OVER (ORDER BY start_time) AS k"
            "       FROM capture.replays) r, generate_series(0, 49) n"
            " WHERE r.k %% 33 = 0", (pages,))
        conn.execute("ANALYZE capture.users, capture.replays, capture.events, capture.webstates")
        replay, user = conn.execute(
            "SELECT r.replay_id, r.user_id FROM capture.replays r WHERE EXISTS ("
            " SELECT FROM capture.events e WHERE e.replay_id = r.replay_id)"
            " AND r.start_time >= '2024-02-10' ORDER BY r.start_time LIMIT 1").fetchone()
        email = conn.execute("SELECT email FROM capture.users WHERE user_id = %s", (user,)).fetchone()[0]
    return {"replay": replay, "user": user, "email": email, "page": pages[0]}


def _events_scans(nodes: list[dict[str, Any]]) -> dict[str, str]:
    """partition -> how it is read: the index name (index or bitmap scan), or the node type."""
    scans: dict[str, str] = {}
    for n in nodes:
        relation = n.get("Relation Name", "")
        if relation.startswith("events"):
            scans[relation] = n.get("Index Name") or n["Node Type"]
            if n["Node Type"] == "Bitmap Heap Scan":
                scans[relation] = n["Plans"][0].get("Index Name", "Bitmap")
    return scans


def test_one_replays_events_in_time_order_with_a_time_range(db: TestDB, app, data) -> None:
    index = child_indexes(db, "capture.idx_events_replay_id_timestamp")
    query = ("SELECT event_id, timestamp, event_type, event_data FROM capture.events"
             " WHERE replay_id = %s AND timestamp >= '2024-02-01 00:00:00+00'"
             " AND timestamp < '2024-03-01 00:00:00+00' ORDER BY timestamp")
    with app.as_user(data["user"]) as conn:
        nodes = plan_nodes(conn, query, (data["replay"],))
        rows = conn.execute(query, (data["replay"],)).fetchall()
    # pruned to February, read through the composite index (an index scan in order, or a
    # bitmap scan and a sort of the few rows: the planner's choice by cost)
    scans = _events_scans(nodes)
    assert list(scans) == ["events_2024_02"] and scans["events_2024_02"] in index, nodes
    expected = db.query("SELECT count(*) FROM capture.events WHERE replay_id = %s"
                        " AND timestamp >= '2024-02-01 00:00:00+00' AND timestamp < '2024-03-01 00:00:00+00'",
                        (data["replay"],))[0][0]
    assert len(rows) == expected > 0
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)


def test_one_replays_events_without_a_range_use_the_index_in_every_month_with_rows(db: TestDB, app, data) -> None:
    index = child_indexes(db, "capture.idx_events_replay_id_timestamp")
    with app.as_user(data["user"]) as conn:
        nodes = plan_nodes(conn, "SELECT event_id FROM capture.events WHERE replay_id = %s ORDER BY timestamp",
                           (data["replay"],))
    scans = _events_scans(nodes)
    filled = [r[0] for r in db.query("SELECT DISTINCT c.relname FROM capture.events e"
                                     " JOIN pg_class c ON c.oid = e.tableoid ORDER BY 1")]
    assert filled == ["events_2024_01", "events_2024_02"]
    assert {scans[name] for name in filled} <= index, scans


def test_runtime_pruning_with_parameters(db: TestDB, app, data) -> None:
    with app.as_user(data["user"]) as conn:
        conn.execute("SET LOCAL plan_cache_mode = force_generic_plan")
        conn.execute("PREPARE q(uuid, timestamptz, timestamptz) AS SELECT count(*) FROM capture.events"
                     " WHERE replay_id = $1 AND timestamp >= $2 AND timestamp < $3")
        plan = "\n".join(r[0] for r in conn.execute(
            f"EXPLAIN (ANALYZE, COSTS OFF) EXECUTE q('{data['replay']}',"
            " '2024-01-01 00:00:00+00', '2024-02-01 00:00:00+00')"))
    assert "Subplans Removed" in plan and "events_2024_01" in plan and "events_2024_02" not in plan


def test_lookups_by_page_email_and_recent_replays(db: TestDB, data) -> None:
    with psycopg.connect(db.url) as conn:
        by_page = plan_nodes(conn, "SELECT 1 FROM capture.events WHERE webstate_hash = %s", (data["page"],))
        index = child_indexes(db, "capture.idx_events_webstate_hash")
        scans = _events_scans(by_page)
        assert {scans["events_2024_01"], scans["events_2024_02"]} <= index, scans
        by_email = plan_nodes(conn, "SELECT user_id FROM capture.users WHERE lower(email) = lower(%s)",
                              (data["email"].upper(),))
        assert [n.get("Index Name") for n in by_email if "Index" in n["Node Type"]] == ["idx_users_email"]
        recent = plan_nodes(conn, "SELECT replay_id FROM capture.replays WHERE user_id = %s"
                                  " ORDER BY start_time DESC LIMIT 5", (data["user"],))
        assert "idx_replays_user_id_start_time" in {n.get("Index Name") for n in recent}
        assert "Sort" not in {n["Node Type"] for n in recent}
        latest = plan_nodes(conn, "SELECT replay_id FROM capture.replays ORDER BY start_time DESC LIMIT 10")
        assert "idx_replays_start_time" in {n.get("Index Name") for n in latest}
        conn.execute("SELECT capture.generate_monthly_report('2024-01-01')")
        conn.execute("SET LOCAL enable_seqscan = off")  # one row: any plan is cheap; the index serves it
        report = plan_nodes(conn, "SELECT * FROM capture.monthly_reports ORDER BY report_month_start DESC LIMIT 12")
        assert "monthly_reports_report_month_start_key" in {n.get("Index Name") for n in report}
