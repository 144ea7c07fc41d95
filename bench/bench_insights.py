"""insights benchmarks (issue 10), side by side in one run:

- COPY of 1M events and of 1M heatmap points, spread over 12 months, into the partitioned
  tables (monthly children, the parent's indexes and foreign key) vs unpartitioned twins with
  the same columns, indexes and foreign key: rows/s;
- insights.heatmap() over one month of the 12-month table vs the same aggregate (same filter,
  same grid) on the unpartitioned twin; and retention of the oldest month (the engine drops its
  partition) vs a DELETE of that month from the twin;
- insights.detect_rage_clicks on a 10k- and a 100k-click session (each call in a transaction
  rolled back, so every run detects from scratch) vs reading the same clicks in order, and
  how the time grows from 10k to 100k: ours is the 100k time, the baseline 10 times the 10k
  time (a ratio near 1 is linear).
"""

from __future__ import annotations

import io
import os
import random
import uuid
from datetime import datetime, timedelta, timezone

import psycopg

from harness import Bench, Result, timed

ROWS = int(os.environ.get("BENCH_INSIGHTS_ROWS", "1000000"))
CLICKS = int(os.environ.get("BENCH_INSIGHTS_CLICKS", "100000"))
SESSIONS = 200
YEAR = 2029
SCREENS = ["home", "search", "product", "cart", "checkout", "account", "settings", "help"]
TYPES = ["click", "tap", "scroll", "screen_view", "input"]

EVENT_COLUMNS = "project_id, session_id, event_type, screen, element_id, x, y, occurred_at"
POINT_COLUMNS = "project_id, session_id, screen, x, y, weight, occurred_at"


def _setup(conn: psycopg.Connection) -> tuple[uuid.UUID, list[uuid.UUID]]:
    project = conn.execute("INSERT INTO insights.projects (name) VALUES ('bench') RETURNING project_id").fetchone()[0]
    sessions = [r[0] for r in conn.execute(
        "INSERT INTO insights.sessions (project_id, started_at) SELECT %s, %s::timestamptz + g * interval '1 hour'"
        " FROM generate_series(1, %s) g RETURNING session_id",
        (project, datetime(YEAR, 1, 1, tzinfo=timezone.utc), SESSIONS)).fetchall()]
    for parent in ("insights.events", "insights.heatmap_points"):
        for month in range(1, 13):
            conn.execute("SELECT ops.create_partition(%s::regclass, %s)", (parent, f"{YEAR}-{month:02d}-01"))
    # the twins: same columns, defaults, identity, checks, indexes and foreign key; no partitions
    conn.execute("CREATE SCHEMA bench")
    for table in ("events", "heatmap_points"):
        conn.execute(f"CREATE TABLE bench.{table} (LIKE insights.{table} INCLUDING ALL)")
        conn.execute(f"ALTER TABLE bench.{table} ADD FOREIGN KEY (project_id, session_id)"
                     " REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE")
    return project, sessions


def _rows(project: uuid.UUID, sessions: list[uuid.UUID], points: bool) -> bytes:
    """ROWS lines of COPY text, times spread evenly over the 12 months of YEAR."""
    rng = random.Random(3 if points else 7)
    start = datetime(YEAR, 1, 1, tzinfo=timezone.utc)
    step = (datetime(YEAR + 1, 1, 1, tzinfo=timezone.utc) - start) / ROWS
    out = io.StringIO()
    for i in range(ROWS):
        at = (start + step * i).isoformat()
        session, screen = sessions[i % SESSIONS], SCREENS[rng.randrange(len(SCREENS))]
        x, y = rng.randrange(1440), rng.randrange(3000)
        if points:
            out.write(f"{project}\t{session}\t{screen}\t{x}\t{y}\t1\t{at}\n")
        else:
            out.write(f"{project}\t{session}\t{TYPES[i % len(TYPES)]}\t{screen}\tb{i % 50}\t{x}\t{y}\t{at}\n")
    return out.getvalue().encode()


def _copy(url: str, table: str, columns: str, data: bytes) -> float:
    def load() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            with conn.cursor().copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for i in range(0, len(data), 1 << 20):
                    copy.write(data[i:i + (1 << 20)])
    return timed(load)


def copies(url: str, project: uuid.UUID, sessions: list[uuid.UUID]) -> list[Result]:
    results = []
    for table, columns, points in (("events", EVENT_COLUMNS, False), ("heatmap_points", POINT_COLUMNS, True)):
        data = _rows(project, sessions, points)
        ours = _copy(url, f"insights.{table}", columns, data)
        baseline = _copy(url, f"bench.{table}", columns, data)
        results.append(Result(f"COPY {ROWS:,} {table} over 12 months", ROWS / ours, ROWS / baseline,
                              "unpartitioned twin", unit="rows/s", goal=">= 0.8x (partitioning costs little)"))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE insights.heatmap_points, bench.heatmap_points, insights.events, bench.events")
    return results


