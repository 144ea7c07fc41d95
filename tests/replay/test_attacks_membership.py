"""Attacks on membership and ownership (issue 11, items 3 and 4), as replay_app acting for the
attacker: adding someone to an organization without consent, rows created for someone else,
moving or publishing a colleague's recording, and deleting an organization to reach its
members' private recordings."""

from __future__ import annotations

import uuid

import psycopg
import pytest
from psycopg import errors

from pg import TestDB, concurrently, errors as failures

RLS = errors.InsufficientPrivilege
INVITE = "SELECT replay.invite_member(%s, %s)"
ACCEPT = "SELECT replay.accept_invitation(%s)"


def members(db: TestDB, org: uuid.UUID) -> dict[uuid.UUID, tuple]:
    return {r[0]: r[1:] for r in db.query("SELECT user_id, role::text, is_active, invited_by FROM"
                                          " replay.organization_members WHERE organization_id = %s", (org,))}


def invite(app, inviter: uuid.UUID, org: uuid.UUID, role: str = "member") -> str:
    with app.as_user(inviter) as conn:
        token = conn.execute(INVITE, (org, role)).fetchone()[0]
        conn.commit()
    return token


def test_nobody_is_made_a_member_without_consent(app, db: TestDB, world) -> None:
    with app.as_user(world.dave) as conn:  # mallory: her own organization, a victim's uuid from a public recording
        org = conn.execute("SELECT replay.create_organization('Trap', 'trap')").fetchone()[0]
        for statement in (
            "INSERT INTO replay.organization_members (organization_id, user_id, role, is_active)"
            " VALUES (%(org)s, %(victim)s, 'viewer', TRUE)",
            "UPDATE replay.organization_members SET user_id = %(victim)s WHERE organization_id = %(org)s",
            "UPDATE replay.organization_members SET organization_id = %(acme)s WHERE organization_id = %(org)s",
            "UPDATE replay.organization_members SET invited_by = %(victim)s WHERE organization_id = %(org)s",
        ):
            assert app.denied(conn, statement, {"org": org, "victim": world.carol, "acme": world.acme}) is RLS
        # so the victim's email and profile stay out of reach
        assert app.visible(conn, "users", [world.carol]) == set()
        conn.commit()
    assert set(members(db, org)) == {world.dave}


def test_an_invitation_is_accepted_once_by_the_invitee(app, db: TestDB, world) -> None:
    token = invite(app, world.alice, world.acme, "viewer")
    assert token.startswith("rpi_") and len(token) == 68
    with app.as_user(world.alice) as conn:  # nothing happens until someone accepts
        assert app.visible(conn, "users", [world.dave]) == set()
    with app.as_user(world.dave) as conn:
        assert conn.execute(ACCEPT, (token,)).fetchone() == (world.acme,)
        conn.commit()
    assert members(db, world.acme)[world.dave] == ("viewer", True, world.alice)
    with app.as_user(world.alice) as conn:  # now that he chose to join, alice sees him
        assert app.visible(conn, "users", [world.dave]) == {world.dave}
    with app.as_user(world.carol) as conn, pytest.raises(errors.NoDataFound):  # used
        conn.execute(ACCEPT, (token,))
    # an inactive member re-joins by accepting a new invitation
    late = invite(app, world.alice, world.acme, "member")
    with app.as_user(world.ian) as conn:
        conn.execute(ACCEPT, (late,))
        conn.commit()
    assert members(db, world.acme)[world.ian] == ("member", True, world.alice)


def test_who_may_invite_and_with_what(app, db: TestDB, world) -> None:
    db.execute("INSERT INTO replay.organization_members (organization_id, user_id, role) VALUES (%s, %s, 'admin')",
               (world.acme, world.dave))
    cases = [
        (world.alice, (world.acme, "owner"), None), (world.dave, (world.acme, "manager"), None),
        (world.dave, (world.acme, "owner"), RLS),  # an admin does not make owners
        (world.mona, (world.acme, "member"), RLS), (world.bob, (world.acme, "viewer"), RLS),
        (world.ian, (world.acme, "viewer"), RLS),  # inactive
        (world.carol, (world.acme, "viewer"), RLS), (None, (world.acme, "viewer"), RLS),
        (world.alice, (None, "viewer"), errors.NullValueNotAllowed),
        (world.alice, (world.acme, None), errors.NullValueNotAllowed),
        (world.alice, (world.acme, "emperor"), errors.InvalidTextRepresentation),
    ]
    for user, args, error in cases:
        with app.as_user(user) as conn:
            assert app.denied(conn, INVITE, args) is error, (user, args)
    valid = "SELECT replay.invite_member(%s, 'member', %s::interval)"
    with app.as_user(world.alice) as conn:
        for validity, error in (("0", errors.InvalidParameterValue), ("31 days", errors.InvalidParameterValue),
                                (None, errors.NullValueNotAllowed)):
            assert app.denied(conn, valid, (world.acme, validity)) is error
    token = invite(app, world.alice, world.acme)
    db.execute("UPDATE replay.organization_invitations SET created_at = now() - interval '8 days',"
               " expires_at = now() - interval '1 day'")
    for user, token_given, error in ((world.dave, token, errors.NoDataFound), (None, token, RLS),
                                     (world.dave, None, errors.NullValueNotAllowed),
                                     (world.dave, "", errors.InvalidParameterValue)):
        with app.as_user(user) as conn:
            assert app.denied(conn, ACCEPT, (token_given,)) is error


