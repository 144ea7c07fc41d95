"""capture benchmarks (issue 9), side by side in one run:

- 20k events whose pages repeat (2,000 distinct HTML pages of 5-50 KB, 10%), 200 replays of
  100 events, one transaction per replay: recorded through capture.record_event (one call
  per event, as capture_app) vs the same events with the HTML stored inline in each event
  row (a plain table with an html_content column, PostgreSQL's default compression): rows/s,
  bytes on disk (events + webstates vs the inline table), and the dedup ratio (HTML bytes
  the events show / HTML bytes stored);
- the same through the batch forms, one call per replay: capture.record_events(jsonb) vs one
  INSERT ... SELECT of the replay's rows from the same JSON, and capture.record_events with
  parallel arrays (binary parameters) vs one INSERT ... SELECT FROM unnest() of the same arrays;
- the 2,000 distinct pages stored with lz4 (our column) vs pglz (PostgreSQL's default) vs
  uncompressed (STORAGE EXTERNAL): bytes on disk, insert time, and the time to read them all.
"""

from __future__ import annotations

import os
import random
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from harness import Bench, Result

EVENTS = int(os.environ.get("BENCH_CAPTURE_EVENTS", "20000"))
DISTINCT = max(1, EVENTS // 10)
PER_REPLAY = 100
USERS = 20
KB = 1024

WORDS = ("session replay capture page state button input form table row cell header footer nav menu item "
         "user account settings profile dashboard report chart value total price order cart checkout search "
         "result filter sort next previous submit cancel save delete edit view detail summary status").split()
CARD = ("<div class='card card-{kind} shadow-sm' data-id='{id}'><div class='card-body'>"
        "<h3 class='card-title'>{title}</h3><p class='card-text text-muted'>{text}</p>"
        "<span class='badge bg-{kind}'>{n}</span><button type='button' class='btn btn-primary btn-sm'"
        " data-action='{action}'>{action}</button></div></div>\n")


def make_pages(n: int, seed: int = 9) -> list[str]:
    """n distinct HTML pages of 5 to 50 KB, built like real ones: one of 20 site templates
    (head, navigation, footer) around repeated components with their own text and numbers."""
    rng = random.Random(seed)
    sites = []
    for s in range(20):
        nav = "".join(f"<li class='nav-item'><a class='nav-link' href='/{w}'>{w.title()}</a></li>"
                      for w in rng.sample(WORDS, 12))
        sites.append((f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Site {s}</title>"
                      f"<link rel='stylesheet' href='/static/site{s}.css'></head><body class='site-{s}'>"
                      f"<header class='site-header'><nav class='navbar'><ul class='navbar-nav'>{nav}</ul></nav>"
                      f"</header><main class='container' id='main'>",
                      f"</main><footer class='site-footer'><p>&copy; Site {s}</p></footer></body></html>"))
    pages = []
    for i in range(n):
        head, foot = sites[rng.randrange(len(sites))]
        target = rng.randint(5 * 1024, 50 * 1024)
        parts, size = [head, f"<h1 data-page='{i}'>Page {i}</h1>"], len(head)
        while size < target:
            card = CARD.format(kind=rng.choice(("info", "warning", "success")), id=rng.randint(1, 10**6),
                               title=" ".join(rng.sample(WORDS, 3)).title(),
                               text=" ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 20))),
                               n=rng.randint(0, 9999), action=rng.choice(WORDS))
            parts.append(card)
            size += len(card)
        parts.append(foot)
        pages.append("".join(parts))
    return pages


def make_events(pages: list[str], seed: int = 3) -> list[list[dict[str, Any]]]:
    """EVENTS events in replays of PER_REPLAY; every page shown at least once, the rest drawn
    at random (each page about ten times)."""
    rng = random.Random(seed)
    shown = list(range(len(pages))) + [rng.randrange(len(pages)) for _ in range(EVENTS - len(pages))]
    rng.shuffle(shown)
    base = datetime.now(timezone.utc) - timedelta(hours=1)
    replays = []
    for r in range(0, EVENTS, PER_REPLAY):
        replays.append([
            {"timestamp": (base + timedelta(milliseconds=10 * (r + k))).isoformat(), "event_type": "dom_mutation",
             "event_data": {"adds": [], "removes": []}, "html": pages[shown[r + k]]}
            for k in range(min(PER_REPLAY, EVENTS - r))
        ])
    return replays


INLINE = """
CREATE TABLE bench_inline (
    event_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    replay_id uuid NOT NULL REFERENCES capture.replays (replay_id) ON DELETE CASCADE,
    timestamp timestamptz NOT NULL,
    event_type capture.event_type NOT NULL,
    event_data jsonb NOT NULL DEFAULT '{}',
    html_content text
);
CREATE INDEX ON bench_inline (replay_id, timestamp);
"""


def _owners(conn: psycopg.Connection, replays: int) -> list[tuple[Any, Any]]:
    """USERS users and `replays` replays spread over them: [(user_id, replay_id)]."""
    users = [conn.execute("SELECT capture.register_user(%s, 'bench')", (f"u{i}@bench.test",)).fetchone()[0]
             for i in range(USERS)]
    return [(users[i % USERS], conn.execute(
        "INSERT INTO capture.replays (user_id, initial_url) VALUES (%s, 'https://bench.test/') RETURNING replay_id",
        (users[i % USERS],)).fetchone()[0]) for i in range(replays)]


def _ours_single(conn: psycopg.Connection, owners: list[tuple[Any, Any]], replays: list[list[dict]]) -> None:
    conn.execute("SET ROLE capture_app")
    with conn.cursor() as cur:
        for (user, replay), events in zip(owners, replays):
            with conn.transaction():
                cur.execute("SELECT set_config('app.user_id', %s, true)", (str(user),))
                cur.executemany("SELECT capture.record_event(%s, %s::timestamptz, %s, %s, %s)",
                                [(replay, e["timestamp"], e["event_type"], Jsonb(e["event_data"]), e["html"])
                                 for e in events])
    conn.execute("RESET ROLE")


def _ours_batch(conn: psycopg.Connection, owners: list[tuple[Any, Any]], replays: list[list[dict]]) -> None:
    conn.execute("SET ROLE capture_app")
    for (user, replay), events in zip(owners, replays):
        with conn.transaction():
            conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user),))
            conn.execute("SELECT capture.record_events(%s, %s)", (replay, Jsonb(events)))
    conn.execute("RESET ROLE")


