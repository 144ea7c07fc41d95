"""Row level security, phase 3: two users and a team. alice owns the team and shares a
recording with it; bob's role in the team (viewer, member, admin, or none) decides what he
may read and write, table by table and command by command."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest

from pg import TestDB
from recorder.support import Builder, as_user, attempt

RLS = psycopg.errors.InsufficientPrivilege


@dataclass
class Team:
    alice: uuid.UUID
    bob: uuid.UUID
    team: uuid.UUID
    shared: uuid.UUID      # alice's recording, visibility team
    private: uuid.UUID     # alice's recording in the team, visibility private
    job: uuid.UUID         # alice's job on the shared recording, in the team's context
    result: uuid.UUID
    log: uuid.UUID
    healing: uuid.UUID
    membership: uuid.UUID  # bob's


@pytest.fixture
def t(make: Builder) -> Team:
    alice, bob = make.user(), make.user()
    team = make.team(alice)
    make.member(team, alice, "owner")
    shared = make.recording(alice, team_id=team, visibility="team")
    private = make.recording(alice, team_id=team)
    job = make.job(shared, team_id=team)
    return Team(alice, bob, team, shared, private, job, make.result(job, 0), make.log(job),
                make.healing(shared), make.member(team, bob, "viewer"))


def role(make: Builder, t: Team, name: str | None) -> None:
    if name is None:
        make.conn.execute("DELETE FROM recorder.team_members WHERE id = %s", (t.membership,))
    else:
        make.conn.execute("UPDATE recorder.team_members SET role = %s WHERE id = %s", (name, t.membership))


def ids(conn: psycopg.Connection, table: str) -> set:
    return {r[0] for r in conn.execute(f"SELECT id FROM recorder.{table}")}


NEW_RECORDING = ("INSERT INTO recorder.recordings (user_id, name, starting_url, team_id, visibility)"
                 " VALUES (%s, 'Mine', 'https://x.test', %s, 'team')")
NEW_JOB = ("INSERT INTO recorder.execution_jobs (recording_id, user_id, team_id, csv_data, field_mapping,"
           " total_rows) VALUES (%s, %s, %s, '[{}]', '{}', 1)")
NEW_HEALING = ("INSERT INTO recorder.healing_logs (recording_id, step_number, original_selector, success)"
               " VALUES (%s, 2, '#b', true)")


@pytest.mark.parametrize("bob_role", ["viewer", "member", "admin"])
def test_members_read_what_the_team_shares(db: TestDB, make: Builder, t: Team, bob_role: str) -> None:
    role(make, t, bob_role)
    with as_user(db, t.bob) as conn:
        assert ids(conn, "recordings") == {t.shared}
        assert ids(conn, "execution_jobs") == {t.job}
        assert ids(conn, "execution_results") == {t.result}
        assert ids(conn, "execution_logs") == {t.log}
        assert ids(conn, "healing_logs") == {t.healing}
        assert ids(conn, "teams") == {t.team}
        assert len(ids(conn, "team_members")) == 2
        assert ids(conn, "users") == {t.bob}  # profiles stay private
        # results and logs stay the job owner's (or the workers') to write
        assert attempt(conn, "UPDATE recorder.execution_results SET status = 'failed' WHERE id = %s",
                       (t.result,)) == 0
        assert attempt(conn, "DELETE FROM recorder.execution_logs WHERE id = %s", (t.log,)) == 0


def test_a_viewer_only_reads(db: TestDB, t: Team) -> None:
    with as_user(db, t.bob) as conn:
        assert attempt(conn, "UPDATE recorder.recordings SET name = 'x' WHERE id = %s", (t.shared,)) == 0
        assert attempt(conn, "DELETE FROM recorder.recordings WHERE id = %s", (t.shared,)) == 0
        for statement, params in ((NEW_RECORDING, (t.bob, t.team)),
                                  (NEW_JOB, (t.shared, t.bob, None)),
                                  (NEW_HEALING, (t.shared,))):
            with pytest.raises(RLS):
                attempt(conn, statement, params)
        assert attempt(conn, "UPDATE recorder.execution_jobs SET status = 'cancelled' WHERE id = %s", (t.job,)) == 0


def test_a_member_edits_creates_and_runs(db: TestDB, make: Builder, t: Team) -> None:
    role(make, t, "member")
    with as_user(db, t.bob) as conn:
        assert attempt(conn, "UPDATE recorder.recordings SET name = 'x', steps = steps WHERE id = %s",
                       (t.shared,)) == 1
        with pytest.raises(RLS):  # hiding it from the team, or moving it out, is for its owner
            attempt(conn, "UPDATE recorder.recordings SET visibility = 'private' WHERE id = %s", (t.shared,))
        assert attempt(conn, "DELETE FROM recorder.recordings WHERE id = %s", (t.shared,)) == 0
        assert attempt(conn, NEW_RECORDING, (t.bob, t.team)) == 1
        assert attempt(conn, NEW_JOB, (t.shared, t.bob, t.team)) == 1
        with pytest.raises(RLS):  # a job is always its runner's
            attempt(conn, NEW_JOB, (t.shared, t.alice, t.team))
        with pytest.raises(RLS):  # a private recording is not the team's
            attempt(conn, NEW_JOB, (t.private, t.bob, t.team))
        assert attempt(conn, NEW_HEALING, (t.shared,)) == 1
        assert attempt(conn, "UPDATE recorder.execution_jobs SET status = 'cancelled' WHERE id = %s", (t.job,)) == 0
        assert attempt(conn, "DELETE FROM recorder.healing_logs WHERE id = %s", (t.healing,)) == 1


def test_an_admin_also_deletes_and_manages_jobs(db: TestDB, make: Builder, t: Team) -> None:
    role(make, t, "admin")
    with as_user(db, t.bob) as conn:
        assert attempt(conn, "UPDATE recorder.execution_jobs SET status = 'cancelled' WHERE id = %s", (t.job,)) == 1
        assert attempt(conn, "DELETE FROM recorder.execution_jobs WHERE id = %s", (t.job,)) == 1
        assert attempt(conn, "DELETE FROM recorder.recordings WHERE id = %s", (t.shared,)) == 1
        assert attempt(conn, "DELETE FROM recorder.recordings WHERE id = %s", (t.private,)) == 0
        # the team itself and its members are the owner's
        assert attempt(conn, "UPDATE recorder.teams SET name = 'x' WHERE id = %s", (t.team,)) == 0
        with pytest.raises(RLS):
            attempt(conn, "INSERT INTO recorder.team_members (team_id, user_id, role) VALUES (%s, %s, 'viewer')",
                    (t.team, make.user()))


def test_only_the_owner_manages_the_team_and_its_members(db: TestDB, make: Builder, t: Team) -> None:
    carol = make.user()
    invite = "SELECT recorder.invite_to_team(%s, 'member')"
    for bob_role in ("viewer", "member", "admin"):
        role(make, t, bob_role)
        with as_user(db, t.bob) as conn:
            assert attempt(conn, "UPDATE recorder.team_members SET role = 'owner' WHERE id = %s",
                           (t.membership,)) == 0
            assert attempt(conn, "DELETE FROM recorder.teams WHERE id = %s", (t.team,)) == 0
            with pytest.raises(RLS):
                attempt(conn, invite, (t.team,))
    with as_user(db, t.alice) as conn:
        assert attempt(conn, "UPDATE recorder.teams SET name = 'Renamed' WHERE id = %s", (t.team,)) == 1
        token = conn.execute(invite, (t.team,)).fetchone()[0]
        conn.commit()
    with as_user(db, carol) as conn:  # members join by accepting (recorder/test_attacks_membership.py)
        assert conn.execute("SELECT recorder.accept_team_invitation(%s)", (token,)).fetchone() == (t.team,)
        conn.commit()
    with as_user(db, t.alice) as conn:
        assert attempt(conn, "UPDATE recorder.team_members SET role = 'admin' WHERE id = %s", (t.membership,)) == 1
        assert attempt(conn, "DELETE FROM recorder.team_members WHERE id = %s", (t.membership,)) == 1
        assert attempt(conn, "DELETE FROM recorder.teams WHERE id = %s", (t.team,)) == 1


def test_anyone_may_leave_and_then_sees_nothing(db: TestDB, t: Team) -> None:
    with as_user(db, t.bob) as conn:
        assert conn.execute("DELETE FROM recorder.team_members WHERE id = %s", (t.membership,)).rowcount == 1
        for table in ("recordings", "execution_jobs", "execution_results", "execution_logs", "healing_logs",
                      "teams", "team_members"):
            assert ids(conn, table) == set(), table


def test_outsiders_cannot_use_a_team(db: TestDB, make: Builder, t: Team) -> None:
    role(make, t, None)
    own = make.recording(t.bob)
    with as_user(db, t.bob) as conn:
        with pytest.raises(RLS):
            attempt(conn, NEW_RECORDING, (t.bob, t.team))
        with pytest.raises(RLS):
            attempt(conn, "UPDATE recorder.recordings SET team_id = %s, visibility = 'team' WHERE id = %s",
                    (t.team, own))
        with pytest.raises(RLS):
            attempt(conn, "UPDATE recorder.users SET default_team_id = %s WHERE id = %s", (t.team, t.bob))
        with pytest.raises(RLS):
            attempt(conn, "INSERT INTO recorder.team_members (team_id, user_id, role) VALUES (%s, %s, 'owner')",
                    (t.team, t.bob))
        with pytest.raises(RLS):
            attempt(conn, "INSERT INTO recorder.teams (name, slug, owner_id) VALUES ('x', 'x', %s)", (t.alice,))
        assert attempt(conn, "INSERT INTO recorder.teams (name, slug, owner_id) VALUES ('B', 'bobs', %s)"
                       " RETURNING id", (t.bob,)) == 1


def test_members_share_their_own_recordings_and_pick_a_default_team(db: TestDB, make: Builder, t: Team) -> None:
    role(make, t, "member")
    own = make.recording(t.bob)
    with as_user(db, t.bob) as conn:
        assert attempt(conn, "UPDATE recorder.users SET default_team_id = %s WHERE id = %s", (t.team, t.bob)) == 1
        conn.execute("UPDATE recorder.recordings SET team_id = %s, visibility = 'team' WHERE id = %s", (t.team, own))
    # alice, the owner, now sees it; deleting the team unshares it (team_id SET NULL)
    make.conn.execute("UPDATE recorder.recordings SET team_id = %s, visibility = 'team' WHERE id = %s",
                      (t.team, own))
    with as_user(db, t.alice) as conn:
        assert own in ids(conn, "recordings")
        conn.execute("DELETE FROM recorder.teams WHERE id = %s", (t.team,))
        assert own not in ids(conn, "recordings")
