"""ops_0001: the roles model, the extension set, what PUBLIC may do."""

from __future__ import annotations

import psycopg
import pytest

from pg import TestDB


def test_extensions_the_systems_need_are_there(db: TestDB) -> None:
    names = {r[0] for r in db.query("SELECT extname FROM pg_extension")}
    assert {"pgcrypto", "uuid-ossp", "pg_trgm", "btree_gin"} <= names


def test_roles_cannot_log_in_and_the_owner_is_no_superuser(db: TestDB) -> None:
    rows = db.query("SELECT rolname, rolcanlogin, rolsuper, rolbypassrls, rolcreaterole FROM pg_roles"
                    " WHERE rolname IN ('schema_tool_owner', 'schema_tool_readonly') ORDER BY 1")
    assert rows == [("schema_tool_owner", False, False, False, False),
                    ("schema_tool_readonly", False, False, False, False)]


def test_nobody_but_the_owner_creates_in_our_schemas_or_public(db: TestDB, migrated_systems: list[str]) -> None:
    others = [r[0] for r in db.query(
        "SELECT rolname FROM pg_roles WHERE rolname NOT LIKE 'pg\\_%' AND NOT rolsuper"
        " AND rolname <> 'schema_tool_owner'")]
    for schema in migrated_systems:
        for role in others:
            assert not db.scalar("SELECT has_schema_privilege(%s, %s, 'CREATE')", (role, schema)), (role, schema)
    public_acl = db.scalar("SELECT array_agg(a.privilege_type) FROM pg_namespace n, aclexplode(n.nspacl) a"
                           " WHERE n.nspname = 'public' AND a.grantee = 0")
    assert "CREATE" not in (public_acl or [])


def test_new_functions_of_the_owner_are_not_executable_by_public(db: TestDB) -> None:
    with db.connect() as conn:
        conn.execute("SET ROLE schema_tool_owner")
        conn.execute("CREATE FUNCTION ops.tmp_probe() RETURNS int LANGUAGE sql RETURN 1")
    assert db.scalar("SELECT has_function_privilege('schema_tool_readonly', 'ops.tmp_probe()', 'EXECUTE')") is False


def test_app_role_lifecycle(db: TestDB) -> None:
    assert db.scalar("SELECT ops.ensure_app_role('zeta')") == "zeta_app"
    assert db.scalar("SELECT ops.ensure_app_role('zeta')") == "zeta_app"  # idempotent
    role = db.query("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'zeta_app'")
    assert role == [(False,)]
    setting = db.scalar("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
                        " WHERE d.datname = current_database() AND s.setrole = 'zeta_app'::regrole")
    assert setting == ["search_path=zeta, public"]
    db.execute("SELECT ops.drop_app_role('zeta')")
    assert db.query("SELECT 1 FROM pg_roles WHERE rolname = 'zeta_app'") == []
    db.execute("SELECT ops.drop_app_role('zeta')")  # nothing left to drop: fine


def test_read_only_role_never_sees_secret_columns(db: TestDB) -> None:
    db.execute("CREATE SCHEMA zeta AUTHORIZATION schema_tool_owner")
    with db.connect() as conn:
        conn.execute("SET ROLE schema_tool_owner")
        conn.execute("CREATE TABLE zeta.accounts (id int, email text, password_hash text)")
        conn.execute("CREATE TABLE zeta.notes (id int, body text)")
        conn.execute("INSERT INTO zeta.accounts VALUES (1, 'a@b.c', 'argon2$...')")
        assert conn.execute("SELECT ops.grant_read_only('zeta', ARRAY['accounts.password_hash'])").fetchone()[0] == 2
        conn.execute("SELECT ops.grant_read_only('zeta', ARRAY['accounts.password_hash'])")  # idempotent
    with db.as_role("schema_tool_readonly") as conn:
        assert conn.execute("SELECT id, email FROM zeta.accounts").fetchall() == [(1, "a@b.c")]
        assert conn.execute("SELECT count(*) FROM zeta.notes").fetchone()[0] == 0
    with db.as_role("schema_tool_readonly") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT password_hash FROM zeta.accounts")
    with db.as_role("schema_tool_readonly") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("INSERT INTO zeta.notes VALUES (2, 'no')")


