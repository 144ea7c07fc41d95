"""Every CHECK of the schema refuses a bad value by its name; the database keeps duration_ms;
one replay chunk per (session, chunk_index)."""

from __future__ import annotations

import psycopg
import pytest

from insights.support import T0
from pg import TestDB

# (table, columns of a row that breaks it (besides project_id and session_id), constraint)
BAD: list[tuple[str, dict, str]] = [
    ("projects", {"name": " "}, "chk_projects_name_not_blank"),
    ("users", {"email": "not-an-email"}, "chk_users_email_format"),
    ("sessions", {"started_at": T0, "ended_at": "2030-03-10 11:59:59+00"}, "chk_sessions_ended_after_started"),
    ("events", {"event_type": "click", "occurred_at": "2100-01-01 00:00:00+00"}, "chk_events_occurred_at_range"),
    ("events", {"event_type": "click", "occurred_at": "1999-12-31 23:59:59+00"}, "chk_events_occurred_at_range"),
    ("events", {"event_type": "hover"}, "chk_events_event_type"),
    ("events", {"event_type": "click", "x": -1, "y": 0}, "chk_events_coordinates_non_negative"),
    ("events", {"event_type": "click", "x": 0, "y": -5}, "chk_events_coordinates_non_negative"),
    ("events", {"event_type": "scroll", "scroll": -1}, "chk_events_scroll_non_negative"),
    ("events", {"event_type": "custom", "metadata": "[1]"}, "chk_events_metadata_object"),
    ("rage_click_events", {"click_count": 1, "first_click_at": T0, "last_click_at": T0},
     "chk_rage_click_events_click_count"),
    ("rage_click_events", {"click_count": 3, "first_click_at": T0, "last_click_at": "2030-03-10 11:00:00+00"},
     "chk_rage_click_events_last_after_first"),
    ("heatmap_points", {"screen": "home", "x": 1, "y": 1, "occurred_at": "infinity"},
     "chk_heatmap_points_occurred_at_range"),
    ("heatmap_points", {"screen": "home", "x": -1, "y": 1}, "chk_heatmap_points_coordinates_non_negative"),
    ("heatmap_points", {"screen": "home", "x": 1, "y": 1, "weight": 0}, "chk_heatmap_points_weight"),
    ("heatmap_points", {"screen": "home", "x": 1, "y": 1, "weight": "NaN"}, "chk_heatmap_points_weight"),
    ("heatmap_points", {"screen": "home", "x": 1, "y": 1, "weight": "Infinity"}, "chk_heatmap_points_weight"),
    ("journey_steps", {"step_num": 0, "screen": "home"}, "chk_journey_steps_step_num_positive"),
    ("latency_metrics", {"api": "/a", "latency_ms": 1, "occurred_at": "2200-01-01"},
     "chk_latency_metrics_occurred_at_range"),
    ("latency_metrics", {"api": "/a", "latency_ms": -1}, "chk_latency_metrics_latency_non_negative"),
    ("latency_metrics", {"api": "/a", "latency_ms": 1, "status": 99}, "chk_latency_metrics_status"),
    ("latency_metrics", {"api": "/a", "latency_ms": 1, "status": 600}, "chk_latency_metrics_status"),
    ("latency_metrics", {"api": " ", "latency_ms": 1}, "chk_latency_metrics_api_not_blank"),
    ("emotion_predictions", {"emotion": "joy", "confidence": 0.5, "event_occurred_at": T0},
     "chk_emotion_predictions_event_pair"),
    ("emotion_predictions", {"emotion": "joy", "confidence": 0.5, "event_id": 999999},
     "chk_emotion_predictions_event_pair"),
    ("emotion_predictions", {"emotion": "happy", "confidence": 0.5}, "chk_emotion_predictions_emotion"),
    ("emotion_predictions", {"emotion": "joy", "confidence": 1.01}, "chk_emotion_predictions_confidence"),
    ("emotion_predictions", {"emotion": "joy", "confidence": -0.01}, "chk_emotion_predictions_confidence"),
    ("emotion_predictions", {"emotion": "joy", "confidence": "NaN"}, "chk_emotion_predictions_confidence"),
    ("experience_scores", {"score": 101}, "chk_experience_scores_score"),
    ("experience_scores", {"score": -1}, "chk_experience_scores_score"),
    ("experience_scores", {"score": 50, "issues": "{}"}, "chk_experience_scores_issues_array"),
    ("replay_chunks", {"chunk_index": -1, "chunk_data": "[]"}, "chk_replay_chunks_chunk_index"),
    ("replay_chunks", {"chunk_index": 0, "chunk_data": '"text"'}, "chk_replay_chunks_chunk_data"),
    ("error_logs", {"message": "x", "occurred_at": "-infinity"}, "chk_error_logs_occurred_at_range"),
]