def _inline_single(conn: psycopg.Connection, owners: list[tuple[Any, Any]], replays: list[list[dict]]) -> None:
    with conn.cursor() as cur:
        for (_, replay), events in zip(owners, replays):
            with conn.transaction():
                cur.executemany("INSERT INTO bench_inline (replay_id, timestamp, event_type, event_data, html_content)"
                                " VALUES (%s, %s, %s, %s, %s)",
                                [(replay, e["timestamp"], e["event_type"], Jsonb(e["event_data"]), e["html"])
                                 for e in events])


def _inline_batch(conn: psycopg.Connection, owners: list[tuple[Any, Any]], replays: list[list[dict]]) -> None:
    for (_, replay), events in zip(owners, replays):
        with conn.transaction():
            conn.execute("INSERT INTO bench_inline (replay_id, timestamp, event_type, event_data, html_content)"
                         " SELECT %s, e.timestamp, e.event_type, coalesce(e.event_data, '{}'), e.html"
                         " FROM jsonb_to_recordset(%s) AS e (timestamp timestamptz, event_type capture.event_type,"
                         " event_data jsonb, html text)", (replay, Jsonb(events)))


def _ours_arrays(conn: psycopg.Connection, owners: list[tuple[Any, Any]], replays: list[list[dict]]) -> None:
    conn.execute("SET ROLE capture_app")
    for (user, replay), events in zip(owners, replays):
        with conn.transaction():
            conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user),))
            conn.execute("SELECT capture.record_events(%s, %b, %b, %b, %b)", (replay, *_columns(events)))
    conn.execute("RESET ROLE")


def _inline_arrays(conn: psycopg.Connection, owners: list[tuple[Any, Any]], replays: list[list[dict]]) -> None:
    for (_, replay), events in zip(owners, replays):
        with conn.transaction():
            conn.execute("INSERT INTO bench_inline (replay_id, timestamp, event_type, event_data, html_content)"
                         " SELECT %s, e.ts, e.kind::capture.event_type, e.data, e.html"
                         " FROM unnest(%b::timestamptz[], %b::text[], %b::jsonb[], %b::text[])"
                         " AS e (ts, kind, data, html)",
                         (replay, *_columns(events)))


def _columns(events: list[dict]) -> tuple[list, list, list, list]:
    return ([datetime.fromisoformat(e["timestamp"]) for e in events], [e["event_type"] for e in events],
            [Jsonb(e["event_data"]) for e in events], [e["html"] for e in events])


def _ours_bytes(conn: psycopg.Connection) -> int:
    return int(conn.execute("SELECT (SELECT sum(pg_total_relation_size(relid)) FROM pg_partition_tree("
                            "'capture.events') WHERE isleaf) + pg_total_relation_size('capture.webstates')"
                            ).fetchone()[0])


def _dedup(conn: psycopg.Connection) -> tuple[int, int]:
    """(HTML bytes the events show, HTML bytes stored once)."""
    shown, stored = conn.execute(
        "SELECT (SELECT sum(octet_length(w.html_content)) FROM capture.events e"
        "        JOIN capture.webstates w ON w.html_hash = e.webstate_hash),"
        "       (SELECT sum(octet_length(html_content)) FROM capture.webstates)").fetchone()
    return int(shown), int(stored)


def _timed(fn: Any, *args: Any) -> float:
    started = time.perf_counter()
    fn(*args)
    return time.perf_counter() - started


