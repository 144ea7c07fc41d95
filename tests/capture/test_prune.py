"""prune_webstates(): deletes a page state only when no event references it, never one being
recorded at that moment, and never makes a writer fail (real concurrent connections)."""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone

import psycopg
import pytest
from psycopg.types.json import Jsonb

from capture.support import page, sha
from pg import TestDB, concurrently, errors as failures

RECORD = "SELECT capture.record_event(%s, now(), 'click', %s, %s)"
CLICK = Jsonb({"x": 1, "y": 1})


def _age(db: TestDB, *pages: str) -> None:
    """Make the pages' webstates two hours old (past the default grace)."""
    db.execute("UPDATE capture.webstates SET captured_at = now() - interval '2 hours'"
               " WHERE html_hash = ANY(%s)", ([sha(p) for p in pages],))


def _hashes(db: TestDB) -> set[str]:
    return {r[0] for r in db.query("SELECT html_hash FROM capture.webstates")}


def test_prunes_only_unreferenced_pages_past_the_grace(db: TestDB, make) -> None:
    replay = make.replay(make.user())
    make.event(replay, html=page(1))  # referenced
    for n in (2, 3):
        db.execute("SELECT capture.store_webstate(%s)", (page(n),))
    _age(db, page(1), page(2))  # page 3 is fresh
    assert db.scalar("SELECT capture.prune_webstates()") == 1
    assert _hashes(db) == {sha(page(1)), sha(page(3))}
    assert db.scalar("SELECT capture.prune_webstates(interval '0')") == 1
    assert db.scalar("SELECT capture.prune_webstates(interval '0')") == 0
    assert _hashes(db) == {sha(page(1))}
    db.execute("DELETE FROM capture.replays")  # events go with their replay
    assert db.scalar("SELECT capture.prune_webstates(interval '0')") == 1
    assert _hashes(db) == set()


def test_pages_of_dropped_partitions_are_pruned(db: TestDB, make) -> None:
    replay = make.replay(make.user(), start_time="2024-01-01 00:00:00+00")
    db.execute("SELECT ops.create_partition('capture.events', '2024-01-01')")
    make.event(replay, at="'2024-01-15 00:00:00+00'", html=page(1))
    make.event(replay, at="'2024-01-16 00:00:00+00'", html=page(2))
    make.event(replay, at="now()", html=page(2))  # page 2 is still shown this month
    dropped = db.query("SELECT partition_name FROM ops.apply_retention('capture.events'::regclass)")
    assert "events_2024_01" in {r[0] for r in dropped}
    assert db.scalar("SELECT count(*) FROM capture.events") == 1
    assert db.scalar("SELECT capture.prune_webstates(interval '0')") == 1
    assert _hashes(db) == {sha(page(2))}


@pytest.mark.parametrize(("grace", "sqlstate"), [(None, "22004"), ("-1 second", "22023")])
def test_bad_grace(db: TestDB, grace: str | None, sqlstate: str) -> None:
    with pytest.raises(psycopg.Error) as exc:
        db.execute("SELECT capture.prune_webstates(%s::interval)", (grace,))
    assert exc.value.sqlstate == sqlstate


def _wait_until_blocked(db: TestDB, pid: int) -> None:
    for _ in range(100):
        if db.scalar("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", (pid,)) == "Lock":
            return
        time.sleep(0.05)
    raise AssertionError("the writer never waited for the prune's lock")


def test_writer_meeting_a_page_being_pruned_waits_and_stores_it_again(db: TestDB, make, app) -> None:
    alice = make.user("alice")
    replay = make.replay(alice)
    db.execute("SELECT capture.store_webstate(%s)", (page(1),))
    pruner = db.connect()
    pruner.execute("BEGIN")
    assert pruner.execute("SELECT capture.prune_webstates(interval '0')").fetchone()[0] == 1  # not committed
    writer = app.connect(alice)
    pid = writer.execute("SELECT pg_backend_pid()").fetchone()[0]
    outcome: list[object] = []

    def record() -> None:
        try:
            outcome.append(writer.execute(RECORD, (replay, CLICK, page(1))).fetchone()[0])
        except psycopg.Error as exc:
            outcome.append(exc)

    thread = threading.Thread(target=record)
    thread.start()
    _wait_until_blocked(db, pid)
    pruner.execute("COMMIT")
    thread.join(10)
    assert len(outcome) == 1 and isinstance(outcome[0], int), outcome
    assert db.query("SELECT webstate_hash FROM capture.events") == [(sha(page(1)),)]
    assert _hashes(db) == {sha(page(1))}


def test_prune_skips_a_page_a_writer_is_recording(db: TestDB, make, app) -> None:
    alice = make.user("alice")
    replay = make.replay(alice)
    db.execute("SELECT capture.store_webstate(%s)", (page(1),))
    _age(db, page(1))
    writer = app.connect(alice)
    writer.execute("BEGIN")
    writer.execute(RECORD, (replay, CLICK, page(1)))  # event not committed: invisible to the prune
    started = time.monotonic()
    assert db.scalar("SELECT capture.prune_webstates(interval '0')") == 0
    assert time.monotonic() - started < 5  # did not wait for the writer
    writer.execute("COMMIT")
    assert db.scalar("SELECT capture.prune_webstates(interval '0')") == 0
    assert db.query("SELECT webstate_hash FROM capture.events") == [(sha(page(1)),)]


def test_prune_racing_writers_loses_nothing(db: TestDB, make) -> None:
    """6 writers record events on three pages and delete them again (the pages become orphans
    again and again), then keep one event per page, while 2 connections prune in a loop: no
    error anywhere, every kept event has its page, and a final prune leaves exactly those."""
    alice = make.user("alice")
    replay = make.replay(alice)
    writers, rounds = 6, 40
    finished = threading.Event()
    done: list[int] = []
    lock = threading.Lock()

    def work(conn: psycopg.Connection, i: int) -> int:
        if i >= writers:  # pruner
            deleted = 0
            while not finished.is_set():
                deleted += conn.execute("SELECT capture.prune_webstates(interval '0')").fetchone()[0]
            return deleted
        conn.execute("SET ROLE capture_app")
        conn.execute("SELECT set_config('app.user_id', %s, false)", (str(alice),))
        try:
            for n in range(rounds):
                event = conn.execute(RECORD, (replay, CLICK, page(n % 3))).fetchone()[0]
                conn.execute("DELETE FROM capture.events WHERE event_id = %s", (event,))
            return sum(conn.execute(RECORD, (replay, CLICK, page(n))).rowcount for n in range(3))
        finally:
            with lock:
                done.append(i)
                if len(done) == writers:
                    finished.set()

    results = concurrently(writers + 2, db.url, work, timeout=120)
    assert failures(results) == []
    assert results[:writers] == [3] * writers
    assert sum(results[writers:]) > 0  # the pruners did delete pages the writers then stored again
    assert db.scalar("SELECT count(*) FROM capture.events") == writers * 3
    assert db.scalar("SELECT count(*) FROM capture.events e WHERE NOT EXISTS ("
                     " SELECT FROM capture.webstates w WHERE w.html_hash = e.webstate_hash)") == 0
    db.execute("SELECT capture.store_webstate('<html>orphan</html>')")
    assert db.scalar("SELECT capture.prune_webstates(interval '0')") == 1
    assert _hashes(db) == {r[0] for r in db.query("SELECT webstate_hash FROM capture.events")} == {
        sha(page(n)) for n in range(3)}
