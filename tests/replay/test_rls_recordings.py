"""Tenant isolation of recordings and what follows them (steps, playback sessions, step
results, files): for each table, cross-tenant SELECT/INSERT/UPDATE/DELETE is denied and
own and shared access works."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest
from psycopg import errors

from pg import TestDB

RLS = errors.InsufficientPrivilege  # new row violates row-level security policy (42501)


@dataclass
class Recordings:
    a_private: uuid.UUID  # alice, personal
    a_team: uuid.UUID  # alice, acme, team
    a_org: uuid.UUID  # alice, acme, organization
    b_team: uuid.UUID  # bob, acme, team
    b_private: uuid.UUID  # bob, acme, private
    c_private: uuid.UUID  # carol, umbrella, private
    c_public: uuid.UUID  # carol, umbrella, public
    c_team: uuid.UUID  # carol, umbrella, team
    a_deleted: uuid.UUID  # alice, public, soft-deleted

    def all(self) -> list[uuid.UUID]:
        return list(vars(self).values())


@pytest.fixture
def rec(make, world) -> Recordings:
    w = world
    return Recordings(
        a_private=make.recording(w.alice), a_team=make.recording(w.alice, w.acme, "team"),
        a_org=make.recording(w.alice, w.acme, "organization"), b_team=make.recording(w.bob, w.acme, "team"),
        b_private=make.recording(w.bob, w.acme, "private"), c_private=make.recording(w.carol, w.umbrella),
        c_public=make.recording(w.carol, w.umbrella, "public"), c_team=make.recording(w.carol, w.umbrella, "team"),
        a_deleted=make.recording(w.alice, None, "public", deleted_at="2026-01-01"),
    )


def test_who_reads_which_recording(app, world, rec: Recordings) -> None:
    r = rec
    expected = {
        world.alice: {r.a_private, r.a_team, r.a_org, r.b_team, r.c_public, r.a_deleted},
        world.bob: {r.b_team, r.b_private, r.a_team, r.a_org, r.c_public},
        world.vic: {r.a_team, r.a_org, r.b_team, r.c_public},  # viewer: reads the organization's
        world.ian: {r.c_public},  # inactive membership: nothing of acme
        world.carol: {r.c_private, r.c_public, r.c_team},
        world.dave: {r.c_public},
        None: set(),  # no acting user: nothing, not even public
    }
    for user, ids in expected.items():
        with app.as_user(user) as conn:
            assert app.visible(conn, "recordings", r.all()) == ids, user
            # the view follows the table (security_invoker)
            assert app.visible(conn, "recording_summaries", r.all()) == ids - {r.a_deleted}, user


def test_who_writes_which_recording(app, world, rec: Recordings) -> None:
    r = rec
    writable = {
        world.alice: {r.a_private, r.a_team, r.a_org, r.b_team, r.a_deleted},  # acme owner: not b_private
        world.mona: {r.a_team, r.a_org, r.b_team},  # acme manager
        world.bob: {r.b_team, r.b_private},  # member: own only
        world.vic: set(),
        world.carol: {r.c_private, r.c_public, r.c_team},
        world.dave: set(),
    }
    for user, ids in writable.items():
        with app.as_user(user) as conn:
            updated = {row[0] for row in conn.execute(
                "UPDATE replay.recordings SET description = 'x' WHERE id = ANY(%s) RETURNING id", (r.all(),))}
            assert updated == ids, user
            deleted = {row[0] for row in conn.execute(
                "DELETE FROM replay.recordings WHERE id = ANY(%s) RETURNING id", (r.all(),))}
            assert deleted == ids, user


def test_who_creates_which_recording(app, world) -> None:
    insert = ("INSERT INTO replay.recordings (user_id, organization_id, visibility, name, url)"
              " VALUES (%s, %s, %s, 'New one', 'https://e.test/')")
    w = world
    cases = [
        (w.bob, (w.bob, w.acme, "team"), None),
        (w.bob, (w.bob, None, "private"), None),
        (w.vic, (w.vic, None, "private"), None),
        (w.vic, (w.vic, w.acme, "team"), RLS),  # viewers cannot create in the organization
        (w.ian, (w.ian, w.acme, "team"), RLS),  # inactive member
        (w.carol, (w.carol, w.acme, "public"), RLS),  # not a member of acme
        (w.dave, (w.alice, None, "private"), RLS),  # for someone else
        (w.mona, (w.bob, w.acme, "team"), RLS),  # a manager, for a member: not without consent (issue 11)
        (w.mona, (w.mona, w.acme, "team"), None),
        (None, (w.dave, None, "private"), RLS),
    ]
    for user, values, error in cases:
        with app.as_user(user) as conn:
            assert app.denied(conn, insert, values) is error, (user, values)


def test_a_recording_cannot_be_moved_out_of_reach(app, world, rec: Recordings) -> None:
    with app.as_user(world.bob) as conn:
        assert app.denied(conn, "UPDATE replay.recordings SET organization_id = %s WHERE id = %s",
                          (world.umbrella, rec.b_private)) is RLS
        assert app.denied(conn, "UPDATE replay.recordings SET user_id = %s WHERE id = %s",
                          (world.alice, rec.b_private)) is RLS
    with app.as_user(world.mona) as conn:  # a manager cannot make a member's recording private
        assert app.denied(conn, "UPDATE replay.recordings SET visibility = 'private' WHERE id = %s",
                          (rec.b_team,)) is RLS


def test_steps_follow_their_recording(app, make, world, rec: Recordings) -> None:
    steps = {r: make.step(r, 1) for r in rec.all()}
    with app.as_user(world.bob) as conn:
        seen = app.visible(conn, "recording_steps", list(steps.values()))
        assert seen == {steps[r] for r in (rec.b_team, rec.b_private, rec.a_team, rec.a_org, rec.c_public)}
        insert = ("INSERT INTO replay.recording_steps (recording_id, step_number, timestamp_ms, interaction_type,"
                  " element_selector) VALUES (%s, 2, 5, 'click', '{}')")
        assert app.denied(conn, insert, (rec.b_team,)) is None
        assert app.denied(conn, insert, (rec.c_public,)) is RLS  # readable, not writable
        assert app.denied(conn, insert, (rec.a_team,)) is RLS
        assert app.affected(conn, "UPDATE replay.recording_steps SET timestamp_ms = 9 WHERE id = ANY(%s)",
                            (list(steps.values()),)) == 2  # bob's two recordings
        assert app.affected(conn, "DELETE FROM replay.recording_steps WHERE recording_id = %s",
                            (rec.c_public,)) == 0
    with app.as_user(world.mona) as conn:  # the manager writes the organization's shared ones
        assert app.affected(conn, "DELETE FROM replay.recording_steps WHERE id = ANY(%s)",
                            (list(steps.values()),)) == 3


def test_playback_sessions_belong_to_the_runner_and_the_recordings_writers(app, make, world, rec) -> None:
    bob_on_public = make.session(rec.c_public, world.bob)
    alice_on_bob = make.session(rec.b_team, world.alice)
    carol_own = make.session(rec.c_private, world.carol)
    ids = [bob_on_public, alice_on_bob, carol_own]
    expected = {
        world.bob: {bob_on_public, alice_on_bob},  # runner; owner of b_team
        world.carol: {bob_on_public, carol_own},  # owner of the recordings
        world.alice: {alice_on_bob},  # runner (and acme owner: b_team is shared)
        world.mona: {alice_on_bob},  # manager of acme: writes b_team
        world.vic: set(),  # a viewer may read b_team, not the runs of others
        world.dave: set(),
    }
    for user, seen in expected.items():
        with app.as_user(user) as conn:
            assert app.visible(conn, "playback_sessions", ids) == seen, user
            assert app.affected(conn, "UPDATE replay.playback_sessions SET current_step = 1 WHERE id = ANY(%s)",
                                (ids,)) == len(seen), user
            assert app.affected(conn, "DELETE FROM replay.playback_sessions WHERE id = ANY(%s)",
                                (ids,)) == len(seen), user
    insert = ("INSERT INTO replay.playback_sessions (recording_id, user_id, organization_id, total_steps, environment)"
              " VALUES (%s, %s, %s, 1, '{}')")
    with app.as_user(world.dave) as conn:
        assert app.denied(conn, insert, (rec.c_public, world.dave, None)) is None  # public: anyone may replay
        assert app.denied(conn, insert, (rec.b_team, world.dave, None)) is RLS  # cannot read it
        assert app.denied(conn, insert, (rec.c_public, world.bob, None)) is RLS  # as someone else
        assert app.denied(conn, insert, (rec.c_public, world.dave, world.umbrella)) is RLS  # not a member
    with app.as_user(world.vic) as conn:
        assert app.denied(conn, insert, (rec.a_team, world.vic, world.acme)) is None


def test_step_results_and_files_follow_their_session_or_recording(app, make, world, rec) -> None:
    bob_session = make.session(rec.c_public, world.bob)
    carol_session = make.session(rec.c_private, world.carol)
    results = {s: make.result(s, 1) for s in (bob_session, carol_session)}
    files = {
        "bob_session": make.file(rec.c_public, bob_session),
        "carol_session": make.file(None, carol_session),
        "public_recording": make.file(rec.c_public),
        "team_recording": make.file(rec.b_team),
        "private_recording": make.file(rec.c_private),
    }
    with app.as_user(world.bob) as conn:
        assert app.visible(conn, "playback_step_results", list(results.values())) == {results[bob_session]}
        assert app.visible(conn, "file_storage", list(files.values())) == {
            files["bob_session"], files["public_recording"], files["team_recording"]}
        result = "INSERT INTO replay.playback_step_results (session_id, step_number, status) VALUES (%s, 2, 'failed')"
        assert app.denied(conn, result, (bob_session,)) is None
        assert app.denied(conn, result, (carol_session,)) is RLS
        assert app.affected(conn, "UPDATE replay.playback_step_results SET retry_count = 1 WHERE id = ANY(%s)",
                            (list(results.values()),)) == 1
        assert app.affected(conn, "DELETE FROM replay.playback_step_results WHERE id = ANY(%s)",
                            (list(results.values()),)) == 1
        file = ("INSERT INTO replay.file_storage (recording_id, session_id, file_type, file_name, file_path,"
                " file_size_bytes, checksum, storage_provider, storage_key)"
                " VALUES (%s, %s, 'log', 'l', '/l', 1, 'c', 'local', 'k')")
        assert app.denied(conn, file, (None, bob_session)) is None
        assert app.denied(conn, file, (rec.b_team, None)) is None
        assert app.denied(conn, file, (rec.c_public, None)) is RLS  # readable recording, not writable
        assert app.denied(conn, file, (None, carol_session)) is RLS
        assert app.denied(conn, file, (rec.c_private, bob_session)) is RLS  # pointing at a hidden recording
        # files of a public recording are readable (needed to replay it) but not writable
        assert app.affected(conn, "UPDATE replay.file_storage SET mime_type = 'x' WHERE id = ANY(%s)",
                            (list(files.values()),)) == 2
        assert app.affected(conn, "DELETE FROM replay.file_storage WHERE id = ANY(%s)",
                            (list(files.values()),)) == 2
    with app.as_user(world.carol) as conn:  # the recording's owner sees the runs of others too
        assert app.visible(conn, "playback_step_results", list(results.values())) == set(results.values())


def test_step_stats_and_views_through_row_level_security(app, make, world, rec) -> None:
    make.session(rec.b_team, world.bob, status="running", started_at="now")
    with app.as_user(world.bob) as conn:
        assert conn.execute("SELECT count(*) FROM replay.active_playback_sessions").fetchone() == (1,)
        names = {row[0] for row in conn.execute("SELECT name FROM replay.user_activity_summaries")}
        assert names == {"alice", "bob", "vic", "mona"}  # active co-members of acme
    with app.as_user(world.dave) as conn:
        assert conn.execute("SELECT count(*) FROM replay.active_playback_sessions").fetchone() == (0,)
        assert [row[0] for row in conn.execute("SELECT name FROM replay.user_activity_summaries")] == ["dave"]


def test_owner_role_bypasses_row_level_security(db: TestDB, world, rec) -> None:
    with db.as_role("schema_tool_owner") as conn:
        assert conn.execute("SELECT count(*) FROM replay.recordings").fetchone() == (len(rec.all()),)
