"""Membership by consent in recorder teams (issue 11, item 4): nobody is added to a team, or
handed one, without accepting an invitation; invitations are one-time secrets."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors

from pg import TestDB, concurrently, errors as failures
from recorder.support import Builder, as_user, attempt, claims

RLS = errors.InsufficientPrivilege
INVITE = "SELECT recorder.invite_to_team(%s, %s)"
ACCEPT = "SELECT recorder.accept_team_invitation(%s)"


def members(make: Builder, team: uuid.UUID) -> dict[uuid.UUID, str]:
    return dict(make.conn.execute("SELECT user_id, role FROM recorder.team_members WHERE team_id = %s",
                                  (team,)).fetchall())


def owner_of(make: Builder, team: uuid.UUID) -> uuid.UUID:
    return make.conn.execute("SELECT owner_id FROM recorder.teams WHERE id = %s", (team,)).fetchone()[0]


def invite(db: TestDB, owner: uuid.UUID, team: uuid.UUID, role: str = "member") -> str:
    with as_user(db, owner) as conn:
        token = conn.execute(INVITE, (team, role)).fetchone()[0]
        conn.commit()
    return token


def test_an_owner_cannot_add_or_crown_anyone_directly(db: TestDB, make: Builder) -> None:
    mallory, victim = make.user(), make.user()
    team = make.team(mallory)
    victim_team = make.team(victim)
    with as_user(db, mallory) as conn:
        with pytest.raises(RLS):  # the victim's uuid leaks easily; adding them needs their consent
            attempt(conn, "INSERT INTO recorder.team_members (team_id, user_id, role) VALUES (%s, %s, 'viewer')",
                    (team, victim))
        with pytest.raises(RLS):  # handing the team (and its deletion cascade) to the victim
            attempt(conn, "UPDATE recorder.teams SET owner_id = %s WHERE id = %s", (victim, team))
        with pytest.raises(RLS):  # inviting into someone else's team
            attempt(conn, INVITE, (victim_team, "member"))
    assert members(make, team) == {} and owner_of(make, team) == mallory
    with as_user(db, victim) as conn:
        assert conn.execute("SELECT id FROM recorder.teams").fetchall() == [(victim_team,)]


def test_an_invitation_is_accepted_once_before_it_expires(db: TestDB, make: Builder) -> None:
    alice, bob, carol = make.user(), make.user(), make.user()
    team = make.team(alice)
    token = invite(db, alice, team, "viewer")
    assert token.startswith("rti_") and len(token) == 68
    with as_user(db, bob) as conn:
        assert conn.execute(ACCEPT, (token,)).fetchone() == (team,)
        conn.commit()
    assert members(make, team) == {bob: "viewer"}
    with as_user(db, carol) as conn, pytest.raises(errors.NoDataFound):  # used
        conn.execute(ACCEPT, (token,))
    late = invite(db, alice, team)
    make.conn.execute("UPDATE recorder.team_invitations SET created_at = now() - interval '8 days',"
                      " expires_at = now() - interval '1 day'")
    with as_user(db, carol) as conn, pytest.raises(errors.NoDataFound):  # expired
        conn.execute(ACCEPT, (late,))
    with as_user(db, carol) as conn, pytest.raises(errors.NoDataFound):  # made up
        conn.execute(ACCEPT, ("rti_" + "0" * 64,))
    assert members(make, team) == {bob: "viewer"}


def test_accepting_an_owner_invitation_hands_the_team_over(db: TestDB, make: Builder) -> None:
    alice, bob = make.user(), make.user()
    team = make.team(alice)
    token = invite(db, alice, team, "owner")
    assert owner_of(make, team) == alice  # nothing changes until bob accepts
    with as_user(db, bob) as conn:
        conn.execute(ACCEPT, (token,))
        conn.commit()
    assert owner_of(make, team) == bob
    assert members(make, team) == {alice: "admin", bob: "owner"}
    with as_user(db, alice) as conn, pytest.raises(RLS):  # no longer hers to give away
        conn.execute(INVITE, (team, "member"))


@pytest.mark.parametrize("args, error", [
    (("team", None), errors.NullValueNotAllowed), ((None, "member"), errors.NullValueNotAllowed),
    (("team", "superuser"), errors.InvalidParameterValue),
])
def test_invite_refuses_bad_arguments(db: TestDB, make: Builder, args: tuple, error: type[Exception]) -> None:
    alice = make.user()
    team = make.team(alice)
    with as_user(db, alice) as conn, pytest.raises(error):
        conn.execute(INVITE, tuple(team if a == "team" else a for a in args))


def test_invitation_validity_and_callers(db: TestDB, make: Builder) -> None:
    alice, bob = make.user(), make.user()
    team = make.team(alice)
    make.member(team, bob, "admin")
    valid = "SELECT recorder.invite_to_team(%s, 'member', %s::interval)"
    with as_user(db, alice) as conn:
        for validity in ("0", "-1 day", "31 days"):
            with pytest.raises(errors.InvalidParameterValue), conn.transaction():
                conn.execute(valid, (team, validity))
        with pytest.raises(errors.NullValueNotAllowed), conn.transaction():
            conn.execute(valid, (team, None))
    with as_user(db, bob) as conn, pytest.raises(RLS):  # an admin is not the owner
        conn.execute(INVITE, (team, "viewer"))
    for role, settings in (("authenticated", {}), ("anon", claims(alice)), ("recorder_app", claims(alice))):
        with db.as_role(role, settings) as conn, pytest.raises(RLS):
            conn.execute(INVITE, (team, "viewer"))
    token = invite(db, alice, team)
    with db.as_role("authenticated") as conn, pytest.raises(RLS):  # nobody signed in
        conn.execute(ACCEPT, (token,))
    with as_user(db, bob) as conn:
        for bad, error in ((None, errors.NullValueNotAllowed), ("", errors.InvalidParameterValue)):
            with pytest.raises(error), conn.transaction():
                conn.execute(ACCEPT, (bad,))
    stranger = uuid.uuid4()  # signed in to Supabase, but no recorder account yet
    with db.as_role("authenticated", claims(stranger)) as conn, pytest.raises(errors.NoDataFound):
        conn.execute(ACCEPT, (token,))


def test_owners_see_and_revoke_pending_invitations_but_never_their_tokens(db: TestDB, make: Builder) -> None:
    alice, bob, carol = make.user(), make.user(), make.user()
    team = make.team(alice)
    make.member(team, bob, "admin")
    token = invite(db, alice, team, "viewer")
    pending = "SELECT role, invited_by FROM recorder.team_invitations"
    with as_user(db, bob) as conn:  # an admin does not see them
        assert conn.execute(pending).fetchall() == []
        assert attempt(conn, "DELETE FROM recorder.team_invitations") == 0
    with as_user(db, alice) as conn:
        assert conn.execute(pending).fetchall() == [("viewer", alice)]
        with pytest.raises(RLS), conn.transaction():
            conn.execute("SELECT token_hash FROM recorder.team_invitations")
        assert conn.execute("DELETE FROM recorder.team_invitations").rowcount == 1
        conn.commit()
    with as_user(db, carol) as conn, pytest.raises(errors.NoDataFound):
        conn.execute(ACCEPT, (token,))
    # only a hash is stored
    assert make.conn.execute("SELECT count(*) FROM recorder.team_invitations").fetchone() == (0,)


def test_one_token_admits_one_user_under_contention(db: TestDB, make: Builder) -> None:
    alice = make.user()
    team = make.team(alice)
    token = invite(db, alice, team)
    applicants = [make.user() for _ in range(6)]

    def accept(conn: psycopg.Connection, i: int) -> uuid.UUID:
        conn.execute("SET ROLE authenticated")
        conn.execute("SELECT set_config('request.jwt.claims', %s, false)",
                     (claims(applicants[i])["request.jwt.claims"],))
        return conn.execute(ACCEPT, (token,)).fetchone()[0]

    results = concurrently(len(applicants), db.url, accept)
    won = [r for r in results if not isinstance(r, BaseException)]
    assert won == [team]
    assert all(isinstance(e, errors.NoDataFound) for e in failures(results))
    assert len(members(make, team)) == 1
