"""Attacks across the tenant boundary around RLS (issue 11, items 2, 3, 4, 5 and 7): values
the database assigns, references into another user's rows, moving a colleague's recording,
squatting an email, asking about someone else's teams, reading secrets as reporting."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass

import psycopg
import pytest
from psycopg import errors

from pg import TestDB
from recorder.support import Builder, as_user, attempt

RLS = errors.InsufficientPrivilege  # 42501: a policy's WITH CHECK, or a missing column privilege


@dataclass
class Teams:
    alice: uuid.UUID  # owns t1 and a recording shared with it
    bob: uuid.UUID    # member of t1 and of t2
    carol: uuid.UUID  # owns t2
    t1: uuid.UUID
    t2: uuid.UUID
    shared: uuid.UUID  # alice's, visibility team, in t1


@pytest.fixture
def teams(make: Builder) -> Teams:
    alice, bob, carol = make.user(), make.user(), make.user()
    t1, t2 = make.team(alice), make.team(carol)
    make.member(t1, bob, "member")
    make.member(t2, bob, "member")
    return Teams(alice, bob, carol, t1, t2, make.recording(alice, team_id=t1, visibility="team"))


def placement(make: Builder, recording: uuid.UUID) -> tuple:
    return make.conn.execute("SELECT user_id, team_id, visibility FROM recorder.recordings WHERE id = %s",
                             (recording,)).fetchone()


def test_a_member_of_two_teams_cannot_move_a_colleagues_recording(db: TestDB, make: Builder, teams: Teams) -> None:
    before = placement(make, teams.shared)
    with as_user(db, teams.bob) as conn:
        assert attempt(conn, "UPDATE recorder.recordings SET name = 'edited' WHERE id = %s", (teams.shared,)) == 1
        with pytest.raises(RLS):  # into the other team he is in: t2's admins could then delete it
            attempt(conn, "UPDATE recorder.recordings SET team_id = %s WHERE id = %s", (teams.t2, teams.shared))
        # asking whether it sits somewhere tells nothing about a recording he cannot read
        private = make.recording(teams.alice)
        assert conn.execute("SELECT recorder.recording_placement_unchanged(%s, NULL, 'private')",
                            (private,)).fetchone() == (False,)
    assert placement(make, teams.shared) == before
    with as_user(db, teams.alice) as conn:  # the owner may take it out of the team
        assert attempt(conn, "UPDATE recorder.recordings SET team_id = NULL, visibility = 'private'"
                             " WHERE id = %s", (teams.shared,)) == 1


def test_references_stay_with_their_recording(db: TestDB, make: Builder, teams: Teams) -> None:
    job = ("INSERT INTO recorder.execution_jobs (recording_id, user_id, team_id, csv_data, field_mapping,"
           " total_rows) VALUES (%s, %s, %s, '[{}]', '{}', 1)")
    healing = ("INSERT INTO recorder.healing_logs (recording_id, execution_job_id, step_number, original_selector,"
               " success) VALUES (%s, %s, 1, '#a', false)")
    other = make.recording(teams.alice)
    other_job = make.job(other)
    with as_user(db, teams.bob) as conn:
        assert attempt(conn, job, (teams.shared, teams.bob, teams.t1)) == 1
        with pytest.raises(RLS):  # t1's recording run in t2's context: t2 would read its results
            attempt(conn, job, (teams.shared, teams.bob, teams.t2))
    with as_user(db, teams.alice) as conn:
        assert attempt(conn, healing, (other, other_job)) == 1
        with pytest.raises(RLS):  # a healing of one recording filed under another recording's job
            attempt(conn, healing, (teams.shared, other_job))
    assert make.conn.execute("SELECT count(*) FROM recorder.healing_logs").fetchone() == (0,)


def test_a_tenant_may_cancel_a_job_but_not_requeue_or_complete_it(db: TestDB, make: Builder) -> None:
    alice = make.user()
    job = make.job(make.recording(alice), rows=3)
    make.conn.execute("SELECT recorder.claim_execution_job('vdi-1')")
    before = make.job_row(job)
    with as_user(db, alice) as conn:
        for change in ("status = 'pending'", "status = 'completed'", "status = 'failed'", "concurrency = 10",
                       "status = 'running', stop_on_error = true"):
            with pytest.raises(RLS):
                attempt(conn, f"UPDATE recorder.execution_jobs SET {change} WHERE id = %s", (job,))
        for column in ("completed_rows = 3", "worker_id = NULL", "claimed_at = NULL", "attempts = 0",
                       "completed_at = now()", "started_at = NULL"):
            with pytest.raises(RLS):
                attempt(conn, f"UPDATE recorder.execution_jobs SET {column} WHERE id = %s", (job,))
    assert make.job_row(job) == before
    with as_user(db, alice) as conn:
        assert conn.execute("UPDATE recorder.execution_jobs SET status = 'cancelled' WHERE id = %s",
                            (job,)).rowcount == 1
        conn.commit()
    with as_user(db, alice) as conn:  # a finished job is not hers to revive
        assert attempt(conn, "UPDATE recorder.execution_jobs SET status = 'cancelled', concurrency = 2"
                             " WHERE id = %s", (job,)) == 0
    waiting = make.job(make.recording(alice))
    with as_user(db, alice) as conn:  # while it waits, she may still edit it
        assert attempt(conn, "UPDATE recorder.execution_jobs SET concurrency = 2, stop_on_error = true"
                             " WHERE id = %s", (waiting,)) == 1


def test_values_the_database_assigns_are_not_writable(db: TestDB, make: Builder, teams: Teams) -> None:
    job = make.job(teams.shared)
    with as_user(db, teams.alice) as conn:
        for statement, params in [
            ("INSERT INTO recorder.recordings (user_id, name, starting_url, created_at) VALUES (%s, 'r', 'u',"
             " '2001-01-01')", (teams.alice,)),
            ("INSERT INTO recorder.recordings (user_id, name, starting_url, step_count) VALUES (%s, 'r', 'u', 99)",
             (teams.alice,)),
            ("INSERT INTO recorder.execution_logs (execution_job_id, level, message, timestamp)"
             " VALUES (%s, 'info', 'x', '2099-12-01')", (job,)),
            ("INSERT INTO recorder.healing_logs (recording_id, step_number, original_selector, success,"
             " cached_until) VALUES (%s, 1, '#a', true, 'infinity')", (teams.shared,)),
            ("INSERT INTO recorder.healing_logs (recording_id, step_number, original_selector, success,"
             " created_at) VALUES (%s, 1, '#a', true, '2099-01-01')", (teams.shared,)),
            ("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status, created_at)"
             " VALUES (%s, 0, '{}', 'success', '2001-01-01')", (job,)),
            ("INSERT INTO recorder.execution_jobs (recording_id, user_id, csv_data, field_mapping, total_rows,"
             " attempts) VALUES (%s, %s, '[{}]', '{}', 1, 7)", (teams.shared, teams.alice)),
            ("UPDATE recorder.teams SET owner_id = %s", (teams.bob,)),
            ("UPDATE recorder.users SET vm_status = 'ready', vm_id = 'vm-1' WHERE id = %s", (teams.alice,)),
        ]:
            with pytest.raises(RLS):
                attempt(conn, statement, params)
    assert make.conn.execute("SELECT count(*) FROM recorder.execution_logs").fetchone() == (0,)
    assert make.conn.execute("SELECT owner_id FROM recorder.teams WHERE id = %s", (teams.t1,)).fetchone() == (
        teams.alice,)


def test_nobody_squats_another_users_email(db: TestDB, make: Builder) -> None:
    victim, attacker = uuid.uuid4(), uuid.uuid4()
    for uid, email in ((victim, "victim@example.test"), (attacker, "attacker@example.test")):
        make.conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (uid, email))
    jwt = {"request.jwt.claims": json.dumps({"sub": str(attacker), "role": "authenticated",
                                             "email": "attacker@example.test"})}
    insert = "INSERT INTO recorder.users (id, email) VALUES (%s, %s)"
    with db.as_role("authenticated", jwt) as conn:
        with pytest.raises(RLS):  # taking the victim's address before they sign up
            attempt(conn, insert, (attacker, "victim@example.test"))
        assert attempt(conn, insert, (attacker, "Attacker@Example.test")) == 1
        conn.execute(insert, (attacker, "attacker@example.test"))
        with pytest.raises(RLS):
            attempt(conn, "UPDATE recorder.users SET email = 'victim@example.test' WHERE id = %s", (attacker,))
        conn.commit()
    victim_jwt = {"request.jwt.claims": json.dumps({"sub": str(victim), "email": "victim@example.test"})}
    with db.as_role("authenticated", victim_jwt) as conn:  # the victim signs up as usual
        assert attempt(conn, insert, (victim, "victim@example.test")) == 1
    phone_jwt = {"request.jwt.claims": json.dumps({"sub": str(victim), "email": "", "phone": "+15550100"})}
    with db.as_role("authenticated", phone_jwt) as conn:  # no address in the token: nothing to compare
        assert attempt(conn, insert, (victim, "victim@example.test")) == 1


def test_user_team_ids_answers_only_for_the_signed_in_user(db: TestDB, teams: Teams) -> None:
    ask = "SELECT * FROM recorder.user_team_ids(%s, %s)"
    with as_user(db, teams.bob) as conn:
        assert {r[0] for r in conn.execute(ask, (teams.bob, "viewer"))} == {teams.t1, teams.t2}
        assert conn.execute(ask, (None, "viewer")).fetchall() == []  # nobody: no team, as RLS shows nothing
        for args, error in [((teams.alice, "viewer"), RLS), ((teams.bob, "bogus"), errors.InvalidParameterValue),
                            ((teams.bob, None), errors.NullValueNotAllowed), ((teams.bob, ""),
                                                                              errors.InvalidParameterValue)]:
            with pytest.raises(error), conn.transaction():
                conn.execute(ask, args)


def test_cache_lookup_refuses_bad_arguments(db: TestDB, teams: Teams) -> None:
    lookup = "SELECT * FROM recorder.lookup_healing_cache(%s, %s, %s)"
    with as_user(db, teams.alice) as conn:
        assert conn.execute(lookup, (teams.shared, 1, "#a")).fetchall() == []
        for args, error in [((None, 1, "#a"), errors.NullValueNotAllowed), ((teams.shared, None, "#a"),
                            errors.NullValueNotAllowed), ((teams.shared, 1, None), errors.NullValueNotAllowed),
                            ((teams.shared, -1, "#a"), errors.InvalidParameterValue),
                            ((teams.shared, 1, ""), errors.InvalidParameterValue)]:
            with pytest.raises(error), conn.transaction():
                conn.execute(lookup, args)


CREDENTIALS = [
    "recordings.steps", "recordings.variables", "execution_jobs.csv_data", "execution_results.row_data",
    "execution_results.screenshot_url", "users.vm_url", "healing_logs.claude_request", "healing_logs.claude_response",
    "healing_logs.screenshot_url", "team_invitations.token_hash",
]


def test_reporting_reads_no_credential(db: TestDB, make: Builder, teams: Teams) -> None:
    make.conn.execute("UPDATE recorder.users SET vm_url = 'wss://vm-1.fly.dev?token=s3cret'")
    for column in CREDENTIALS:
        table, name = column.split(".")
        with db.as_role("schema_tool_readonly") as conn, pytest.raises(RLS):
            conn.execute(f"SELECT {name} FROM recorder.{table}")
    with db.as_role("schema_tool_readonly") as conn:  # everything else, every row
        assert conn.execute("SELECT count(vm_status), count(*) FROM recorder.users").fetchone() == (0, 3)
        assert conn.execute("SELECT count(success) FROM recorder.healing_logs").fetchone() == (0,)
    with as_user(db, teams.alice) as conn, pytest.raises(RLS):  # nor do signed-in users read invitation tokens
        conn.execute("SELECT token_hash FROM recorder.team_invitations")


def test_the_worker_role_sees_no_secret_and_no_other_team(db: TestDB) -> None:
    for column in CREDENTIALS:
        table, name = column.split(".")
        assert not db.scalar("SELECT has_column_privilege('recorder_worker', %s, %s, 'SELECT')",
                             (f"recorder.{table}", name)), column


def test_a_job_of_one_tenant_cannot_stop_the_queue(db: TestDB, make: Builder) -> None:
    """The claim reads nothing a tenant writes freely: a job a tenant made odd is claimed
    like any other, and the next one after it."""
    alice, bob = make.user(), make.user()
    odd = make.job(make.recording(alice), rows=1, concurrency=10, stop_on_error=True)
    normal = make.job(make.recording(bob))
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET ROLE recorder_worker")
        claimed = [conn.execute("SELECT id FROM recorder.claim_execution_job('vdi-1')").fetchone()[0]
                   for _ in range(2)]
    assert claimed == [odd, normal]
