"""Catalog rules every schema of this package keeps (see docs/conventions.md and docs/security.md)."""

from __future__ import annotations

import pytest

from pg import TestDB

# Granted to PUBLIC on purpose, with the reason.
PUBLIC_ALLOWED: dict[str, str] = {}

# Columns a policy names without leading an index, with the reason (a WITH CHECK that checks
# the new row filters nothing, so no index would serve it).
POLICY_COLUMNS_UNINDEXED: dict[str, str] = {
    "recorder.execution_jobs.worker_id": "only in execution_jobs_update_scope's WITH CHECK (a tenant may put "
                                         "back in the queue only a job no worker holds)",
}

OUR_SCHEMAS_SQL = """
SELECT n.oid FROM pg_namespace n
WHERE n.nspname = ANY(%(schemas)s)
"""


@pytest.fixture
def schemas(migrated_systems: list[str]) -> list[str]:
    extra = {"recorder": ["auth"]}
    out: list[str] = []
    for system in migrated_systems:
        out.append(system)
        out.extend(extra.get(system, []))
    return out


def test_security_definer_functions_pin_search_path(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """SELECT p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
           WHERE n.nspname = ANY(%s) AND p.prosecdef
             AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%')""",
        (schemas,),
    )
    assert rows == [], "SECURITY DEFINER without SET search_path"


def test_nothing_usable_by_public(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """
        SELECT 'function ' || p.oid::regprocedure::text
        FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
             aclexplode(coalesce(p.proacl, acldefault('f', p.proowner))) a
        WHERE n.nspname = ANY(%(s)s) AND a.grantee = 0
        UNION ALL
        SELECT 'relation ' || c.oid::regclass::text
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace, aclexplode(c.relacl) a
        WHERE n.nspname = ANY(%(s)s) AND a.grantee = 0
        UNION ALL
        SELECT 'schema ' || n.nspname
        FROM pg_namespace n, aclexplode(n.nspacl) a
        WHERE n.nspname = ANY(%(s)s) AND a.grantee = 0
        ORDER BY 1
        """,
        {"s": schemas},
    )
    found = [r[0] for r in rows if r[0] not in PUBLIC_ALLOWED]
    assert found == [], "usable by PUBLIC without being allowed on purpose"


def test_views_are_security_invoker(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('v')
             AND NOT coalesce('security_invoker=true' = ANY(c.reloptions), false)""",
        (schemas,),
    )
    assert rows == [], "views must be security_invoker (otherwise they bypass RLS)"


def test_policies_check_writes_and_are_never_plain_true(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """SELECT p.polname, p.polrelid::regclass::text, p.polcmd,
                  pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid),
                  ARRAY(SELECT pg_get_userbyid(r) FROM unnest(p.polroles) r ORDER BY 1)
           FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid
           JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ANY(%s)""",
        (schemas,),
    )
    problems = []
    for name, table, cmd, qual, check, roles in rows:
        if cmd in ("a", "w", "*") and check is None:
            problems.append(f"{table}.{name}: allows writes without WITH CHECK")
        # the one plain-true policy: read-only reporting (ops.grant_read_only), SELECT only
        reporting = name == "schema_tool_readonly_select" and cmd == "r" and roles == ["schema_tool_readonly"]
        if (qual == "true" or check == "true") and not reporting:
            problems.append(f"{table}.{name}: plain true")
    assert problems == []


def test_foreign_key_and_policy_columns_lead_an_index(db: TestDB, schemas: list[str]) -> None:
    unindexed_fks = db.query(
        """
        SELECT con.conrelid::regclass::text || ' (' || con.conname || ')'
        FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%s) AND con.contype = 'f' AND con.conparentid = 0
          AND NOT EXISTS (
              SELECT FROM pg_index i
              WHERE i.indrelid = con.conrelid
                AND (SELECT array_agg(k ORDER BY k) FROM unnest((i.indkey::int2[])[0:cardinality(con.conkey) - 1]) k)
                    = (SELECT array_agg(k ORDER BY k) FROM unnest(con.conkey) k))
        ORDER BY 1
        """,
        (schemas,),
    )
    assert unindexed_fks == [], "foreign keys whose columns lead no index"
    unindexed_policy_columns = db.query(
        """
        SELECT DISTINCT d.refobjid::regclass::text || '.' || a.attname
        FROM pg_depend d
        JOIN pg_policy p ON d.classid = 'pg_policy'::regclass AND d.objid = p.oid
        JOIN pg_class pc ON pc.oid = p.polrelid JOIN pg_namespace n ON n.oid = pc.relnamespace
        JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
        WHERE n.nspname = ANY(%s) AND d.refclassid = 'pg_class'::regclass AND d.refobjsubid > 0
          AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = d.refobjid AND i.indkey[0] = d.refobjsubid)
        ORDER BY 1
        """,
        (schemas,),
    )
    unexplained = [r[0] for r in unindexed_policy_columns if r[0] not in POLICY_COLUMNS_UNINDEXED]
    assert unexplained == [], "columns policies filter on that lead no index"


def test_tables_and_jsonb_columns_are_commented(db: TestDB, schemas: list[str]) -> None:
    tables = db.query(
        """SELECT c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND obj_description(c.oid, 'pg_class') IS NULL ORDER BY 1""",
        (schemas,),
    )
    assert tables == [], "tables without COMMENT"
    columns = db.query(
        """SELECT c.oid::regclass::text || '.' || a.attname
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND a.atttypid = 'jsonb'::regtype AND a.attnum > 0 AND NOT a.attisdropped
             AND col_description(c.oid, a.attnum) IS NULL ORDER BY 1""",
        (schemas,),
    )
    assert columns == [], "JSONB columns without a COMMENT documenting their structure"


def test_objects_belong_to_the_owner_role(db: TestDB, schemas: list[str]) -> None:
    rows = db.query(
        """
        SELECT 'relation ' || c.oid::regclass::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%(s)s) AND c.relowner <> 'schema_tool_owner'::regrole
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
        WHERE n.nspname = ANY(%(s)s) AND p.proowner <> 'schema_tool_owner'::regrole
        UNION ALL
        SELECT 'type ' || t.oid::regtype::text FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
        WHERE n.nspname = ANY(%(s)s) AND t.typowner <> 'schema_tool_owner'::regrole
        UNION ALL
        SELECT 'schema ' || n.nspname FROM pg_namespace n
        WHERE n.nspname = ANY(%(s)s) AND n.nspowner <> 'schema_tool_owner'::regrole
        ORDER BY 1
        """,
        {"s": schemas},
    )
    assert rows == [], "objects not owned by schema_tool_owner (SET LOCAL ROLE schema_tool_owner in migrations)"


def test_sql_function_bodies_resolve_with_an_empty_search_path(db: TestDB, schemas: list[str]) -> None:
    """Functions without their own search_path must qualify every name (pg_partman's rule)."""
    with db.connect() as conn:
        funcs = conn.execute(
            """SELECT p.oid, p.oid::regprocedure::text FROM pg_proc p
               JOIN pg_namespace n ON n.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
               WHERE n.nspname = ANY(%s) AND l.lanname = 'sql' AND p.prosqlbody IS NULL
                 AND NOT EXISTS (SELECT FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%%')""",
            (schemas,),
        ).fetchall()
        conn.execute("SET search_path = ''")
        failures = []
        for oid, name in funcs:
            try:
                conn.execute("SELECT pg_catalog.fmgr_sql_validator(%s)", (oid,))
            except Exception as exc:  # noqa: BLE001 - collected and reported
                failures.append(f"{name}: {str(exc).splitlines()[0]}")
    assert failures == []
