"""detect_rage_clicks on hand-built sessions: PostHog's definition, exact bursts, idempotent,
extended rather than duplicated, and its bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from insights.support import T0
from pg import TestDB, concurrently

START = datetime(2030, 3, 10, 12, tzinfo=timezone.utc)
DETECT = "SELECT insights.detect_rage_clicks(%s)"
STORED = """SELECT screen, element_id, click_count, first_click_at, last_click_at FROM insights.rage_click_events
            WHERE session_id = %s ORDER BY first_click_at"""

# (ms after T0, x, y, screen, element)
CLICKS = [
    (0, 100, 100, "home", "buy"), (400, 110, 105, "home", "buy"), (900, 120, 100, "home", "buy"),
    (1900, 125, 100, "home", "buy"),                     # 1000 ms after the previous one: still the burst
    (3000, 100, 100, "home", "buy"),                     # 1100 ms: a new burst starts
    (3500, 100, 100, "home", "other"), (4000, 131, 100, "home", "other"),  # 31 px from the first: new
    (4500, 131, 100, "home", None), (5000, 131, 100, "settings", None),    # another screen: new
    (10000, 10, 10, "cart", "a"), (10300, 12, 12, "cart", "b"), (10600, 11, 9, "cart", "a"),
]


def at(ms: int) -> datetime:
    return START + timedelta(milliseconds=ms)


@pytest.fixture
def session(make, app):
    project = make.project()
    session = make.session(project)
    make.clicks(project, session, CLICKS)
    make.clicks(project, session, [(20000, 50, 50), (20100, 50, 50), (20200, 50, 50)], kind="tap")
    make.insert("events", project, {"session_id": session, "event_type": "screen_view", "screen": "home",
                                    "occurred_at": at(150)}, "event_id")  # not a click: breaks nothing
    return project, session


def test_bursts_of_a_hand_built_session(db: TestDB, app, session) -> None:
    project, sid = session
    with app.as_project(project) as conn:
        assert conn.execute(DETECT, (sid,)).fetchone()[0] == 3
        assert conn.execute(STORED, (sid,)).fetchall() == [
            ("home", "buy", 4, at(0), at(1900)),
            ("cart", None, 3, at(10000), at(10600)),   # elements differ
            ("home", None, 3, at(20000), at(20200)),   # taps, no element
        ]
        conn.commit()


def test_idempotent_then_extended_not_duplicated(db: TestDB, make, app, session) -> None:
    project, sid = session
    ids = "SELECT id, xmin::text FROM insights.rage_click_events WHERE session_id = %s ORDER BY first_click_at"
    with app.as_project(project) as conn:
        conn.execute(DETECT, (sid,))
        conn.commit()
    first = db.query(ids, (sid,))
    with app.as_project(project) as conn:
        assert conn.execute(DETECT, (sid,)).fetchone()[0] == 3
        conn.commit()
    assert db.query(ids, (sid,)) == first, "a second run writes nothing"

    # a click 600 ms after the burst's last one, 10 px from its first: the burst grows and swallows
    # the clicks at 3000 and 3500 (same place as the first), up to the one 31 px away
    make.clicks(project, sid, [(2500, 110, 100, "home", "buy")])
    with app.as_project(project) as conn:
        assert conn.execute(DETECT, (sid,)).fetchone()[0] == 3
        assert conn.execute(STORED, (sid,)).fetchall()[0] == ("home", None, 7, at(0), at(3500))
        conn.commit()
    after = db.query(ids, (sid,))
    assert [r[0] for r in after] == [r[0] for r in first], "same rows, updated in place"
    assert after[1:] == first[1:] and after[0][1] != first[0][1]

    # the cart burst's clicks are deleted: its row goes
    db.execute("DELETE FROM insights.events WHERE session_id = %s AND screen = 'cart'", (sid,))
    with app.as_project(project) as conn:
        assert conn.execute(DETECT, (sid,)).fetchone()[0] == 2
        assert [r[0] for r in conn.execute(STORED, (sid,))] == ["home", "home"]


def test_parameters(app, session) -> None:
    project, sid = session
    with app.as_project(project) as conn:
        assert conn.execute("SELECT insights.detect_rage_clicks(%s, 4)", (sid,)).fetchone()[0] == 1
        # two clicks are enough: the pairs (3000, 3500) and (4000, 4500) count too
        assert conn.execute("SELECT insights.detect_rage_clicks(%s, 2)", (sid,)).fetchone()[0] == 5
        # a 2 s gap joins the burst at 1900 with the click at 3000 (within 30 px of the first)
        assert conn.execute("SELECT insights.detect_rage_clicks(%s, 3, '2 seconds')", (sid,)).fetchone()[0] == 3
        assert conn.execute(STORED, (sid,)).fetchall()[0] == ("home", None, 6, at(0), at(3500))
        # radius 0: only clicks on the very same pixel
        assert conn.execute("SELECT insights.detect_rage_clicks(%s, 3, '1 second', 0)", (sid,)).fetchone()[0] == 1
        assert conn.execute(STORED, (sid,)).fetchall() == [("home", None, 3, at(20000), at(20200))]


def test_bad_input_and_empty_sessions(make, app) -> None:
    project = make.project()
    quiet = make.session(project)
    with app.as_project(project) as conn:
        assert conn.execute(DETECT, (quiet,)).fetchone()[0] == 0  # no clicks: no bursts
        cases = {
            "SELECT insights.detect_rage_clicks(NULL)": "22004",
            "SELECT insights.detect_rage_clicks(gen_random_uuid())": "P0002",
            "SELECT insights.detect_rage_clicks(%(s)s, NULL)": "22004",
            "SELECT insights.detect_rage_clicks(%(s)s, 3, NULL)": "22004",
            "SELECT insights.detect_rage_clicks(%(s)s, 3, '1 second', NULL)": "22004",
            "SELECT insights.detect_rage_clicks(%(s)s, 1)": "22023",
            "SELECT insights.detect_rage_clicks(%(s)s, 3, '0 seconds')": "22023",
            "SELECT insights.detect_rage_clicks(%(s)s, 3, '-1 second')": "22023",
            "SELECT insights.detect_rage_clicks(%(s)s, 3, '2 hours')": "22023",
            "SELECT insights.detect_rage_clicks(%(s)s, 3, '1 second', -1)": "22023",
        }
        assert {sql: app.error(conn, sql, {"s": quiet}) for sql in cases} == cases
    with app.as_project(None) as conn:
        assert app.error(conn, DETECT, (quiet,)) == "42501"


def test_concurrent_runs_store_each_burst_once(db: TestDB, session) -> None:
    project, sid = session

    def work(conn, _i):
        conn.execute("SET ROLE insights_app")
        conn.execute("SELECT set_config('app.project_id', %s, false)", (str(project),))
        return conn.execute(DETECT, (sid,)).fetchone()[0]

    assert concurrently(4, db.url, work) == [3, 3, 3, 3]
    assert db.scalar("SELECT count(*) FROM insights.rage_click_events WHERE session_id = %s", (sid,)) == 3
    assert T0.startswith("2030-03-10 12:00:00")
