-- ops 0004: ops.grant_read_only() no longer locks the tables that already have the
-- read-only policy.
-- depends: ops_0003_roles
--
-- Every migration that adds tables calls ops.grant_read_only('<system>', ...). It used to
-- drop and create the schema_tool_readonly_select policy on every table of the schema,
-- and CREATE/DROP POLICY take an ACCESS EXCLUSIVE lock: a migration that added one column
-- to one table locked all of its system's tables, one by one in name order, whatever
-- order the application locks them in (tests/test_live_migrations.py saw it starve and
-- deadlock against writers). Now the policy is made only where it is missing (or not the
-- read-only policy); GRANT and REVOKE take no such lock.

SET LOCAL ROLE schema_tool_owner;

-- Functions ------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION ops.grant_read_only(p_schema name, p_secret_columns text[] DEFAULT '{}')
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_rel record;
    v_columns text;
    v_count integer := 0;
BEGIN
    EXECUTE pg_catalog.format('GRANT USAGE ON SCHEMA %I TO schema_tool_readonly', p_schema);
    FOR v_rel IN
        SELECT c.oid, c.relname, c.relkind
        FROM pg_catalog.pg_class AS c
        INNER JOIN pg_catalog.pg_namespace AS n ON c.relnamespace = n.oid
        WHERE n.nspname = p_schema AND c.relkind IN ('r', 'p', 'v', 'm') AND NOT c.relispartition
        ORDER BY c.relname
    LOOP
        EXECUTE pg_catalog.format('REVOKE SELECT ON %I.%I FROM schema_tool_readonly', p_schema, v_rel.relname);
        IF EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = v_rel.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND v_rel.relname || '.' || a.attname = ANY(p_secret_columns)
        ) THEN
            SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname), ', ' ORDER BY a.attnum)
            INTO v_columns
            FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = v_rel.oid AND a.attnum > 0 AND NOT a.attisdropped
                AND v_rel.relname || '.' || a.attname <> ALL(p_secret_columns);
            EXECUTE pg_catalog.format(
                'GRANT SELECT (%s) ON %I.%I TO schema_tool_readonly', v_columns, p_schema, v_rel.relname
            );
        ELSE
            EXECUTE pg_catalog.format('GRANT SELECT ON %I.%I TO schema_tool_readonly', p_schema, v_rel.relname);
        END IF;
        -- reporting sees every tenant's rows (never the secret columns): with row level
        -- security on, it needs its own policy; a read-only one, for this role only. Made
        -- only where it is missing or not that policy: CREATE and DROP POLICY lock the table
        -- against everyone, a table that has it is left alone.
        IF v_rel.relkind IN ('r', 'p') AND NOT EXISTS (
            SELECT FROM pg_catalog.pg_policy AS p
            WHERE
                p.polrelid = v_rel.oid
                AND p.polname = 'schema_tool_readonly_select'
                AND p.polcmd = 'r'
                AND p.polpermissive
                AND p.polroles = ARRAY['schema_tool_readonly'::regrole::oid]
                AND pg_catalog.pg_get_expr(p.polqual, p.polrelid) = 'true'
                AND p.polwithcheck IS NULL
        ) THEN
            EXECUTE pg_catalog.format(
                'DROP POLICY IF EXISTS schema_tool_readonly_select ON %I.%I', p_schema, v_rel.relname
            );
            EXECUTE pg_catalog.format(
                'CREATE POLICY schema_tool_readonly_select ON %I.%I FOR SELECT TO schema_tool_readonly USING (TRUE)',
                p_schema, v_rel.relname
            );
        END IF;
        v_count := v_count + 1;
    END LOOP;
    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION ops.grant_read_only(name, text[]) IS
'Grants schema_tool_readonly SELECT on every table and view of a schema; a table with a column '
'named in p_secret_columns (''table.column'') gets column-level SELECT on its other columns only. '
'Each table also gets the policy schema_tool_readonly_select (FOR SELECT TO schema_tool_readonly), '
'so reporting sees every row under row level security; it is created only where missing, so a '
'call takes no lock that blocks the application on tables that have it. Idempotent: call it again '
'after adding tables. Returns the number of relations granted.';
