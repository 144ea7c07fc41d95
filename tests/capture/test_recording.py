"""record_event(), record_events() and end_replay(), as capture_app acting for a user: exact
rows, pages deduplicated across events and tenants, every bad argument a clear SQLSTATE."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

from capture.support import page, sha
from pg import TestDB, concurrently, errors as failures

RECORD = "SELECT capture.record_event(%s, %s, %s, %s, %s)"
BATCH = "SELECT capture.record_events(%s, %s)"
CLICK = Jsonb({"x": 10, "y": 20})


def _now() -> datetime:
    return datetime.now(timezone.utc)


def test_record_event_stores_the_event_and_its_page_once(db: TestDB, make, app) -> None:
    alice = make.user("alice")
    replay = make.replay(alice)
    at = _now()
    with app.as_user(alice) as conn:
        load = Jsonb({"url": "https://a.test/"})
        first = conn.execute(RECORD, (replay, at, "page_load", load, page(1))).fetchone()[0]
        second = conn.execute(RECORD, (replay, at + timedelta(seconds=1), "click", CLICK, page(1))).fetchone()[0]
        third = conn.execute(RECORD, (replay, at + timedelta(seconds=2), "scroll", Jsonb({"x": 0, "y": 5}), None)
                             ).fetchone()[0]
        rows = conn.execute("SELECT event_id, replay_id, timestamp, event_type::text, event_data, webstate_hash"
                            " FROM capture.events ORDER BY timestamp").fetchall()
        conn.commit()
    assert first < second < third
    assert rows == [
        (first, replay, at, "page_load", {"url": "https://a.test/"}, sha(page(1))),
        (second, replay, at + timedelta(seconds=1), "click", {"x": 10, "y": 20}, sha(page(1))),
        (third, replay, at + timedelta(seconds=2), "scroll", {"x": 0, "y": 5}, None),
    ]
    assert db.query("SELECT html_hash FROM capture.webstates") == [(sha(page(1)),)]


def test_the_same_page_recorded_by_two_tenants_is_stored_once(db: TestDB, make, app) -> None:
    users = [make.user("alice"), make.user("bob")]
    for user in users:
        replay = make.replay(user)
        with app.as_user(user) as conn:
            conn.execute(RECORD, (replay, _now(), "click", CLICK, page(7)))
            conn.commit()
    assert db.scalar("SELECT count(*) FROM capture.events") == 2
    assert db.query("SELECT html_hash FROM capture.webstates") == [(sha(page(7)),)]


def test_record_events_batch_in_order_with_pages_deduplicated(db: TestDB, make, app) -> None:
    alice = make.user("alice")
    replay = make.replay(alice, start_time="2024-01-31 12:00:00+00")
    batch = [
        {"timestamp": 1706745599999, "event_type": "page_load", "event_data": {"url": "https://a.test/"},
         "html": page(1)},
        {"timestamp": "2024-02-01T00:00:00Z", "event_type": "click", "event_data": {"x": 1, "y": 2}, "html": page(1)},
        {"timestamp": "2024-02-01T01:00:00.5+01:00", "event_type": "dom_mutation", "html": page(2)},
        {"timestamp": "2024-02-01T00:00:01.25Z", "event_type": "keypress", "event_data": {"key": "a"}},
    ]
    with app.as_user(alice) as conn:
        conn.execute("SET LOCAL TimeZone = 'America/Los_Angeles'")  # the session's zone changes nothing
        assert conn.execute(BATCH, (replay, Jsonb(batch))).fetchone()[0] == 4
        conn.commit()
    rows = db.query("SELECT timestamp, event_type::text, event_data, webstate_hash, tableoid::regclass::text"
                    " FROM capture.events ORDER BY event_id")
    utc = timezone.utc
    assert rows == [
        (datetime(2024, 1, 31, 23, 59, 59, 999000, utc), "page_load", {"url": "https://a.test/"}, sha(page(1)),
         "capture.events_default"),
        (datetime(2024, 2, 1, tzinfo=utc), "click", {"x": 1, "y": 2}, sha(page(1)), "capture.events_default"),
        (datetime(2024, 2, 1, 0, 0, 0, 500000, utc), "dom_mutation", {}, sha(page(2)), "capture.events_default"),
        (datetime(2024, 2, 1, 0, 0, 1, 250000, utc), "keypress", {"key": "a"}, None, "capture.events_default"),
    ]
    assert db.scalar("SELECT count(*) FROM capture.webstates") == 2
    # maintenance moves them into their months: the last millisecond of January stays in January
    db.execute("SELECT ops.create_partition('capture.events', '2024-01-01'), "
               "ops.create_partition('capture.events', '2024-02-01')")
    months = db.query("SELECT tableoid::regclass::text, count(*) FROM capture.events GROUP BY 1 ORDER BY 1")
    assert months == [("capture.events_2024_01", 1), ("capture.events_2024_02", 3)]


def _replays(make) -> dict[str, object]:
    """alice's open and ended replays, and bob's."""
    alice, bob = make.user("alice"), make.user("bob")
    ended = make.replay(alice)
    make.conn.execute("UPDATE capture.replays SET end_time = now() WHERE replay_id = %s", (ended,))
    return {"alice": alice, "open": make.replay(alice), "ended": ended, "bob_replay": make.replay(bob)}


def test_record_event_bad_arguments(db: TestDB, make, app) -> None:
    r = _replays(make)
    now = _now()
    cases = [
        # (acting user, replay, timestamp, type, data, html) -> SQLSTATE
        ((None, r["open"], now, "click", CLICK, None), "42501"),
        (("not-a-uuid", r["open"], now, "click", CLICK, None), "22P02"),
        ((r["alice"], None, now, "click", CLICK, None), "22004"),
        ((r["alice"], uuid.uuid4(), now, "click", CLICK, None), "P0002"),
        ((r["alice"], r["bob_replay"], now, "click", CLICK, None), "P0002"),
        ((r["alice"], r["ended"], now, "click", CLICK, None), "55000"),
        ((r["alice"], r["open"], None, "click", CLICK, None), "22004"),
        ((r["alice"], r["open"], now, None, CLICK, None), "22004"),
        ((r["alice"], r["open"], now, "hover", CLICK, None), "22023"),
        ((r["alice"], r["open"], now, "click", None, None), "22004"),
        ((r["alice"], r["open"], now, "click", Jsonb({"x": 1}), None), "22023"),
        ((r["alice"], r["open"], now, "click", Jsonb([1, 2]), None), "22023"),
        ((r["alice"], r["open"], now + timedelta(days=2), "click", CLICK, None), "22023"),
        ((r["alice"], r["open"], now - timedelta(days=2), "click", CLICK, None), "22023"),
        ((r["alice"], r["open"], datetime(2099, 1, 1, tzinfo=timezone.utc), "click", CLICK, None), "22023"),
        ((r["alice"], r["open"], now, "click", CLICK, ""), "23514"),
    ]
    got = []
    for (user, *args), _expected in cases:
        with app.as_user(user) as conn:
            got.append(((user, *args), app.error(conn, RECORD, args)))
    assert got == [(args, expected) for args, expected in cases]
    assert db.scalar("SELECT count(*) FROM capture.events") == 0


def test_record_events_bad_batches(db: TestDB, make, app) -> None:
    r = _replays(make)
    ok = {"timestamp": "2030-01-01T00:00:00Z", "event_type": "click", "event_data": {"x": 1, "y": 1}}
    ok["timestamp"] = _now().isoformat()
    cases = [
        (None, "22004"),
        ({"events": []}, "22023"),
        ([], "22023"),
        ([ok] * 10001, "22023"),
        ([ok, "click"], "22023"),
        ([ok, {**ok, "html_hash": sha(page(1))}], "22023"),
        ([ok, {k: v for k, v in ok.items() if k != "timestamp"}], "22004"),
        ([ok, {**ok, "event_type": None}], "22004"),
        ([ok, {**ok, "event_type": "hover"}], "22023"),
        ([ok, {**ok, "event_data": {"x": 1}}], "22023"),
        ([ok, {**ok, "html": 42}], "22023"),
        ([ok, {**ok, "timestamp": "2024-02-01 00:00:00"}], "22023"),  # no zone: refused, not guessed
        ([ok, {**ok, "timestamp": True}], "22023"),
        ([ok, {**ok, "timestamp": "2024-13-45T00:00:00Z"}], "22008"),
        ([ok, {**ok, "timestamp": (_now() + timedelta(days=3)).isoformat()}], "22023"),
        ([ok, {**ok, "html": ""}], "23514"),
    ]
    got = []
    with app.as_user(r["alice"]) as conn:
        for events, _expected in cases:
            value = None if events is None else Jsonb(events)
            got.append((json.dumps(events)[:80], app.error(conn, BATCH, (r["open"], value))))
        for replay, expected in ((r["ended"], "55000"), (r["bob_replay"], "P0002"), (None, "22004")):
            got.append((str(replay), app.error(conn, BATCH, (replay, Jsonb([ok])))))
            cases.append((replay, expected))
    assert [g[1] for g in got] == [c[1] for c in cases], got
    with app.as_user(None) as conn:
        assert app.error(conn, BATCH, (r["open"], Jsonb([ok]))) == "42501"
    assert db.scalar("SELECT count(*) FROM capture.events") == 0  # all or nothing


def test_end_replay_once(db: TestDB, make, app) -> None:
    r = _replays(make)
    with app.as_user(r["alice"]) as conn:
        ended = conn.execute("SELECT capture.end_replay(%s)", (r["open"],)).fetchone()[0]
        start, end = conn.execute("SELECT start_time, end_time FROM capture.replays WHERE replay_id = %s",
                                  (r["open"],)).fetchone()
        assert ended == end and end >= start
        assert app.error(conn, "SELECT capture.end_replay(%s)", (r["open"],)) == "55000"
        assert app.error(conn, "SELECT capture.end_replay(%s)", (uuid.uuid4(),)) == "P0002"
        assert app.error(conn, "SELECT capture.end_replay(%s)", (r["bob_replay"],)) == "P0002"
        assert app.error(conn, "SELECT capture.end_replay(%s)", (None,)) == "22004"
        assert app.error(conn, RECORD, (r["open"], _now(), "click", CLICK, None)) == "55000"
        conn.commit()
    with app.as_user(None) as conn:
        assert app.error(conn, "SELECT capture.end_replay(%s)", (r["bob_replay"],)) == "42501"
    assert db.scalar("SELECT end_time FROM capture.replays WHERE replay_id = %s", (r["bob_replay"],)) is None
    assert db.scalar("SELECT end_time FROM capture.replays WHERE replay_id = %s", (r["open"],)) == ended


def test_end_replay_waits_for_events_being_recorded(db: TestDB, make, app) -> None:
    alice = make.user("alice")
    replay = make.replay(alice)
    writer = app.connect(alice)
    writer.execute("BEGIN")
    writer.execute(RECORD, (replay, _now(), "click", CLICK, page(1)))
    done: list[object] = []
    ender = threading.Thread(target=lambda: done.append(
        app.connect(alice).execute("SELECT capture.end_replay(%s)", (replay,)).fetchone()[0]))
    ender.start()
    time.sleep(0.5)
    assert done == []  # blocked by the open recording
    writer.execute("COMMIT")
    ender.join(10)
    assert len(done) == 1
    assert db.scalar("SELECT count(*) FROM capture.events") == 1


def test_recording_while_the_replay_is_ended_concurrently(db: TestDB, make) -> None:
    """8 connections record into one replay while a 9th ends it: each event is either
    recorded (and kept) or refused with 55000; nothing else happens."""
    alice = make.user("alice")
    replay = make.replay(alice)

    def work(conn: psycopg.Connection, i: int) -> list[str]:
        conn.execute("SET ROLE capture_app")
        conn.execute("SELECT set_config('app.user_id', %s, false)", (str(alice),))
        if i == 8:
            time.sleep(0.05)
            conn.execute("SELECT capture.end_replay(%s)", (replay,))
            return ["ended"]
        outcomes = []
        for n in range(30):
            try:
                conn.execute(RECORD, (replay, _now(), "click", CLICK, page(n % 3)))
                outcomes.append("ok")
            except psycopg.errors.ObjectNotInPrerequisiteState:
                outcomes.append("55000")
        return outcomes

    results = concurrently(9, db.url, work)
    assert failures(results) == []
    recorded = sum(r.count("ok") for r in results[:8])
    assert sum(len(r) for r in results[:8]) == 240
    assert all(r == sorted(r, key=lambda o: o != "ok") for r in results[:8])  # refused only after the end
    assert db.scalar("SELECT count(*) FROM capture.events") == recorded


ARRAYS = "SELECT capture.record_events(%s, %s, %s, %s, %s)"


def test_record_events_from_arrays(db: TestDB, make, app) -> None:
    alice = make.user("alice")
    replay = make.replay(alice)
    at = [_now() + timedelta(milliseconds=n) for n in range(4)]
    kinds = ["page_load", "click", "dom_mutation", "scroll"]
    data = [Jsonb({"url": "https://a.test/"}), Jsonb({"x": 1, "y": 2}), None, Jsonb({"x": 0, "y": 3})]
    pages = [page(1), page(1), None, page(2)]
    with app.as_user(alice) as conn:
        # binary parameters (%b): no quoting or parsing of the HTML on the way
        assert conn.execute("SELECT capture.record_events(%s, %b, %b, %b, %b)",
                            (replay, at, kinds, data, pages)).fetchone()[0] == 4
        assert conn.execute(ARRAYS, (replay, at[:1], ["dom_mutation"], None, None)).fetchone()[0] == 1
        conn.commit()
    rows = db.query("SELECT timestamp, event_type::text, event_data, webstate_hash FROM capture.events"
                    " ORDER BY event_id")
    assert rows == [(at[0], "page_load", {"url": "https://a.test/"}, sha(page(1))),
                    (at[1], "click", {"x": 1, "y": 2}, sha(page(1))),
                    (at[2], "dom_mutation", {}, None),
                    (at[3], "scroll", {"x": 0, "y": 3}, sha(page(2))),
                    (at[0], "dom_mutation", {}, None)]


def test_record_events_bad_arrays(db: TestDB, make, app) -> None:
    r = _replays(make)
    now = _now()
    one = ([now], ["click"], [CLICK], [None])
    cases = [
        ((None, ["click"], None, None), "22004"),
        (([now], None, None, None), "22004"),
        (([], [], None, None), "22023"),
        (([now] * 10001, ["custom"] * 10001, None, None), "22023"),
        (([now, now], ["click"], None, None), "22023"),
        (([now], ["click"], [CLICK, CLICK], None), "22023"),
        (([now], ["click"], [CLICK], [None, None]), "22023"),
        (([[now], [now]], [["click"], ["click"]], None, None), "22023"),
        (([now, None], ["click", "click"], [CLICK, CLICK], None), "22004"),
        (([now, now], ["click", None], [CLICK, CLICK], None), "22004"),
        (([now, now], ["click", "hover"], [CLICK, CLICK], None), "22023"),
        (([now, now], ["click", "click"], [CLICK, Jsonb({"x": 1})], None), "22023"),
        (([now, now], ["click", "click"], [CLICK, None], None), "22023"),
        (([now, now + timedelta(days=2)], ["click", "click"], [CLICK, CLICK], None), "22023"),
        (([now], ["click"], [CLICK], [""]), "23514"),
    ]
    with app.as_user(r["alice"]) as conn:
        got = [app.error(conn, ARRAYS, (r["open"], *args)) for args, _ in cases]
        assert got == [sqlstate for _, sqlstate in cases]
        for replay, sqlstate in ((r["ended"], "55000"), (r["bob_replay"], "P0002"), (None, "22004")):
            assert app.error(conn, ARRAYS, (replay, *one)) == sqlstate
    with app.as_user(None) as conn:
        assert app.error(conn, ARRAYS, (r["open"], *one)) == "42501"
    assert db.scalar("SELECT count(*) FROM capture.events") == 0
