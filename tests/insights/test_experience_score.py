"""calculate_experience_score: the documented formula, pinned on hand-built sessions."""

from __future__ import annotations

from pg import TestDB

SCORE = "SELECT insights.calculate_experience_score(%s)"
STORED = "SELECT score, issues, xmin::text FROM insights.experience_scores WHERE session_id = %s"


def troubled(make, project):
    sid = make.session(project)
    # two rage bursts (3 clicks each, far apart)
    make.clicks(project, sid, [(0, 10, 10), (300, 10, 10), (600, 10, 10), (5000, 10, 10), (5300, 10, 10),
                               (5600, 10, 10)])
    make.insert("error_logs", project, {"session_id": sid, "message": "TypeError"})
    for latency, status in [(1500, 200), (200, 503), (2000, 500), (1000, 499), (300, None)]:
        make.insert("latency_metrics", project, {"session_id": sid, "api": "/api", "latency_ms": latency,
                                                 "status": status})
    for emotion, confidence in [("anger", 0.9), ("frustration", 0.7), ("sadness", 0.69), ("joy", 0.99)]:
        make.insert("emotion_predictions", project, {"session_id": sid, "emotion": emotion,
                                                     "confidence": confidence})
    return sid


def test_the_formula(db: TestDB, make, app) -> None:
    project = make.project()
    sid, clean = troubled(make, project), make.session(project)
    with app.as_project(project) as conn:
        # 100 - (2 x 15 rage) - (1 x 10 errors) - (2 x 10 failed) - (2 x 5 slow) - (2 x 5 negative) = 20
        assert conn.execute(SCORE, (sid,)).fetchone()[0] == 20
        assert conn.execute(SCORE, (clean,)).fetchone()[0] == 100
        conn.commit()
    score, issues, version = db.query(STORED, (sid,))[0]
    assert score == 20
    assert issues == [{"kind": "rage_clicks", "count": 2, "penalty": 30},
                      {"kind": "errors", "count": 1, "penalty": 10},
                      {"kind": "failed_api_calls", "count": 2, "penalty": 20},
                      {"kind": "slow_api_calls", "count": 2, "penalty": 10},
                      {"kind": "negative_emotions", "count": 2, "penalty": 10}]
    assert db.query(STORED, (clean,))[0][:2] == (100, [])
    assert db.scalar("SELECT count(*) FROM insights.rage_click_events WHERE session_id = %s", (sid,)) == 2

    with app.as_project(project) as conn:  # deterministic: nothing rewritten
        assert conn.execute(SCORE, (sid,)).fetchone()[0] == 20
        conn.commit()
    assert db.query(STORED, (sid,))[0][2] == version

    # caps: four more errors (5 x 10 capped at 30), four more negative emotions (6 x 5 capped at 20)
    for _ in range(4):
        make.insert("error_logs", project, {"session_id": sid, "message": "TypeError"})
        make.insert("emotion_predictions", project, {"session_id": sid, "emotion": "confusion", "confidence": 1})
    with app.as_project(project) as conn:
        assert conn.execute(SCORE, (sid,)).fetchone()[0] == 0  # 100 - 30 - 30 - 20 - 10 - 20 = -10, floored
        conn.commit()
    score, issues, _ = db.query(STORED, (sid,))[0]
    assert score == 0
    assert [(i["kind"], i["count"], i["penalty"]) for i in issues] == [
        ("rage_clicks", 2, 30), ("errors", 5, 30), ("failed_api_calls", 2, 20), ("slow_api_calls", 2, 10),
        ("negative_emotions", 6, 20)]
    assert db.scalar("SELECT count(*) FROM insights.experience_scores WHERE session_id = %s", (sid,)) == 1


def test_bad_input(make, app) -> None:
    project = make.project()
    with app.as_project(project) as conn:
        assert app.error(conn, "SELECT insights.calculate_experience_score(NULL)") == "22004"
        assert app.error(conn, "SELECT insights.calculate_experience_score(gen_random_uuid())") == "P0002"
    with app.as_project(None) as conn:
        assert app.error(conn, "SELECT insights.calculate_experience_score(gen_random_uuid())") == "42501"