def heatmaps(url: str, project: uuid.UUID) -> list[Result]:
    month = (f"{YEAR}-06-01 00:00:00+00", f"{YEAR}-07-01 00:00:00+00")
    twin = ("SELECT h.x / 10, h.y / 10, sum(h.weight), count(*) FROM bench.heatmap_points AS h"
            " WHERE h.screen = %s AND h.occurred_at >= %s AND h.occurred_at < %s AND h.project_id = %s"
            " GROUP BY 1, 2")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT set_config('app.project_id', %s, false)", (str(project),))
        ours_rows = conn.execute("SELECT * FROM insights.heatmap('product', %s, %s, 10)", month).fetchall()
        twin_rows = conn.execute(twin, ("product", *month, project)).fetchall()
        assert sorted(ours_rows) == sorted(twin_rows), "same cells"
        ours = timed(lambda: conn.execute("SELECT * FROM insights.heatmap('product', %s, %s, 10)",
                                          month).fetchall(), repeat=7)
        baseline = timed(lambda: conn.execute(twin, ("product", *month, project)).fetchall(), repeat=7)
        # retention of the oldest month: the engine drops a partition, the twin deletes the rows
        # (both in a transaction rolled back: every repetition removes the same month)
        def drop_month() -> None:
            with conn.transaction(force_rollback=True):
                conn.execute("SELECT ops.apply_retention('insights.heatmap_points'::regclass, %s, '1 day')",
                             (f"{YEAR}-02-02 00:00:00+00",))

        def delete_month() -> None:
            with conn.transaction(force_rollback=True):
                conn.execute("DELETE FROM bench.heatmap_points WHERE occurred_at < %s", (f"{YEAR}-02-01 00:00:00+00",))
        dropped, deleted = timed(drop_month, repeat=3), timed(delete_month, repeat=3)
    return [Result(f"heatmap(): one screen, one month of {ROWS:,} points over 12 months", ours, baseline,
                   "same aggregate, unpartitioned twin", goal=">= 1x (pruning)"),
            Result(f"retention: the oldest of 12 months of {ROWS:,} points", dropped, deleted,
                   "DELETE of that month from the twin", goal="far better (a partition is dropped)")]


def _click_session(conn: psycopg.Connection, project: uuid.UUID, n: int) -> uuid.UUID:
    """n clicks of one session, 300 ms apart: every 10th group of 4 lands on one spot (a burst)."""
    session = conn.execute("INSERT INTO insights.sessions (project_id, started_at) VALUES (%s, %s)"
                           " RETURNING session_id", (project, datetime(YEAR, 3, 1, tzinfo=timezone.utc))).fetchone()[0]
    rng = random.Random(n)
    start = datetime(YEAR, 3, 1, tzinfo=timezone.utc)
    out = io.StringIO()
    for i in range(n):
        burst = (i // 4) % 10 == 0
        x, y = (500, 500) if burst else (rng.randrange(1440), rng.randrange(3000))
        at = (start + timedelta(milliseconds=300 * i + (0 if burst else rng.randrange(2000)))).isoformat()
        out.write(f"{project}\t{session}\tclick\thome\tb\t{x}\t{y}\t{at}\n")
    with conn.cursor().copy(f"COPY insights.events ({EVENT_COLUMNS}) FROM STDIN") as copy:
        copy.write(out.getvalue().encode())
    conn.execute("ANALYZE insights.events")
    return session


def rage(url: str, project: uuid.UUID) -> list[Result]:
    results, times = [], {}
    with psycopg.connect(url, autocommit=True) as conn:
        for n in (CLICKS // 10, CLICKS):
            session = _click_session(conn, project, n)
            conn.execute("SELECT set_config('app.project_id', %s, false)", (str(project),))

            def detect() -> None:
                with conn.transaction(force_rollback=True):
                    conn.execute("SELECT insights.detect_rage_clicks(%s)", (session,))

            def read() -> None:
                conn.execute("SELECT e.screen, e.element_id, e.x, e.y, e.occurred_at FROM insights.events AS e"
                             " WHERE e.project_id = %s AND e.session_id = %s AND e.event_type IN ('click', 'tap')"
                             " ORDER BY e.occurred_at, e.event_id", (project, session)).fetchall()
            times[n] = timed(detect, repeat=3)
            results.append(Result(f"detect_rage_clicks, {n:,}-click session", times[n], timed(read, repeat=3),
                                  "reading its clicks in order", goal="a few times the read"))
    small, large = CLICKS // 10, CLICKS
    results.append(Result(f"detect_rage_clicks growth, {small:,} -> {large:,} clicks", times[large],
                          10 * times[small], "10 x the small time (linear)", goal="~1x (linear)"))
    return results


def run(bench: Bench) -> list[Result]:
    url = bench.fresh_db("bench_insights", systems=["insights"])
    with psycopg.connect(url, autocommit=True) as conn:
        project, sessions = _setup(conn)
    return copies(url, project, sessions) + heatmaps(url, project) + rage(url, project)
