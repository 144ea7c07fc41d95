"""Deletion semantics: a user's sessions stay (SET NULL); a session takes its rows with it except
error_logs (SET NULL); an event's emotion predictions stay without it. The reference from
emotion_predictions to the partitioned events survives the engine: rows moved out of the DEFAULT
partition keep it (SQL and CLI paths), and retention applies the key's SET NULL."""

from __future__ import annotations

import pytest

from pg import TestDB

OWN = ["events", "rage_click_events", "heatmap_points", "journey_steps", "latency_metrics",
       "emotion_predictions", "experience_scores", "replay_chunks"]
EMOTIONS = "SELECT id, session_id, event_id, event_occurred_at FROM insights.emotion_predictions ORDER BY id"


def _full_session(make, project, user=None, at="2030-03-10 12:00:00+00"):
    sid = make.session(project, user)
    make.clicks(project, sid, [(0, 1, 1), (100, 1, 1), (200, 1, 1)])
    event = make.conn.execute("SELECT min(event_id) FROM insights.events WHERE session_id = %s", (sid,)).fetchone()[0]
    for table, cols in [("heatmap_points", {"screen": "home", "x": 1, "y": 1, "occurred_at": at}),
                        ("latency_metrics", {"api": "/a", "latency_ms": 5, "occurred_at": at}),
                        ("emotion_predictions", {"emotion": "anger", "confidence": 0.9, "event_id": event}),
                        ("replay_chunks", {"chunk_index": 0, "chunk_data": "[]"}),
                        ("error_logs", {"message": "boom", "occurred_at": at})]:
        make.insert(table, project, {"session_id": sid, **cols})
    make.conn.execute("SELECT set_config('app.project_id', %s, false), insights.calculate_experience_score(%s),"
                      " insights.build_journey(%s)", (str(project), sid, sid))
    return sid, event


def _may_2031(make, project):
    """A session with one event in May 2031 and two emotion predictions that reference it."""
    sid = make.session(project)
    event = make.insert("events", project, {"session_id": sid, "event_type": "click",
                                            "occurred_at": "2031-05-02 00:00:00+00"}, "event_id")
    for emotion in ("anger", "joy"):
        make.insert("emotion_predictions", project, {"session_id": sid, "event_id": event, "emotion": emotion,
                                                     "confidence": 0.9})
    return sid, event


def test_deleting_a_user_keeps_the_sessions(db: TestDB, make, app) -> None:
    project = make.project()
    user = make.user(project)
    sid, _ = _full_session(make, project, user)
    with app.as_project(project) as conn:
        assert conn.execute("DELETE FROM insights.users WHERE user_id = %s", (user,)).rowcount == 1
        conn.commit()
    assert db.query("SELECT user_id, project_id FROM insights.sessions WHERE session_id = %s", (sid,)) \
        == [(None, project)]


def test_deleting_a_session_keeps_only_its_errors(db: TestDB, make, app) -> None:
    project = make.project()
    sid, _ = _full_session(make, project)
    keep, _ = _full_session(make, project)
    with app.as_project(project) as conn:
        assert conn.execute("DELETE FROM insights.sessions WHERE session_id = %s", (sid,)).rowcount == 1
        conn.commit()
    for table in OWN:
        assert db.scalar(f"SELECT count(*) FROM insights.{table} WHERE session_id = %s", (sid,)) == 0, table
        assert db.scalar(f"SELECT count(*) FROM insights.{table} WHERE session_id = %s", (keep,)) >= 1, table
    assert db.query("SELECT session_id, project_id, message FROM insights.error_logs ORDER BY session_id NULLS FIRST") \
        == [(None, project, "boom"), (keep, project, "boom")]


def test_deleting_an_event_clears_only_the_reference(db: TestDB, make) -> None:
    project = make.project()
    sid, event = _full_session(make, project)
    before = db.query(EMOTIONS)
    db.execute("DELETE FROM insights.events WHERE event_id = %s", (event,))
    assert db.query(EMOTIONS) == [(before[0][0], sid, None, None)]
    assert db.scalar("SELECT project_id FROM insights.emotion_predictions") == project


@pytest.mark.parametrize("path", ["sql", "cli"])
def test_rows_drained_from_default_keep_their_references(db: TestDB, make, path: str) -> None:
    """2031-05 has no partition: the event lands in DEFAULT; maintenance creates the month and moves it."""
    project = make.project()
    sid, event = _may_2031(make, project)
    assert db.scalar("SELECT tableoid::regclass::text FROM insights.events WHERE event_id = %s", (event,)) \
        == "insights.events_default"
    before = db.query(EMOTIONS)
    if path == "sql":
        db.execute("CALL ops.run_maintenance('insights.events'::regclass, '2031-05-10')")
    else:
        run = db.cli("maintain", "--reference-date", "2031-05-10")
        assert run.returncode == 0, run.stdout + run.stderr
    assert db.scalar("SELECT tableoid::regclass::text FROM insights.events WHERE event_id = %s", (event,)) \
        == "insights.events_2031_05"
    assert db.query(EMOTIONS) == before, "the move fired no ON DELETE SET NULL"
    assert db.query("SELECT pg_get_constraintdef(oid), convalidated FROM pg_constraint"
                    " WHERE conname = 'emotion_predictions_event_id_fkey' AND conparentid = 0") == [(
                        "FOREIGN KEY (project_id, event_id, event_occurred_at) REFERENCES insights.events(project_id,"
                        " event_id, occurred_at) ON DELETE SET NULL (event_id, event_occurred_at)", True)]
    assert db.scalar("SELECT count(*) FROM ops.suspended_references") == 0
    with pytest.raises(Exception) as exc:  # still enforced
        db.execute("UPDATE insights.emotion_predictions SET event_occurred_at = '2031-05-03 00:00:00+00'")
    assert getattr(exc.value, "sqlstate", None) == "23503"


def test_retention_applies_set_null_to_references(db: TestDB, make) -> None:
    db.execute("SELECT ops.create_partition('insights.events'::regclass, '2031-05-01')")
    project = make.project()
    sid, event = _may_2031(make, project)
    emotions = [r[0] for r in db.query("SELECT id FROM insights.emotion_predictions ORDER BY id")]
    db.execute("CALL ops.run_maintenance('insights.events'::regclass, '2032-08-10')")
    assert db.scalar("SELECT to_regclass('insights.events_2031_05')") is None
    assert db.query("SELECT action FROM ops.maintenance_log WHERE parent_table = 'events' AND parent_schema ="
                    " 'insights' AND action = 'error'") == []
    assert db.query(EMOTIONS) == [(e, sid, None, None) for e in emotions]
    assert db.scalar("SELECT count(*) FROM insights.events WHERE event_id = %s", (event,)) == 0
