"""Database-level state the migrations set, re-established on every migrate.

Some of what the migrations set belongs to the database rather than to any schema, and a
database restored with pg_restore into a new database, or cloned with CREATE DATABASE ...
TEMPLATE, does not carry it:
- schema_tool_owner's CREATE on the database (ops_0001), without which no new system's
  schema can be created;
- each <system>_app and <system>_worker role's search_path in this database
  (ALTER ROLE ... IN DATABASE ... SET, by ops.ensure_system_role), without which an
  application logging in as replay_app finds none of its tables.

`repair()` re-establishes both through the same SQL the migrations use (so the settings
are exactly theirs), idempotently, and says what it changed. It runs as the migrating
role, which needs what migrating needs: CREATEROLE, and the right to grant CREATE on the
database (its owner, or a superuser).
"""

from __future__ import annotations

import psycopg
from psycopg import sql

OWNER = "schema_tool_owner"

# Schemas our migrations created (owned by schema_tool_owner) with an app or worker role
# of theirs that is still privileged there: the roles whose search_path is ours to set.
ROLES_SQL = """
SELECT n.nspname, k.kind, r.rolname
FROM pg_catalog.pg_namespace AS n
CROSS JOIN (VALUES ('app'), ('worker')) AS k (kind)
JOIN pg_catalog.pg_roles AS r ON r.rolname = n.nspname || '_' || k.kind
WHERE n.nspowner = (SELECT oid FROM pg_catalog.pg_roles WHERE rolname = %s)
  AND pg_catalog.has_schema_privilege(r.oid, n.oid, 'USAGE')
ORDER BY n.nspname, k.kind
"""

SETTINGS_SQL = """
SELECT r.rolname, s.setconfig
FROM pg_catalog.pg_db_role_setting AS s
JOIN pg_catalog.pg_roles AS r ON r.oid = s.setrole
WHERE s.setdatabase = (SELECT oid FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database())
"""


def _function(conn: psycopg.Connection, signature: str) -> bool:
    return conn.execute("SELECT pg_catalog.to_regprocedure(%s) IS NOT NULL", (signature,)).fetchone()[0]


def _settings(conn: psycopg.Connection) -> dict[str, list[str]]:
    return {row[0]: sorted(row[1] or []) for row in conn.execute(SETTINGS_SQL).fetchall()}


def repair(conn: psycopg.Connection, *, apply: bool = True) -> list[str]:
    """Re-establish the database-level state; returns what was (or, with apply=False, would
    be) repaired. One transaction, rolled back when apply is False."""
    if conn.execute("SELECT pg_catalog.to_regrole(%s)", (OWNER,)).fetchone()[0] is None \
            or not _function(conn, "ops.ensure_app_role(name)"):
        return []  # ops_0001 is not applied here: there is nothing of ours to repair
    done: list[str] = []
    with conn.transaction(force_rollback=not apply):
        database = conn.execute("SELECT pg_catalog.current_database()").fetchone()[0]
        can_create = conn.execute("SELECT pg_catalog.has_database_privilege(%s, pg_catalog.current_database(), 'CREATE')",
                                  (OWNER,)).fetchone()[0]
        if not can_create:
            conn.execute(sql.SQL("GRANT CREATE ON DATABASE {} TO {}").format(
                sql.Identifier(database), sql.Identifier(OWNER)))
            done.append(f"{OWNER}'s CREATE on database {database}")
        before = _settings(conn)
        system_role = _function(conn, "ops.ensure_system_role(name, text)")
        roles = conn.execute(ROLES_SQL, (OWNER,)).fetchall()
        for schema, kind, _role in roles:
            if system_role:
                conn.execute("SELECT ops.ensure_system_role(%s, %s)", (schema, kind))
            elif kind == "app":
                conn.execute("SELECT ops.ensure_app_role(%s)", (schema,))
        after = _settings(conn)
        changed = [role for _schema, _kind, role in roles if before.get(role) != after.get(role)]
        if changed:
            done.append(f"search_path of {', '.join(changed)} in database {database}")
    return done
