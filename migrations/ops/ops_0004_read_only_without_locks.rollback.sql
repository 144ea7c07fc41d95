-- ops 0004 rollback: ops.grant_read_only() as ops_0001 made it (it recreates the policy
-- on every table).

SET LOCAL ROLE schema_tool_owner;

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
        IF v_rel.relkind IN ('r', 'p') THEN
            -- reporting sees every tenant's rows (never the secret columns): with row level
            -- security on, it needs its own policy; a read-only one, for this role only
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
'so reporting sees every row under row level security. Idempotent: call it again after adding '
'tables. Returns the number of relations granted.';