def test_read_only_role_sees_every_row_under_row_level_security(db: TestDB) -> None:
    db.execute("CREATE SCHEMA zeta AUTHORIZATION schema_tool_owner")
    with db.connect() as conn:
        conn.execute("SET ROLE schema_tool_owner")
        conn.execute("CREATE TABLE zeta.tenant_rows (tenant int, body text)")
        conn.execute("ALTER TABLE zeta.tenant_rows ENABLE ROW LEVEL SECURITY")
        conn.execute("INSERT INTO zeta.tenant_rows VALUES (1, 'a'), (2, 'b')")
    with db.as_role("schema_tool_readonly") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT count(*) FROM zeta.tenant_rows")
    db.execute("SELECT ops.grant_read_only('zeta')")
    with db.as_role("schema_tool_readonly") as conn:
        assert conn.execute("SELECT count(*) FROM zeta.tenant_rows").fetchone()[0] == 2
    with db.as_role("schema_tool_readonly") as conn, pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("DELETE FROM zeta.tenant_rows")


def test_worker_role_lifecycle_and_roles_inherit_nothing(db: TestDB) -> None:
    assert db.scalar("SELECT ops.ensure_worker_role('zeta')") == "zeta_worker"
    assert db.scalar("SELECT ops.ensure_worker_role('zeta')") == "zeta_worker"  # idempotent
    assert db.scalar("SELECT ops.ensure_app_role('zeta')") == "zeta_app"
    rows = db.query("SELECT rolname, rolcanlogin, rolinherit FROM pg_roles"
                    " WHERE rolname IN ('zeta_app', 'zeta_worker') ORDER BY 1")
    assert rows == [("zeta_app", False, False), ("zeta_worker", False, False)]
    setting = db.scalar("SELECT s.setconfig FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase"
                        " WHERE d.datname = current_database() AND s.setrole = 'zeta_worker'::regrole")
    assert setting == ["search_path=zeta, public"]
    db.execute("SELECT ops.drop_worker_role('zeta'), ops.drop_app_role('zeta')")
    assert db.query("SELECT 1 FROM pg_roles WHERE rolname IN ('zeta_app', 'zeta_worker')") == []
    db.execute("SELECT ops.drop_worker_role('zeta')")  # nothing left to drop: fine


@pytest.mark.parametrize("bad", [("Zeta", "app"), ("zeta", "admin"), (None, "app"), ("zeta", None)])
def test_system_role_arguments_are_checked(db: TestDB, bad: tuple[str | None, str | None]) -> None:
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        db.execute("SELECT ops.ensure_system_role(%s, %s)", bad)


def test_a_createrole_non_superuser_drops_roles_it_is_no_member_of(db: TestDB) -> None:
    """Supabase's postgres: CREATEROLE, no superuser; PostgreSQL 15's DROP OWNED BY needs membership."""
    db.execute("SELECT ops.ensure_app_role('zeta'), ops.ensure_worker_role('zeta')")
    db.execute("CREATE SCHEMA zeta AUTHORIZATION schema_tool_owner")
    db.execute("GRANT USAGE ON SCHEMA zeta TO zeta_app, zeta_worker")
    db.execute("DROP ROLE IF EXISTS st_migrator")
    db.execute("CREATE ROLE st_migrator NOSUPERUSER CREATEROLE IN ROLE schema_tool_owner")
    try:
        with db.connect(role="st_migrator") as conn:
            assert not conn.execute("SELECT pg_has_role('zeta_app', 'MEMBER')").fetchone()[0]
            conn.execute("SELECT ops.drop_worker_role('zeta'), ops.drop_app_role('zeta')")
        assert db.query("SELECT 1 FROM pg_roles WHERE rolname IN ('zeta_app', 'zeta_worker')") == []
    finally:
        db.execute("DROP OWNED BY st_migrator")
        db.execute("DROP ROLE st_migrator")


def test_read_only_role_lists_partitions(db: TestDB) -> None:
    expected = db.scalar("SELECT count(*) FROM ops.partitions")
    with db.as_role("schema_tool_readonly") as conn:
        assert conn.execute("SELECT count(*) FROM ops.partitions").fetchone()[0] == expected > 0