def recording(bench: Bench, pages: list[str]) -> list[Result]:
    url = bench.fresh_db("bench_capture", systems=["capture"])
    replays = make_events(pages)
    n = sum(len(r) for r in replays)
    results: list[Result] = []
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(INLINE)
        owners = _owners(conn, len(replays))
        for label, ours, inline in (("record_event, one call per event", _ours_single, _inline_single),
                                    ("record_events(jsonb), one call per replay", _ours_batch, _inline_batch),
                                    ("record_events(arrays), one call per replay", _ours_arrays, _inline_arrays)):
            t_ours = t_inline = float("inf")
            for first, second in ((ours, inline), (inline, ours)):  # each order once; the faster run counts
                for fn in (first, second):
                    conn.execute("TRUNCATE capture.events, capture.webstates, bench_inline")
                    took = _timed(fn, conn, owners, replays)
                    if fn is ours:
                        t_ours = min(t_ours, took)
                        ours_bytes = _ours_bytes(conn)
                        shown, stored = _dedup(conn)
                        assert conn.execute("SELECT count(*) FROM capture.events").fetchone()[0] == n
                    else:
                        t_inline = min(t_inline, took)
                        inline_bytes = conn.execute("SELECT pg_total_relation_size('bench_inline')").fetchone()[0]
                        assert conn.execute("SELECT count(*) FROM bench_inline").fetchone()[0] == n
            results.append(Result(f"{n:,} events, {len(pages):,} distinct pages: {label} (events/s)", n / t_ours,
                                  n / t_inline, "HTML inline in each event row", unit="events/s", goal=">= 1x"))
        results.append(Result(f"{n:,} events: bytes on disk (events + webstates)", ours_bytes / KB,
                              inline_bytes / KB, "HTML inline in each event row", unit="KB", goal=">= 5x"))
        results.append(Result(f"dedup: HTML stored once ({stored / KB / KB:,.0f} MB) vs as shown by the events "
                              f"({shown / KB / KB:,.0f} MB)", stored / KB, shown / KB, "every event's own copy",
                              unit="KB", goal="10x (10% distinct)"))
    return results


COMPRESSION = {
    "lz4": "html text COMPRESSION lz4",
    "pglz": "html text COMPRESSION pglz",
    "none": "html text",  # STORAGE EXTERNAL below: out of line, never compressed
}


def compression(bench: Bench, pages: list[str]) -> list[Result]:
    url = bench.fresh_db("bench_capture_compression", migrate=False)
    insert: dict[str, float] = {}
    read: dict[str, float] = {}
    size: dict[str, int] = {}
    with psycopg.connect(url, autocommit=True) as conn:
        for name, column in COMPRESSION.items():
            conn.execute(f"CREATE TABLE ws_{name} (id int, {column})")
            if name == "none":
                conn.execute("ALTER TABLE ws_none ALTER COLUMN html SET STORAGE EXTERNAL")
        raw = sum(len(p.encode()) for p in pages)
        for _ in range(2):  # interleaved, twice; the second round counts (warm server)
            for name in COMPRESSION:
                conn.execute(f"TRUNCATE ws_{name}")
                with conn.cursor() as cur, conn.transaction():
                    started = time.perf_counter()
                    cur.executemany(f"INSERT INTO ws_{name} (id, html) VALUES (%s, %s)", list(enumerate(pages)))
                    insert[name] = time.perf_counter() - started
                size[name] = conn.execute(f"SELECT pg_total_relation_size('ws_{name}')").fetchone()[0]
                started = time.perf_counter()
                assert conn.execute(f"SELECT sum(length(html)) FROM ws_{name}").fetchone()[0] > 0  # detoasts all
                read[name] = time.perf_counter() - started
        methods = {r[0] for r in conn.execute("SELECT DISTINCT pg_column_compression(html) FROM ws_lz4")}
        assert methods == {"lz4"}, methods
    label = f"{len(pages):,} distinct pages ({raw / KB / KB:,.0f} MB of HTML)"
    return [
        Result(f"{label} on disk: lz4 vs pglz", size["lz4"] / KB, size["pglz"] / KB, "pglz (default)",
               unit="KB", goal=">= 0.9x"),
        Result(f"{label} on disk: lz4 vs uncompressed", size["lz4"] / KB, size["none"] / KB,
               "STORAGE EXTERNAL", unit="KB", goal=">= 3x"),
        Result(f"{label}: insert, lz4 vs pglz", insert["lz4"], insert["pglz"], "pglz (default)", goal=">= 1.5x"),
        Result(f"{label}: read back (detoast all), lz4 vs pglz", read["lz4"], read["pglz"], "pglz (default)",
               goal=">= 1.5x"),
    ]


def run(bench: Bench) -> list[Result]:
    pages = make_pages(DISTINCT)
    return recording(bench, pages) + compression(bench, pages)