def _insert(conn: psycopg.Connection, table: str, cols: dict) -> None:
    names = list(cols)
    conn.execute(f"INSERT INTO insights.{table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})",
                 list(cols.values()))


def test_every_check_refuses_a_bad_value_by_name(db: TestDB, make) -> None:
    project = make.project()
    session = make.session(project)
    refused = []
    with db.connect() as conn:
        for table, cols, constraint in BAD:
            full = dict(cols)
            if table != "projects":
                full["project_id"] = project
            if table not in ("projects", "users", "sessions"):
                full["session_id"] = session
            with pytest.raises(psycopg.errors.CheckViolation) as exc:
                with conn.transaction():
                    _insert(conn, table, full)
            assert exc.value.diag.constraint_name == constraint, (table, cols)
            refused.append(constraint)
    every_check = {r[0] for r in db.query("""SELECT conname FROM pg_constraint WHERE contype = 'c' AND conparentid = 0
                                             AND connamespace = 'insights'::regnamespace""")}
    assert every_check == set(refused), "each CHECK exercised"


def test_the_limits_themselves_are_accepted(db: TestDB, make) -> None:
    project = make.project()
    session = make.session(project)
    make.insert("events", project, {"session_id": session, "event_type": "scroll", "x": 0, "y": 0, "scroll": 0,
                                    "occurred_at": "2000-01-01 00:00:00+00", "metadata": "{}"}, "event_id")
    make.insert("latency_metrics", project, {"session_id": session, "api": "/a", "latency_ms": 0, "status": 100})
    make.insert("latency_metrics", project, {"session_id": session, "api": "/a", "latency_ms": 0, "status": 599})
    make.insert("emotion_predictions", project, {"session_id": session, "emotion": "joy", "confidence": 0})
    make.insert("emotion_predictions", project, {"session_id": session, "emotion": "anger", "confidence": 1})
    make.insert("experience_scores", project, {"session_id": session, "score": 0})
    make.insert("replay_chunks", project, {"session_id": session, "chunk_index": 0, "chunk_data": "[]"})
    assert db.scalar("SELECT count(*) FROM insights.events WHERE occurred_at = '2000-01-01 00:00:00+00'") == 1


def test_duration_is_kept_by_the_database(db: TestDB, make) -> None:
    project = make.project()
    session = make.session(project, started_at="2030-03-10 12:00:00+00")
    assert db.scalar("SELECT duration_ms FROM insights.sessions WHERE session_id = %s", (session,)) is None
    db.execute("UPDATE insights.sessions SET ended_at = '2030-03-10 12:01:02.3456+00' WHERE session_id = %s",
               (session,))
    assert db.scalar("SELECT duration_ms FROM insights.sessions WHERE session_id = %s", (session,)) == 62345
    db.execute("UPDATE insights.sessions SET ended_at = '2030-03-12 12:00:00+00' WHERE session_id = %s", (session,))
    assert db.scalar("SELECT duration_ms FROM insights.sessions WHERE session_id = %s", (session,)) == 172_800_000
    with pytest.raises(psycopg.errors.GeneratedAlways):
        db.execute("UPDATE insights.sessions SET duration_ms = 1 WHERE session_id = %s", (session,))


def test_one_replay_chunk_per_index(db: TestDB, make) -> None:
    project = make.project()
    session, other = make.session(project), make.session(project)
    for s in (session, other):
        make.insert("replay_chunks", project, {"session_id": s, "chunk_index": 0, "chunk_data": "[]"})
    with pytest.raises(psycopg.errors.UniqueViolation) as exc:
        make.insert("replay_chunks", project, {"session_id": session, "chunk_index": 0, "chunk_data": "[]"})
    assert exc.value.diag.constraint_name == "idx_replay_session"
