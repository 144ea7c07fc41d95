"""Supabase's auth: the stand-in created on plain PostgreSQL (auth.uid() as Supabase's), and
a database that already has Supabase's auth, which the migrations use and never modify."""

from __future__ import annotations

import io
import json
import uuid

import psycopg
import pytest

from pg import TestDB
from recorder.support import claims
from schema_tool import paths
from schema_tool.errors import ToolError
from schema_tool.migrate import Runner

UID = uuid.UUID("8d0fbd5d-2e4f-4b8e-9a36-0b0b6d1c2a11")
OTHER = uuid.UUID("1f3a0c8e-77aa-4a43-8c1d-5e2b9b4f6d02")

# What Supabase has before our migrations run: its auth schema, owned by its own role,
# with auth.users, auth.uid() (as supabase/auth migration 20240624145325) and more.
SUPABASE_AUTH = f"""
CREATE SCHEMA auth AUTHORIZATION supabase_auth_admin;
SET ROLE supabase_auth_admin;
CREATE TABLE auth.users (
    instance_id uuid, id uuid NOT NULL PRIMARY KEY, aud varchar(255), role varchar(255), email varchar(255),
    encrypted_password varchar(255), raw_app_meta_data jsonb, raw_user_meta_data jsonb,
    created_at timestamptz, updated_at timestamptz, is_anonymous boolean NOT NULL DEFAULT false);
ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
CREATE FUNCTION auth.uid() RETURNS uuid SET search_path TO '' AS $$
  select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                  (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$ LANGUAGE sql STABLE;
CREATE FUNCTION auth.role() RETURNS text SET search_path TO '' AS $$
  select nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'
$$ LANGUAGE sql STABLE;
COMMENT ON SCHEMA auth IS 'Supabase Auth';
RESET ROLE;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
INSERT INTO auth.users (id, email) VALUES ('{UID}', 'alice@example.test'), ('{OTHER}', 'bob@example.test');
"""

# Everything of auth a migration could change; not the internal RI triggers that any foreign
# key to auth.users (Supabase's documented pattern, and the seed's) puts on it.
AUTH_STATE = """
SELECT 'schema', n.oid::text, n.nspowner::regrole::text, n.nspacl::text, obj_description(n.oid, 'pg_namespace')
FROM pg_namespace n WHERE n.nspname = 'auth'
UNION ALL
SELECT 'relation', c.oid::text || c.relname, c.relowner::regrole::text, c.relacl::text,
       c.relrowsecurity::text || c.relnatts
FROM pg_class c WHERE c.relnamespace = 'auth'::regnamespace
UNION ALL
SELECT 'function', p.oid::text || p.proname, p.proowner::regrole::text, p.proacl::text, p.prosrc
FROM pg_proc p WHERE p.pronamespace = 'auth'::regnamespace
UNION ALL
SELECT 'trigger', t.tgname, '', '', '' FROM pg_trigger t
WHERE t.tgrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'auth'::regnamespace) AND NOT t.tgisinternal
UNION ALL
SELECT 'policy', p.polname, '', '', '' FROM pg_policy p
WHERE p.polrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'auth'::regnamespace)
ORDER BY 1, 2
"""


def uid(conn: psycopg.Connection) -> uuid.UUID | None:
    return conn.execute("SELECT auth.uid()").fetchone()[0]


def test_uid_reads_the_claims_like_supabase(db: TestDB) -> None:
    with db.as_role("authenticated", claims(UID)) as conn:
        assert uid(conn) == UID
    with db.as_role("authenticated", {"request.jwt.claim.sub": str(UID)}) as conn:  # legacy PostgREST
        assert uid(conn) == UID
    legacy_first = {"request.jwt.claim.sub": str(UID), **claims(OTHER)}
    with db.as_role("authenticated", legacy_first) as conn:
        assert uid(conn) == UID
    for settings in ({}, {"request.jwt.claims": ""}, {"request.jwt.claims": json.dumps({"role": "anon"})},
                     {"request.jwt.claim.sub": "", "request.jwt.claims": ""}):
        with db.as_role("anon", settings) as conn:
            assert uid(conn) is None, settings


def test_uid_is_null_once_a_set_local_has_ended(db: TestDB) -> None:
    with db.connect(autocommit=False) as conn:
        conn.execute("SET LOCAL ROLE authenticated")
        conn.execute("SELECT set_config('request.jwt.claims', %s, true), set_config('request.jwt.claim.sub', %s,"
                     " true)", (json.dumps({"sub": str(UID)}), str(UID)))
        assert uid(conn) == UID
        conn.commit()
        # the settings now exist with an empty value
        assert conn.execute("SELECT current_setting('request.jwt.claims', true)").fetchone()[0] == ""
        assert uid(conn) is None
        conn.commit()


