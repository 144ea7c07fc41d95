"""Bad input is rejected by named constraints; the canonical steps format; the BEFORE triggers."""

from __future__ import annotations

import copy

import psycopg
import pytest
from psycopg.types.json import Jsonb

from recorder.support import STEP, Builder
from pg import TestDB

# Section 4.1 of the seed, verbatim.
EXAMPLE_STEP = {
    "stepNumber": 1,
    "timestamp": 1700145000000,
    "label": "Email Address",
    "event": "type",
    "selector": "input#email",
    "value": "test@example.com",
    "x": 150,
    "y": 250,
    "page": "https://example.com/login",
    "navigation": {
        "type": "same_page",
        "url": "https://example.com/login"
    },
    "tabId": 1,
    "metadata": {
        "elementTag": "input",
        "elementType": "email",
        "isInIframe": False,
        "iframeDepth": 0,
        "isInShadowDOM": False,
        "visibilityState": "visible",
        "scrollPosition": {"x": 0, "y": 100}
    },
    "bundle": {
        "xpath": "//input[@id='email']",
        "id": "email",
        "name": "email",
        "className": "form-control input-lg",
        "aria": "Email address input field",
        "placeholder": "Enter your email",
        "dataAttrs": {
            "data-testid": "email-input",
            "data-field": "email",
            "data-required": "true"
        },
        "tag": "input",
        "visibleText": "",
        "bounding": {
            "left": 100,
            "top": 200,
            "width": 300,
            "height": 40
        },
        "iframeChain": [],
        "shadowHosts": [],
        "isClosedShadow": False
    }
}


def violation(fn, exc: type[psycopg.Error] = psycopg.errors.CheckViolation) -> str:
    with pytest.raises(exc) as info:
        fn()
    return info.value.diag.constraint_name


def test_the_seed_example_step_is_accepted_as_is(make: Builder) -> None:
    user = make.user()
    rec = make.recording(user, steps=[EXAMPLE_STEP, {**EXAMPLE_STEP, "stepNumber": 2}])
    stored = make.conn.execute("SELECT steps, step_count FROM recorder.recordings WHERE id = %s", (rec,)).fetchone()
    assert stored == ([EXAMPLE_STEP, {**EXAMPLE_STEP, "stepNumber": 2}], 2)


def _without(key: str, inner: str | None = None) -> dict:
    step = copy.deepcopy(STEP)
    if inner:
        del step[key][inner]
    else:
        del step[key]
    return step


@pytest.mark.parametrize("steps", [
    {"stepNumber": 1},                                   # not an array
    "steps",                                             # a scalar
    [1, 2],                                              # elements are not objects
    [_without("stepNumber")],
    [_without("event")],
    [_without("navigation")],
    [_without("bundle")],
    [_without("navigation", "type")],
    [{**STEP, "stepNumber": "1"}],                       # stepNumber must be a number
    [{**STEP, "event": None}],
    [{**STEP, "navigation": "same_page"}],
    [{**STEP, "bundle": []}],
    [STEP, {**STEP, "stepNumber": 2, "bundle": None}],   # one bad element is enough
], ids=lambda s: str(s)[:40])
def test_steps_must_keep_the_canonical_format(make: Builder, steps: object) -> None:
    user = make.user()
    assert violation(lambda: make.recording(user, steps=Jsonb(steps))) == "check_recordings_steps_format"
    rec = make.recording(user)
    assert violation(lambda: make.conn.execute(
        "UPDATE recorder.recordings SET steps = %s WHERE id = %s", (Jsonb(steps), rec))) == \
        "check_recordings_steps_format"


def test_an_empty_recording_is_valid(make: Builder) -> None:
    rec = make.insert("recordings", user_id=make.user(), name="Empty", starting_url="https://example.com")
    assert make.conn.execute("SELECT steps, step_count FROM recorder.recordings WHERE id = %s",
                             (rec,)).fetchone() == ([], 0)


def test_enumerations_and_ranges_are_named_constraints(make: Builder) -> None:
    user = make.user()
    rec = make.recording(user)
    job = make.job(rec)
    cases = {
        "check_users_tier": lambda: make.conn.execute(
            "UPDATE recorder.users SET tier = 'platinum' WHERE id = %s", (user,)),
        "check_users_vm_status": lambda: make.conn.execute(
            "UPDATE recorder.users SET vm_status = 'booting' WHERE id = %s", (user,)),
        "check_users_preferences": lambda: make.conn.execute(
            "UPDATE recorder.users SET preferences = '[]' WHERE id = %s", (user,)),
        "check_recordings_status": lambda: make.recording(user, status="published"),
        "check_recordings_recording_method": lambda: make.recording(user, recording_method="selenium"),
        "check_recordings_visibility": lambda: make.recording(user, visibility="public"),
        "check_recordings_variables": lambda: make.recording(user, variables=["email"]),
        "check_execution_jobs_status": lambda: make.job(rec, status="queued"),
        "check_execution_jobs_concurrency": lambda: make.job(rec, concurrency=11),
        "check_execution_results_status": lambda: make.result(job, 0, status="error"),
        "check_execution_results_row_index": lambda: make.result(job, -1),
        "check_execution_results_step_results": lambda: make.result(job, 0, step_results={"ok": True}),
        "check_execution_logs_level": lambda: make.log(job, level="fatal"),
        "check_healing_logs_method": lambda: make.healing(rec, healing_method="guess"),
        "check_healing_logs_confidence": lambda: make.healing(rec, confidence_score=101),
        "check_vdi_metrics_cpu": lambda: make.insert("vdi_metrics", worker_id="w1", cpu_usage=100.01),
    }
    for name, fn in cases.items():
        assert violation(fn) == name, name
    assert violation(lambda: make.job(rec, concurrency=0)) == "check_execution_jobs_concurrency"
    assert violation(lambda: make.healing(rec, confidence_score=-1)) == "check_healing_logs_confidence"
    assert violation(lambda: make.insert("vdi_metrics", worker_id="w1", cpu_usage=-0.5)) == "check_vdi_metrics_cpu"
    team = make.team(user)
    assert violation(lambda: make.member(team, make.user(), "guest")) == "check_team_members_role"
    # the boundaries themselves are fine
    make.job(rec, concurrency=10)
    make.job(rec, concurrency=1)
    make.healing(rec, confidence_score=100)
    make.insert("vdi_metrics", worker_id="w1", cpu_usage=100.00)


