"""build_journey and heatmap on hand-built sessions: exact steps and cells, idempotence, partition
pruning of the heatmap (EXPLAIN), bad input."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from pg import TestDB

START = datetime(2030, 3, 10, 12, tzinfo=timezone.utc)
STEPS = "SELECT step_num, screen, occurred_at FROM insights.journey_steps WHERE session_id = %s ORDER BY step_num"
HEATMAP = "SELECT * FROM insights.heatmap(%s, %s, %s, %s) ORDER BY 1, 2"


def at(ms: int) -> datetime:
    return START + timedelta(milliseconds=ms)


def screens(make, project, session, views: list[tuple[int, str | None]]) -> None:
    for ms, screen in views:
        make.insert("events", project, {"session_id": session, "event_type": "screen_view", "screen": screen,
                                        "occurred_at": at(ms)}, "event_id")


def test_journey_collapses_repeats_and_is_idempotent(db: TestDB, make, app) -> None:
    project = make.project()
    sid = make.session(project)
    screens(make, project, sid, [(0, "home"), (100, "home"), (200, "cart"), (250, None), (300, "cart"),
                                 (400, "home"), (500, "checkout")])
    with app.as_project(project) as conn:
        assert conn.execute("SELECT insights.build_journey(%s)", (sid,)).fetchone()[0] == 4
        conn.commit()
    expected = [(1, "home", at(0)), (2, "cart", at(200)), (3, "home", at(400)), (4, "checkout", at(500))]
    assert db.query(STEPS, (sid,)) == expected
    versions = db.query("SELECT id, xmin::text FROM insights.journey_steps WHERE session_id = %s ORDER BY 1", (sid,))
    with app.as_project(project) as conn:
        assert conn.execute("SELECT insights.build_journey(%s)", (sid,)).fetchone()[0] == 4
        conn.commit()
    assert db.query("SELECT id, xmin::text FROM insights.journey_steps WHERE session_id = %s ORDER BY 1",
                    (sid,)) == versions, "nothing rewritten"

    # a later screen adds a step; a late event in the middle renumbers what follows it
    screens(make, project, sid, [(600, "done"), (150, "search")])
    with app.as_project(project) as conn:
        assert conn.execute("SELECT insights.build_journey(%s)", (sid,)).fetchone()[0] == 6
        conn.commit()
    assert db.query(STEPS, (sid,)) == [(1, "home", at(0)), (2, "search", at(150)), (3, "cart", at(200)),
                                       (4, "home", at(400)), (5, "checkout", at(500)), (6, "done", at(600))]
    assert db.scalar("SELECT xmin::text FROM insights.journey_steps WHERE session_id = %s AND step_num = 1",
                     (sid,)) == versions[0][1]


def test_journey_bad_input_and_empty_sessions(make, app) -> None:
    project = make.project()
    quiet = make.session(project)
    with app.as_project(project) as conn:
        assert conn.execute("SELECT insights.build_journey(%s)", (quiet,)).fetchone()[0] == 0
        assert app.error(conn, "SELECT insights.build_journey(NULL)") == "22004"
        assert app.error(conn, "SELECT insights.build_journey(gen_random_uuid())") == "P0002"
    with app.as_project(None) as conn:
        assert app.error(conn, "SELECT insights.build_journey(%s)", (quiet,)) == "42501"


def test_heatmap_cells_and_partition_pruning(db: TestDB, make, app) -> None:
    for month in ("2030-02-01", "2030-03-01", "2030-04-01"):
        db.execute("SELECT ops.create_partition('insights.heatmap_points'::regclass, %s)", (month,))
    project, other = make.project(), make.project("other")
    sid, osid = make.session(project), make.session(other)
    points = [("home", 5, 5, 1, "2030-03-10"), ("home", 9, 9, 2, "2030-03-11"), ("home", 10, 0, 1, "2030-03-31"),
              ("home", 25, 47, 0.5, "2030-03-01"), ("cart", 5, 5, 1, "2030-03-10"), ("home", 5, 5, 1, "2030-02-28"),
              ("home", 5, 5, 1, "2030-04-01")]
    for screen, x, y, weight, day in points:
        make.insert("heatmap_points", project, {"session_id": sid, "screen": screen, "x": x, "y": y,
                                                "weight": weight, "occurred_at": f"{day} 12:00:00+00"})
    make.insert("heatmap_points", other, {"session_id": osid, "screen": "home", "x": 1, "y": 1,
                                          "occurred_at": "2030-03-10 12:00:00+00"})
    march = ("home", "2030-03-01 00:00:00+00", "2030-04-01 00:00:00+00")
    with app.as_project(project) as conn:
        assert conn.execute(HEATMAP, (*march, 10)).fetchall() == [(0, 0, 3.0, 2), (1, 0, 1.0, 1), (2, 4, 0.5, 1)]
        assert conn.execute(HEATMAP, (*march, 20)).fetchall() == [(0, 0, 4.0, 3), (1, 2, 0.5, 1)]
        assert conn.execute("SELECT * FROM insights.heatmap('home', '2030-03-01', '2030-04-01')"
                            " ORDER BY 1, 2").fetchall() \
            == [(0, 0, 3.0, 2), (1, 0, 1.0, 1), (2, 4, 0.5, 1)]
        plan = "\n".join(r[0] for r in conn.execute(
            "EXPLAIN (COSTS OFF) SELECT * FROM insights.heatmap('home', '2030-03-01', '2030-04-01', 10)"))
        assert "heatmap_points_2030_03" in plan
        for pruned in ("heatmap_points_2030_02", "heatmap_points_2030_04", "heatmap_points_default"):
            assert pruned not in plan
        # bad input: a clear error for the cell and the range, no rows for NULL
        assert app.error(conn, HEATMAP, (*march, 0)) == "22023"
        assert app.error(conn, HEATMAP, (*march, None)) == "22004"
        assert app.error(conn, HEATMAP, ("home", "2030-04-01", "2030-03-01", 10)) == "22023"
        assert conn.execute(HEATMAP, (None, march[1], march[2], 10)).fetchall() == []
        assert conn.execute(HEATMAP, ("home", None, march[2], 10)).fetchall() == []
        assert conn.execute(HEATMAP, ("nowhere", *march[1:], 10)).fetchall() == []
    with app.as_project(None) as conn:
        assert conn.execute(HEATMAP, (*march, 10)).fetchall() == []