def test_api_roles_may_call_uid_and_nobody_else(db: TestDB) -> None:
    for role in ("anon", "authenticated", "service_role"):
        assert db.scalar("SELECT has_function_privilege(%s, 'auth.uid()', 'EXECUTE')", (role,)), role
    assert db.scalar("SELECT has_function_privilege('schema_tool_readonly', 'auth.uid()', 'EXECUTE')") is False
    for role in ("anon", "authenticated", "service_role", "recorder_app"):
        assert db.scalar("SELECT has_table_privilege(%s, 'auth.users', 'SELECT')", (role,)) is False, role


def test_the_stand_in_is_recorded_as_ours(db: TestDB) -> None:
    recorded = db.query("SELECT object_type, object_name FROM recorder.supabase_shim ORDER BY 1, 2")
    assert ("schema", "auth") in recorded
    assert {r[1] for r in recorded if r[0] == "role"} <= {"anon", "authenticated", "service_role"}
    assert db.scalar("SELECT proconfig FROM pg_proc WHERE oid = 'auth.uid()'::regprocedure") == ["search_path=\"\""]


def test_an_auth_schema_that_is_not_supabases_is_refused(empty_db: TestDB) -> None:
    empty_db.execute("CREATE SCHEMA auth")
    runner = Runner(empty_db.url, paths.migrations_dir(), out=io.StringIO())
    with pytest.raises(ToolError):
        runner.migrate(["recorder"])
    assert empty_db.scalar("SELECT to_regnamespace('recorder')") is None
    assert empty_db.scalar("SELECT count(*) FROM pg_class WHERE relnamespace = 'auth'::regnamespace") == 0


@pytest.fixture
def supabase(empty_db: TestDB):
    """A database with Supabase's auth schema, before any migration of ours."""
    empty_db.execute("DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'supabase_auth_admin')"
                     " THEN CREATE ROLE supabase_auth_admin NOLOGIN; END IF; END $$")
    with empty_db.connect() as conn:
        conn.execute(SUPABASE_AUTH)
    yield empty_db
    empty_db.execute("DROP SCHEMA IF EXISTS auth CASCADE")
    empty_db.execute("DO $$ BEGIN DROP ROLE supabase_auth_admin; EXCEPTION WHEN dependent_objects_still_exist"
                     " THEN NULL; END $$")


def test_supabase_auth_is_used_and_never_modified(supabase: TestDB) -> None:
    before = supabase.query(AUTH_STATE)
    runner = Runner(supabase.url, paths.migrations_dir(), out=io.StringIO())
    runner.migrate(["recorder"])
    assert supabase.query(AUTH_STATE) == before
    assert supabase.query("SELECT object_type FROM recorder.supabase_shim WHERE object_type = 'schema'") == []
    assert not supabase.scalar("SELECT has_schema_privilege('schema_tool_owner', 'auth', 'USAGE')")
    fk = supabase.scalar("SELECT confrelid::regclass::text FROM pg_constraint WHERE conname = 'users_id_fkey'"
                         " AND conrelid = 'recorder.users'::regclass")
    assert fk == "auth.users"

    # the schema works on Supabase's auth.uid(): each user sees their own rows
    supabase.execute("INSERT INTO recorder.users (id, email) VALUES (%s, 'a@x.test'), (%s, 'b@x.test')", (UID, OTHER))
    supabase.execute("INSERT INTO recorder.recordings (user_id, name, starting_url) VALUES (%s, 'r', 'u'),"
                     " (%s, 'r', 'u')", (UID, OTHER))
    with supabase.as_role("authenticated", claims(UID)) as conn:
        assert conn.execute("SELECT user_id FROM recorder.recordings").fetchall() == [(UID,)]
    supabase.execute("DELETE FROM auth.users WHERE id = %s", (OTHER,))  # Supabase deletes a user: cascade
    assert supabase.scalar("SELECT count(*) FROM recorder.recordings") == 1

    every = sorted(p.stem for p in (paths.migrations_dir() / "recorder").glob("recorder_*.sql")
                   if not p.stem.endswith(".rollback"))
    assert runner.rollback("recorder", count=None) == every[::-1]
    assert supabase.scalar("SELECT to_regnamespace('recorder')") is None
    assert supabase.query(AUTH_STATE) == before
    assert supabase.scalar("SELECT count(*) FROM auth.users") == 1
