"""Row level security, phase 1: two users, every table, every command, as role authenticated
with request.jwt.claims set by set_config(..., true). Plus anon, service_role, recorder_app."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import psycopg
import pytest

from pg import TestDB
from recorder.support import Builder, as_user, attempt, claims

RLS = psycopg.errors.InsufficientPrivilege  # 42501: a policy's WITH CHECK, or a missing privilege
TABLES = ["users", "recordings", "execution_jobs", "execution_results", "execution_logs", "healing_logs"]


@dataclass
class Owned:
    user: uuid.UUID
    recording: uuid.UUID
    job: uuid.UUID
    result: uuid.UUID
    log: uuid.UUID
    healing: uuid.UUID

    def id_in(self, table: str) -> uuid.UUID:
        return {"users": self.user, "recordings": self.recording, "execution_jobs": self.job,
                "execution_results": self.result, "execution_logs": self.log, "healing_logs": self.healing}[table]


def owned(make: Builder) -> Owned:
    user = make.user()
    rec = make.recording(user)
    job = make.job(rec, rows=3)
    return Owned(user, rec, job, make.result(job, 0), make.log(job), make.healing(rec, execution_job_id=job))


@pytest.fixture
def two(make: Builder) -> tuple[Owned, Owned]:
    return owned(make), owned(make)


def test_rls_is_enabled_on_every_table_and_partition(db: TestDB) -> None:
    rows = db.query("SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'recorder'::regnamespace"
                    " AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity")
    assert rows == []


def test_each_user_sees_only_their_own_rows(db: TestDB, two: tuple[Owned, Owned]) -> None:
    for me in two:
        with as_user(db, me.user) as conn:
            for table in TABLES:
                seen = {r[0] for r in conn.execute(f"SELECT id FROM recorder.{table}")}
                assert seen == {me.id_in(table)}, table


def test_without_claims_nobody_sees_anything(db: TestDB, two: tuple[Owned, Owned]) -> None:
    with db.as_role("authenticated") as conn:
        for table in TABLES:
            assert conn.execute(f"SELECT count(*) FROM recorder.{table}").fetchone()[0] == 0, table
    with db.as_role("authenticated", {"request.jwt.claims": ""}) as conn:
        assert conn.execute("SELECT count(*) FROM recorder.recordings").fetchone()[0] == 0


def test_users_rows(db: TestDB, make: Builder, two: tuple[Owned, Owned]) -> None:
    alice, bob = two
    carol = uuid.uuid4()
    make.conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, 'carol@example.test')", (carol,))
    insert = "INSERT INTO recorder.users (id, email) VALUES (%s, 'carol@example.test')"
    with as_user(db, alice.user) as conn:
        with pytest.raises(RLS):
            attempt(conn, insert, (carol,))
        assert attempt(conn, "UPDATE recorder.users SET preferences = '{}' WHERE id = %s", (alice.user,)) == 1
        assert attempt(conn, "UPDATE recorder.users SET preferences = '{}' WHERE id = %s", (bob.user,)) == 0
        with pytest.raises(RLS):  # the tier is the platform's to set
            attempt(conn, "UPDATE recorder.users SET tier = 'enterprise' WHERE id = %s", (alice.user,))
        with pytest.raises(RLS):  # accounts go with auth.users
            attempt(conn, "DELETE FROM recorder.users WHERE id = %s", (alice.user,))
    with as_user(db, carol) as conn:
        assert attempt(conn, insert + " RETURNING tier", (carol,)) == 1


def test_recordings(db: TestDB, two: tuple[Owned, Owned]) -> None:
    alice, bob = two
    insert = "INSERT INTO recorder.recordings (user_id, name, starting_url) VALUES (%s, 'New', 'https://x.test')"
    with as_user(db, alice.user) as conn:
        assert attempt(conn, insert + " RETURNING id", (alice.user,)) == 1
        with pytest.raises(RLS):
            attempt(conn, insert, (bob.user,))
        for rec, expected in ((alice.recording, 1), (bob.recording, 0)):
            assert attempt(conn, "UPDATE recorder.recordings SET name = 'x' WHERE id = %s", (rec,)) == expected
            assert attempt(conn, "DELETE FROM recorder.recordings WHERE id = %s", (rec,)) == expected
        with pytest.raises(RLS):  # ownership is not transferable
            attempt(conn, "UPDATE recorder.recordings SET user_id = %s WHERE id = %s", (bob.user, alice.recording))


def test_execution_jobs(db: TestDB, two: tuple[Owned, Owned]) -> None:
    alice, bob = two
    insert = ("INSERT INTO recorder.execution_jobs (recording_id, user_id, csv_data, field_mapping, total_rows)"
              " VALUES (%s, %s, '[{\"email\": \"a@b.c\"}]', '{}', 1)")
    with as_user(db, alice.user) as conn:
        assert attempt(conn, insert, (alice.recording, alice.user)) == 1
        with pytest.raises(RLS):  # on someone else's recording
            attempt(conn, insert, (bob.recording, alice.user))
        with pytest.raises(RLS):
            attempt(conn, insert, (bob.recording, bob.user))
        for job, expected in ((alice.job, 1), (bob.job, 0)):
            assert attempt(conn, "UPDATE recorder.execution_jobs SET status = 'cancelled' WHERE id = %s",
                           (job,)) == expected
            assert attempt(conn, "DELETE FROM recorder.execution_jobs WHERE id = %s", (job,)) == expected
        with pytest.raises(RLS):  # counters and worker columns are the database's
            attempt(conn, "UPDATE recorder.execution_jobs SET completed_rows = 3 WHERE id = %s", (alice.job,))


def test_results_follow_their_job(db: TestDB, make: Builder, two: tuple[Owned, Owned]) -> None:
    alice, bob = two
    insert = ("INSERT INTO recorder.execution_results (execution_job_id, row_index, row_data, status)"
              " VALUES (%s, 1, '{}', 'failed')")
    with as_user(db, alice.user) as conn:
        assert attempt(conn, insert, (alice.job,)) == 1
        with pytest.raises(RLS):
            attempt(conn, insert, (bob.job,))
        # her own result moves her job's counters, which she may not write herself
        conn.execute(insert, (alice.job,))
        assert conn.execute("SELECT completed_rows, failed_rows FROM recorder.execution_jobs WHERE id = %s",
                            (alice.job,)).fetchone() == (2, 1)
        for result, expected in ((alice.result, 1), (bob.result, 0)):
            assert attempt(conn, "UPDATE recorder.execution_results SET status = 'skipped' WHERE id = %s",
                           (result,)) == expected
            assert attempt(conn, "DELETE FROM recorder.execution_results WHERE id = %s", (result,)) == expected
    assert make.job_row(bob.job)["completed_rows"] == 1


def test_logs_follow_their_job(db: TestDB, two: tuple[Owned, Owned]) -> None:
    alice, bob = two
    insert = "INSERT INTO recorder.execution_logs (execution_job_id, level, message) VALUES (%s, 'warn', 'slow')"
    with as_user(db, alice.user) as conn:
        assert attempt(conn, insert, (alice.job,)) == 1
        with pytest.raises(RLS):
            attempt(conn, insert, (bob.job,))
        for log, expected in ((alice.log, 1), (bob.log, 0)):
            assert attempt(conn, "DELETE FROM recorder.execution_logs WHERE id = %s", (log,)) == expected
        with pytest.raises(RLS):  # logs are append-only for users
            attempt(conn, "UPDATE recorder.execution_logs SET message = 'x' WHERE id = %s", (alice.log,))


def test_healing_logs_follow_their_recording(db: TestDB, two: tuple[Owned, Owned]) -> None:
    alice, bob = two
    insert = ("INSERT INTO recorder.healing_logs (recording_id, execution_job_id, step_number, original_selector,"
              " success) VALUES (%s, %s, 1, '#a', true)")
    with as_user(db, alice.user) as conn:
        assert attempt(conn, insert, (alice.recording, alice.job)) == 1
        assert attempt(conn, insert, (alice.recording, None)) == 1
        with pytest.raises(RLS):
            attempt(conn, insert, (bob.recording, None))
        with pytest.raises(RLS):  # her recording, someone else's job
            attempt(conn, insert, (alice.recording, bob.job))
        for healing, expected in ((alice.healing, 1), (bob.healing, 0)):
            assert attempt(conn, "DELETE FROM recorder.healing_logs WHERE id = %s", (healing,)) == expected
        with pytest.raises(RLS):
            attempt(conn, "UPDATE recorder.healing_logs SET success = false WHERE id = %s", (alice.healing,))
        cached = "SELECT count(*) FROM recorder.lookup_healing_cache(%s, 1, 'input#email')"
        assert conn.execute(cached, (alice.recording,)).fetchone()[0] == 1
        assert conn.execute(cached, (bob.recording,)).fetchone()[0] == 0


def test_vdi_metrics_are_for_workers_only(db: TestDB, make: Builder) -> None:
    make.insert("vdi_metrics", worker_id="vdi-1", cpu_usage=12.5)
    for statement in ("SELECT * FROM recorder.vdi_metrics",
                      "INSERT INTO recorder.vdi_metrics (worker_id) VALUES ('vdi-2')",
                      "UPDATE recorder.vdi_metrics SET cpu_usage = 1",
                      "DELETE FROM recorder.vdi_metrics"):
        with as_user(db, make.user()) as conn, pytest.raises(RLS):
            conn.execute(statement)
    with db.as_role("service_role") as conn:
        conn.execute("INSERT INTO recorder.vdi_metrics (worker_id, cpu_usage) VALUES ('vdi-2', 99.5)")
        assert conn.execute("SELECT count(*) FROM recorder.vdi_metrics").fetchone()[0] == 2


def test_anon_gets_nothing(db: TestDB, two: tuple[Owned, Owned]) -> None:
    for table in TABLES:
        with db.as_role("anon", claims(two[0].user)) as conn, pytest.raises(RLS):
            conn.execute(f"SELECT count(*) FROM recorder.{table}")


def test_service_role_bypasses_rls(db: TestDB, two: tuple[Owned, Owned]) -> None:
    with db.as_role("service_role") as conn:
        for table in TABLES:
            assert conn.execute(f"SELECT count(*) FROM recorder.{table}").fetchone()[0] == 2, table
        assert attempt(conn, "UPDATE recorder.execution_jobs SET worker_id = 'vdi-1'") == 2


def test_recorder_app_switches_to_the_api_roles(db: TestDB, two: tuple[Owned, Owned]) -> None:
    alice = two[0]
    with db.as_role("recorder_app", claims(alice.user)) as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        # NOINHERIT: directly it has no table privileges of the roles it may switch to
        conn.execute("SELECT id FROM recorder.recordings")
    with db.as_role("recorder_app", claims(alice.user)) as conn:
        conn.execute("SET LOCAL ROLE service_role")
        assert conn.execute("SELECT count(*) FROM recorder.recordings").fetchone()[0] == 2
        conn.execute("SET LOCAL ROLE authenticated")
        assert conn.execute("SELECT count(*) FROM recorder.recordings").fetchone()[0] == 1


def test_role_attributes(db: TestDB) -> None:
    rows = db.query("SELECT rolname, rolcanlogin, rolbypassrls, rolsuper FROM pg_roles"
                    " WHERE rolname IN ('anon', 'authenticated', 'service_role', 'recorder_app') ORDER BY 1")
    assert rows == [("anon", False, False, False), ("authenticated", False, False, False),
                    ("recorder_app", False, False, False), ("service_role", False, True, False)]
