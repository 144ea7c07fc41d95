"""Where the runner keeps its records: schema `schema_tool`, out of everyone's reach.

yoyo's tables (applied migrations, log, internal version, lock row) and the runner's
checksums used to live in `public`, which Supabase exposes through PostgREST with
default privileges granting ALL to `anon`: anyone could have deleted the record of what
was applied. Now they live in a schema of their own that belongs to the migrating role,
with no privilege for any other role (also revoked again on every run, so default
privileges cannot leak one in). A database whose bookkeeping is still in `public` has it
moved, history and all (ALTER TABLE ... SET SCHEMA, in one transaction), by the first run
that holds the migration lock; readers (status, dry runs) read either place.
"""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from psycopg import sql

from schema_tool.errors import ToolError

SCHEMA = "schema_tool"
MIGRATIONS = "_yoyo_migration"
LOG = "_yoyo_log"
VERSION = "_yoyo_version"
LOCK = "yoyo_lock"
CHECKSUMS = "checksums"
LEGACY_CHECKSUMS = "_schema_tool_checksums"  # its name while it lived in public

# yoyo's internal schema version 2 (yoyo >= 6), created here rather than by yoyo, which
# would create its tables in whatever schema comes first on the search_path.
TABLES: dict[str, str] = {
    MIGRATIONS: """CREATE TABLE {t} (
        migration_hash varchar(64) PRIMARY KEY,
        migration_id varchar(255),
        applied_at_utc timestamp)""",
    LOG: """CREATE TABLE {t} (
        id varchar(36) PRIMARY KEY,
        migration_hash varchar(64),
        migration_id varchar(255),
        operation varchar(10),
        username varchar(255),
        hostname varchar(255),
        comment varchar(255),
        created_at_utc timestamp)""",
    VERSION: """CREATE TABLE {t} (
        version int PRIMARY KEY,
        installed_at_utc timestamp)""",
    LOCK: """CREATE TABLE {t} (
        locked int DEFAULT 1 PRIMARY KEY,
        ctime timestamp,
        pid int NOT NULL)""",
    CHECKSUMS: """CREATE TABLE {t} (
        migration_id text PRIMARY KEY,
        apply_sha256 text NOT NULL,
        rollback_sha256 text,
        recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
        caught_up_from text,
        caught_up_at timestamptz)""",
}
LEGACY_NAMES = {MIGRATIONS: MIGRATIONS, LOG: LOG, VERSION: VERSION, LOCK: LOCK, CHECKSUMS: LEGACY_CHECKSUMS}

COMMENTS = {
    MIGRATIONS: "Migrations applied to this database (yoyo's record), one row each.",
    LOG: "Every apply and rollback of a migration, with who and when (yoyo's log).",
    VERSION: "The version of yoyo's own bookkeeping layout.",
    LOCK: "yoyo's lock row, held by a running schema-tool migrate or rollback.",
    CHECKSUMS: "SHA-256 of each applied migration file and its rollback, as applied; "
               "caught_up_from: the earlier text it was applied with, when a catch-up brought it "
               "to its current text.",
}


def qualified(table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(SCHEMA), sql.Identifier(table))


def quoted(table: str) -> str:
    """schema_tool."<table>" for yoyo's string-built SQL."""
    return f'"{SCHEMA}"."{table}"'


def _existing(conn: psycopg.Connection, schema: str) -> set[str]:
    rows = conn.execute(
        "SELECT c.relname FROM pg_catalog.pg_class AS c"
        " JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relkind IN ('r', 'p')",
        (schema,),
    ).fetchall()
    return {r[0] for r in rows}


def location(conn: psycopg.Connection) -> str | None:
    """The schema holding the record of applied migrations: ours, public (before the move), none."""
    row = conn.execute(
        "SELECT pg_catalog.to_regclass(%s) IS NOT NULL, pg_catalog.to_regclass(%s) IS NOT NULL",
        (f'"{SCHEMA}"."{MIGRATIONS}"', f'public."{MIGRATIONS}"'),
    ).fetchone()
    if row[0]:
        return SCHEMA
    if row[1]:
        return "public"
    return None


def table(conn: psycopg.Connection, name: str) -> sql.Composed | None:
    """Where to read one bookkeeping table (ours or, before the move, public's); None if absent."""
    where = location(conn)
    if where is None:
        return None
    actual = name if where == SCHEMA else LEGACY_NAMES[name]
    if actual not in _existing(conn, where):
        return None
    return sql.SQL("{}.{}").format(sql.Identifier(where), sql.Identifier(actual))


