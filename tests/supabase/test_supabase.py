"""Every system on a Supabase-like project, migrated and rolled back as Supabase's
`postgres` (a CREATEROLE non-superuser), with the bookkeeping out of the API roles' reach."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import psycopg
import pytest

import migdirs
import upgrade
from pg import run_cli
from schema_tool import paths, sources

from .conftest import Project

SYSTEMS = [s.system for s in sources.available_systems(paths.migrations_dir())]
OUR_SCHEMAS = "SELECT nspname FROM pg_namespace WHERE nspowner::regrole::text = 'schema_tool_owner' ORDER BY 1"


def _migrate(project: Project, *args: str) -> None:
    result = run_cli("migrate", *args, url=project.url)
    assert result.returncode == 0, result.stderr


def test_postgres_is_not_a_superuser_and_extensions_live_in_extensions(project: Project) -> None:
    assert project.scalar("SELECT rolsuper FROM pg_roles WHERE rolname = 'postgres'") is False
    assert project.scalar("SELECT rolcreaterole FROM pg_roles WHERE rolname = 'postgres'") is True
    assert project.query("SELECT extname, extnamespace::regnamespace::text FROM pg_extension"
                         " WHERE extname IN ('pgcrypto', 'pg_trgm', 'uuid-ossp') ORDER BY 1") == [
        ("pg_trgm", "extensions"), ("pgcrypto", "extensions"), ("uuid-ossp", "extensions")]
    assert project.scalar("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'auth'") \
        == "supabase_auth_admin"


def test_every_system_migrates_rolls_back_and_migrates_again_as_postgres(project: Project) -> None:
    _migrate(project)
    applied = migdirs.applied(project.admin_url)
    assert applied == sorted(m.id for m in sources.load(sources.available_systems(paths.migrations_dir())))
    assert {s for (s,) in project.query(OUR_SCHEMAS)} >= set(SYSTEMS)
    # the extensions' objects were found where Supabase keeps them
    assert project.scalar("SELECT pg_get_indexdef('replay.idx_recordings_name_trgm'::regclass)").endswith(
        "USING gin (name extensions.gin_trgm_ops)")
    # webhook signatures need no extension since ops_0006 (ops.hmac_sha256 over sha256())
    assert "ops.hmac_sha256(" in project.scalar(
        "SELECT pg_get_functiondef('replay.webhook_signature(uuid, text)'::regprocedure)")
    # recorder used Supabase's auth and changed nothing in it
    assert project.query("SELECT object_type FROM recorder.supabase_shim WHERE object_type = 'schema'") == []
    assert project.scalar("SELECT count(*) FROM pg_class WHERE relnamespace = 'auth'::regnamespace"
                          " AND relowner <> 'supabase_auth_admin'::regrole") == 0

    back = run_cli("rollback", "--all", url=project.url)
    assert back.returncode == 0, back.stderr
    assert migdirs.applied(project.admin_url) == []
    assert project.query(OUR_SCHEMAS) == []
    assert project.scalar("SELECT to_regclass('auth.users')") == "auth.users"
    assert project.scalar("SELECT count(*) FROM pg_extension WHERE extname = 'pg_trgm'"
                          " AND extnamespace = 'extensions'::regnamespace") == 1

    _migrate(project)
    assert migdirs.applied(project.admin_url) == applied


def test_webhook_signature_is_hmac_sha256_like_pgcryptos_in_extensions(project: Project) -> None:
    _migrate(project, "--system", "replay")
    user = uuid.uuid4()
    with psycopg.connect(project.admin_url, autocommit=True) as conn:
        conn.execute("INSERT INTO replay.users (id, email, password_hash, name) VALUES (%s, %s, 'x', 'Ada')",
                     (user, f"{user.hex[:8]}@example.test"))
        hook = conn.execute("INSERT INTO replay.webhooks (user_id, name, url, events, secret_key) VALUES"
                            " (%s, 'hook', 'https://example.test/h', ARRAY['recording.created'], 'k3y') RETURNING id",
                            (user,)).fetchone()[0]
    with psycopg.connect(project.admin_url) as conn:
        conn.execute("SET LOCAL ROLE replay_app")
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user),))
        signature = conn.execute("SELECT replay.webhook_signature(%s, %s)", (hook, "payload")).fetchone()[0]
    assert signature == hmac.new(b"k3y", b"payload", hashlib.sha256).hexdigest()
    # and it equals pgcrypto's, in the schema Supabase keeps it in
    with psycopg.connect(project.admin_url, autocommit=True) as conn:
        assert conn.execute("SELECT encode(extensions.hmac('payload', 'k3y', 'sha256'), 'hex')").fetchone()[0] \
            == signature


def _privileges_of_others(project: Project) -> list[tuple]:
    """Every privilege on the bookkeeping schema and its tables held by a role other than
    its owner: ACL entries, and what has_*_privilege says for every role of the cluster."""
    return project.query("""
        SELECT 'acl', c.oid::regclass::text, a.grantee::regrole::text, a.privilege_type
        FROM pg_class c, aclexplode(c.relacl) a
        WHERE c.relnamespace = 'schema_tool'::regnamespace AND a.grantee <> c.relowner
        UNION ALL
        SELECT 'acl', n.nspname, a.grantee::regrole::text, a.privilege_type
        FROM pg_namespace n, aclexplode(n.nspacl) a
        WHERE n.nspname = 'schema_tool' AND a.grantee <> n.nspowner
        UNION ALL
        SELECT 'effective', c.oid::regclass::text, r.rolname, p.priv
        FROM pg_class c CROSS JOIN pg_roles r
        CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p (priv)
        WHERE c.relnamespace = 'schema_tool'::regnamespace AND c.relkind = 'r'
          AND NOT r.rolsuper AND r.rolname !~ '^pg_' AND r.oid <> c.relowner
          AND NOT pg_has_role(r.oid, c.relowner, 'USAGE')
          AND has_table_privilege(r.oid, c.oid, p.priv)
        UNION ALL
        SELECT 'effective', 'schema_tool', r.rolname, 'USAGE'
        FROM pg_roles r
        WHERE NOT r.rolsuper AND r.rolname !~ '^pg_' AND r.oid <> 'postgres'::regrole
          AND NOT pg_has_role(r.oid, 'postgres', 'USAGE')
          AND has_schema_privilege(r.oid, 'schema_tool', 'USAGE')
        ORDER BY 1, 2, 3, 4""")


def test_bookkeeping_is_out_of_every_api_roles_reach(project: Project) -> None:
    # beyond Supabase's default privileges in public: a database-wide one for postgres
    with psycopg.connect(project.admin_url, autocommit=True) as conn:
        conn.execute("ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT ALL ON TABLES TO anon, authenticated")
        conn.execute("ALTER DEFAULT PRIVILEGES FOR ROLE postgres GRANT USAGE ON SCHEMAS TO anon")
    _migrate(project, "--system", "ops")
    assert project.scalar("SELECT nspowner::regrole::text FROM pg_namespace WHERE nspname = 'schema_tool'") \
        == "postgres"
    assert project.query("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                         " AND relname LIKE '%yoyo%'") == []
    assert _privileges_of_others(project) == []
    for role in ("anon", "authenticated", "service_role"):
        with psycopg.connect(project.url.replace("user=postgres", "user=authenticator")) as conn:
            conn.execute(f"SET ROLE {role}")
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("DELETE FROM schema_tool._yoyo_migration")
    assert len(migdirs.applied(project.admin_url)) == len(migdirs.ops_ids())


def test_status_as_postgres(project: Project) -> None:
    _migrate(project, "--system", "ops")
    result = run_cli("status", "--json", url=project.url)
    assert result.returncode == 0, result.stderr
    states = {e["id"]: e["state"] for e in json.loads(result.stdout)["migrations"]}
    assert {states[mid] for mid in migdirs.ops_ids()} == {"applied"}


def test_bookkeeping_an_earlier_release_left_in_public_is_moved_out_of_reach(project: Project) -> None:
    try:
        upgrade.migrate_with(upgrade.PREVIOUS_RELEASE, project.url, ["ops"])
    except upgrade.Unavailable as exc:
        pytest.skip(f"the previous release is not available: {exc}")
    # the hole: Supabase's default privileges in public gave the API roles the bookkeeping
    assert project.scalar("SELECT has_table_privilege('anon', 'public._yoyo_migration', 'DELETE')") is True
    before = migdirs.applied(project.admin_url)
    logged = project.scalar("SELECT count(*) FROM public._yoyo_log")

    _migrate(project, "--system", "ops")
    assert project.query("SELECT relname FROM pg_class WHERE relnamespace = 'public'::regnamespace"
                         " AND (relname LIKE '%yoyo%' OR relname LIKE '%schema_tool%')") == []
    after = migdirs.applied(project.admin_url)
    assert set(before) < set(after) and after == migdirs.ops_ids()
    assert project.scalar("SELECT count(*) FROM schema_tool._yoyo_log") == logged + len(after) - len(before)
    assert _privileges_of_others(project) == []


def test_passwords_and_totp_reach_pgcrypto_in_extensions(project: Project) -> None:
    """scrapifie's PL/pgSQL functions use pgcrypto through ops_0008's bridge, never public.*."""
    _migrate(project, "--system", "scrapifie")
    slug = f"org-{uuid.uuid4().hex[:10]}"
    with psycopg.connect(project.admin_url, autocommit=True) as conn:
        org = conn.execute("INSERT INTO scrapifie.organizations (name, slug, billing_email) VALUES (%s, %s, %s)"
                           " RETURNING id", (slug, slug, f"b@{slug}.test")).fetchone()[0]
        user = conn.execute("INSERT INTO scrapifie.users (organization_id, email) VALUES (%s, %s) RETURNING id",
                            (org, f"u@{slug}.test")).fetchone()[0]
        # RFC 6238's SHA-1 vector at 59 s: 94287082 (we keep six digits)
        assert conn.execute("SELECT scrapifie.totp(convert_to('12345678901234567890', 'UTF8'),"
                            " to_timestamp(59))").fetchone()[0] == "287082"
    with psycopg.connect(project.admin_url) as conn:  # acting as the application's role
        conn.execute("SET LOCAL ROLE scrapifie_app")
        conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(org),))
        conn.execute("SELECT scrapifie.set_user_password(%s, 'correct horse')", (user,))
        assert conn.execute("SELECT scrapifie.verify_user_password(%s, 'correct horse')", (user,)).fetchone()[0]
        assert not conn.execute("SELECT scrapifie.verify_user_password(%s, 'wrong horse')", (user,)).fetchone()[0]
    for fn in ("ops.crypt(text, text)", "ops.gen_salt(text, integer)", "ops.hmac(bytea, bytea, text)"):
        assert "extensions." in project.scalar("SELECT pg_get_functiondef(%s::regprocedure)", (fn,))