def test_total_rows_must_match_the_csv(make: Builder) -> None:
    rec = make.recording(make.user())
    job = make.job(rec, rows=3)
    assert violation(lambda: make.job(rec, rows=3, total_rows=4)) == "check_execution_jobs_total_rows"
    for bad in ({"email": "a"}, ["a@b.c"], "rows"):
        assert violation(lambda: make.insert(
            "execution_jobs", recording_id=rec, user_id=make.job_row(job)["user_id"], csv_data=Jsonb(bad),
            field_mapping={}, total_rows=1)) == "check_execution_jobs_total_rows"
    assert violation(lambda: make.conn.execute(
        "UPDATE recorder.execution_jobs SET total_rows = 2 WHERE id = %s", (job,))) == \
        "check_execution_jobs_total_rows"
    make.conn.execute("UPDATE recorder.execution_jobs SET csv_data = csv_data - 0, total_rows = 2 WHERE id = %s",
                      (job,))
    assert make.job_row(job)["total_rows"] == 2


def test_results_belong_to_a_row_of_the_csv_once(make: Builder) -> None:
    job = make.job(make.recording(make.user()), rows=2)
    make.result(job, 1)
    assert violation(lambda: make.result(job, 2)) == "check_execution_results_row_index"
    assert violation(lambda: make.result(job, 1, status="failed"),
                     psycopg.errors.UniqueViolation) == "idx_execution_results_row_index"
    assert make.job_row(job)["completed_rows"] == 1


def test_foreign_keys_cascade_as_the_seed_says(make: Builder) -> None:
    user = make.user()
    rec = make.recording(user)
    job = make.job(rec)
    make.result(job, 0)
    make.log(job)
    make.healing(rec, execution_job_id=job)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        make.insert("users", id=make.conn.execute("SELECT gen_random_uuid()").fetchone()[0], email="x@y.z")
    make.conn.execute("DELETE FROM auth.users WHERE id = %s", (user,))
    counts = make.conn.execute(
        "SELECT (SELECT count(*) FROM recorder.users), (SELECT count(*) FROM recorder.recordings),"
        " (SELECT count(*) FROM recorder.execution_jobs), (SELECT count(*) FROM recorder.execution_results),"
        " (SELECT count(*) FROM recorder.execution_logs), (SELECT count(*) FROM recorder.healing_logs)").fetchone()
    assert counts == (0, 0, 0, 0, 0, 0)


def test_step_count_follows_steps(make: Builder) -> None:
    rec = make.recording(make.user(), steps=[STEP, STEP, STEP])
    read = "SELECT step_count FROM recorder.recordings WHERE id = %s"
    assert make.conn.execute(read, (rec,)).fetchone()[0] == 3
    make.conn.execute("UPDATE recorder.recordings SET steps = steps - 0 WHERE id = %s", (rec,))
    assert make.conn.execute(read, (rec,)).fetchone()[0] == 2
    make.conn.execute("UPDATE recorder.recordings SET step_count = 99 WHERE id = %s", (rec,))  # not forgeable
    assert make.conn.execute(read, (rec,)).fetchone()[0] == 2
    make.conn.execute("UPDATE recorder.recordings SET steps = '[]' WHERE id = %s", (rec,))
    assert make.conn.execute(read, (rec,)).fetchone()[0] == 0


def test_updated_at_moves_on_update(db: TestDB, make: Builder) -> None:
    user = make.user()
    rec = make.recording(user)
    job = make.job(rec)
    team = make.team(user)
    tables = {"users": user, "recordings": rec, "execution_jobs": job, "teams": team}
    with db.connect(autocommit=False) as conn:
        for table, key in tables.items():
            before = conn.execute(f"SELECT updated_at FROM recorder.{table} WHERE id = %s", (key,)).fetchone()[0]
            after = conn.execute(f"UPDATE recorder.{table} SET created_at = created_at WHERE id = %s RETURNING"
                                 " updated_at, now()", (key,)).fetchone()
            assert after[0] == after[1] and after[0] > before, table
        conn.rollback()


def test_successful_healings_are_cached_for_a_day(make: Builder) -> None:
    rec = make.recording(make.user())
    ok = make.healing(rec, step=3, selector="button.submit")
    failed = make.healing(rec, step=3, selector="button.submit", success=False)
    rows = dict((r[0], r[1:]) for r in make.conn.execute(
        "SELECT id, cache_key, cached_until - created_at, cache_key = md5(recording_id::text || '3button.submit')"
        " FROM recorder.healing_logs").fetchall())
    assert rows[ok][1].total_seconds() == 24 * 3600 and rows[ok][2] is True
    assert rows[failed] == (None, None, None)