def ensure(conn: psycopg.Connection, say: Callable[[str], None]) -> None:
    """Create, move into place and lock down the bookkeeping (the caller holds the migration
    lock, so two runs never do this at once). One transaction; idempotent."""
    with conn.transaction():
        ours = _existing(conn, SCHEMA)
        legacy = {name for name, old in LEGACY_NAMES.items() if old in _existing(conn, "public")}
        if conn.execute("SELECT pg_catalog.to_regnamespace(%s)", (SCHEMA,)).fetchone()[0] is None:
            conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)))
            conn.execute(sql.SQL("COMMENT ON SCHEMA {} IS {}").format(
                sql.Identifier(SCHEMA),
                sql.Literal("schema-tool's migration bookkeeping: readable and writable by its owner only.")))
        clash = sorted(ours & legacy)
        if clash and MIGRATIONS in ours:
            raise ToolError(
                f"migration bookkeeping found both in schema {SCHEMA} and in public "
                f"({', '.join('public.' + LEGACY_NAMES[t] for t in clash)}): was an older schema-tool run "
                f"after this one? Compare them, keep {SCHEMA}'s, and drop the tables in public"
            )
        moved = 0
        for name in sorted(legacy - ours):
            old = LEGACY_NAMES[name]
            conn.execute(sql.SQL("ALTER TABLE public.{} SET SCHEMA {}").format(
                sql.Identifier(old), sql.Identifier(SCHEMA)))
            if old != name:
                conn.execute(sql.SQL("ALTER TABLE {}.{} RENAME TO {}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(old), sql.Identifier(name)))
            moved += 1
        present = _existing(conn, SCHEMA)
        for name, ddl in TABLES.items():
            if name not in present:
                conn.execute(sql.SQL(ddl).format(t=qualified(name)))
                if name == VERSION:
                    conn.execute(sql.SQL(
                        "INSERT INTO {} VALUES (2, (pg_catalog.now() AT TIME ZONE 'UTC'))").format(qualified(VERSION)))
            conn.execute(sql.SQL("COMMENT ON TABLE {} IS {}").format(qualified(name), sql.Literal(COMMENTS[name])))
        conn.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS caught_up_from text,"
                             " ADD COLUMN IF NOT EXISTS caught_up_at timestamptz").format(qualified(CHECKSUMS)))
        revoked = lock_down(conn)
    if moved:
        applied = conn.execute(sql.SQL("SELECT pg_catalog.count(*) FROM {}").format(qualified(MIGRATIONS))).fetchone()[0]
        say(f"moved the migration bookkeeping from public to schema {SCHEMA} "
            f"({moved} tables, {applied} applied migrations kept)")
    if revoked:
        say(f"revoked privileges on the migration bookkeeping from {', '.join(revoked)} "
            f"(only its owner may use schema {SCHEMA})")


GRANTS_SQL = """
SELECT 'SCHEMA', pg_catalog.quote_ident(n.nspname), a.grantee
FROM pg_catalog.pg_namespace AS n, pg_catalog.aclexplode(n.nspacl) AS a
WHERE n.nspname = %(schema)s AND a.grantee <> n.nspowner
UNION
SELECT 'TABLE', c.oid::pg_catalog.regclass::text, a.grantee
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace,
     pg_catalog.aclexplode(c.relacl) AS a
WHERE n.nspname = %(schema)s AND a.grantee <> c.relowner
ORDER BY 1, 2, 3
"""


def lock_down(conn: psycopg.Connection) -> list[str]:
    """Revoke every privilege on the bookkeeping schema and its tables from everyone but the
    owner (PUBLIC included); returns who lost some."""
    rows = conn.execute(GRANTS_SQL, {"schema": SCHEMA}).fetchall()
    names: list[str] = []
    for kind, target, grantee in rows:
        who = "PUBLIC" if grantee == 0 else conn.execute(
            "SELECT pg_catalog.quote_ident(rolname) FROM pg_catalog.pg_roles WHERE oid = %s", (grantee,)
        ).fetchone()[0]
        conn.execute(f"REVOKE ALL ON {kind} {target} FROM {who}")  # quoted above
        if who not in names:
            names.append(who)
    return names