def test_pending_invitations_are_visible_and_revocable_by_owners_and_admins(app, db: TestDB, world) -> None:
    token = invite(app, world.alice, world.acme, "viewer")
    pending = "SELECT organization_id, role::text FROM replay.organization_invitations"
    with app.as_user(world.mona) as conn:  # a manager does not see them
        assert conn.execute(pending).fetchall() == []
    with app.as_user(world.alice) as conn:
        assert conn.execute(pending).fetchall() == [(world.acme, "viewer")]
        assert app.denied(conn, "SELECT token_hash FROM replay.organization_invitations") is RLS
        assert conn.execute("DELETE FROM replay.organization_invitations").rowcount == 1
        conn.commit()
    with app.as_user(world.dave) as conn, pytest.raises(errors.NoDataFound):
        conn.execute(ACCEPT, (token,))


def test_one_token_admits_one_user_under_contention(app, db: TestDB, make, world) -> None:
    token = invite(app, world.alice, world.acme)
    applicants = [make.user(f"applicant{i}") for i in range(6)]

    def accept(conn: psycopg.Connection, i: int) -> uuid.UUID:
        conn.execute("SET ROLE replay_app")
        conn.execute("SELECT set_config('app.user_id', %s, false)", (str(applicants[i]),))
        return conn.execute(ACCEPT, (token,)).fetchone()[0]

    results = concurrently(len(applicants), db.url, accept)
    assert [r for r in results if not isinstance(r, BaseException)] == [world.acme]
    assert all(isinstance(e, errors.NoDataFound) for e in failures(results))
    assert len(set(members(db, world.acme)) & set(applicants)) == 1


def test_no_row_is_created_for_someone_else(app, world) -> None:
    recording = ("INSERT INTO replay.recordings (user_id, organization_id, visibility, name, url)"
                 " VALUES (%s, %s, 'team', 'yours now', 'https://e.test/')")
    webhook = ("INSERT INTO replay.webhooks (user_id, organization_id, name, url, events)"
               " VALUES (%s, %s, 'hook', 'https://h.test/', '{recording_created}')")
    with app.as_user(world.mona) as conn:  # a manager of acme
        assert app.denied(conn, recording, (world.bob, world.acme)) is RLS
        # an outsider made owner of acme's webhook would read its deliveries (acme's events)
        assert app.denied(conn, webhook, (world.dave, world.acme)) is RLS
        assert app.denied(conn, webhook, (world.mona, world.acme)) is None


def test_only_the_owner_moves_or_publishes_a_recording(app, db: TestDB, make, world) -> None:
    db.execute("INSERT INTO replay.organization_members (organization_id, user_id, role) VALUES (%s, %s, 'manager')",
               (world.umbrella, world.mona))
    bobs = make.recording(world.bob, world.acme, "team")
    hook = make.webhook(world.bob, world.acme)
    placement = "SELECT user_id, organization_id, visibility::text FROM replay.recordings WHERE id = %s"
    before = db.query(placement, (bobs,))
    with app.as_user(world.mona) as conn:
        assert app.affected(conn, "UPDATE replay.recordings SET name = 'edited' WHERE id = %s", (bobs,)) == 1
        for change in ("organization_id = %(umbrella)s", "visibility = 'public'", "visibility = 'organization'"):
            assert app.denied(conn, f"UPDATE replay.recordings SET {change} WHERE id = %(id)s",
                              {"umbrella": world.umbrella, "id": bobs}) is RLS, change
        assert app.denied(conn, "UPDATE replay.webhooks SET organization_id = %s WHERE id = %s",
                          (world.umbrella, hook)) is RLS
        private = make.recording(world.bob)
        assert conn.execute("SELECT replay.recording_placement_unchanged(%s, NULL, 'private')",
                            (private,)).fetchone() == (False,)  # asks about nothing she may read
    assert db.query(placement, (bobs,)) == before
    with app.as_user(world.bob) as conn:
        assert app.affected(conn, "UPDATE replay.recordings SET visibility = 'public' WHERE id = %s", (bobs,)) == 1


def test_deleting_an_organization_keeps_its_members_recordings_private(app, db: TestDB, make, world) -> None:
    private = make.recording(world.bob, world.acme, "private", description="bob's notes")
    shared = make.recording(world.bob, world.acme, "team")
    session = make.session(shared, world.bob, organization_id=world.acme)
    with app.as_user(world.alice) as conn:  # the owner deletes acme
        assert app.visible(conn, "recordings", [private, shared]) == {shared}
        assert conn.execute("DELETE FROM replay.organizations WHERE id = %s", (world.acme,)).rowcount == 1
        conn.commit()
    assert db.query("SELECT id, organization_id FROM replay.recordings WHERE id = ANY(%s) ORDER BY id",
                    (sorted([private, shared]),)) == sorted([(private, None), (shared, None)])
    assert db.scalar("SELECT organization_id FROM replay.playback_sessions WHERE id = %s", (session,)) is None
    with app.as_user(world.alice) as conn:  # and nothing of bob's private recording reaches her audit log
        rows = conn.execute("SELECT resource_id FROM replay.audit_logs WHERE resource_type = 'recordings'").fetchall()
        assert (private,) not in rows
    # the change is audited, unattributed to a user who could not read the row
    assert db.query("SELECT action::text, user_id, details->>'actor' FROM replay.audit_logs WHERE resource_id = %s"
                    " ORDER BY created_at", (private,)) == [("create", None, None), ("update", None, str(world.alice))]
    with app.as_user(world.bob) as conn:
        assert app.visible(conn, "recordings", [private, shared]) == {private, shared}


def test_replaced_foreign_keys_are_validated(db: TestDB) -> None:
    rows = db.query("SELECT conname, confdeltype, convalidated FROM pg_constraint WHERE conname IN"
                    " ('recordings_organization_id_fkey', 'playback_sessions_organization_id_fkey') ORDER BY 1")
    assert rows == [("playback_sessions_organization_id_fkey", "n", True),
                    ("recordings_organization_id_fkey", "n", True)]
