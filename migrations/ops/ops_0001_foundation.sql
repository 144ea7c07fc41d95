-- ops 0001: the roles model, the extension set and the ops schema.
--
-- Roles are cluster-wide, so they are created only when absent (another database of
-- the cluster may already use them) and never renamed:
--   schema_tool_owner     owns every schema and object of this package. Migrations
--                         switch to it with SET LOCAL ROLE, so objects (and the
--                         SECURITY DEFINER functions among them) never belong to a
--                         superuser. NOLOGIN: the migrating user is made a member.
--   schema_tool_readonly  SELECT on the non-secret tables and columns of every system,
--                         granted by each system through ops.grant_read_only().
--   <system>_app          one per system, created by the system's first migration
--                         through ops.ensure_app_role(), search_path set to its schema.
-- Nobody but the owner can create objects in our schemas; functions are not
-- executable by PUBLIC unless a migration grants it on purpose.

-- Roles --------------------------------------------------------------------------

DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'schema_tool_owner') THEN
        CREATE ROLE schema_tool_owner NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'schema_tool_readonly') THEN
        CREATE ROLE schema_tool_readonly NOLOGIN;
    END IF;
    IF NOT pg_catalog.pg_has_role(current_user, 'schema_tool_owner', 'MEMBER') THEN
        EXECUTE pg_catalog.format('GRANT schema_tool_owner TO %I', current_user);
    END IF;
    EXECUTE pg_catalog.format('GRANT CREATE ON DATABASE %I TO schema_tool_owner', current_database());
END
$roles$;

-- PostgreSQL 15 no longer lets PUBLIC create in schema public, but databases created
-- from an older template or upgraded in place still do.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Extensions (trusted ones; kept by the rollback, other objects may use them) --------

CREATE EXTENSION IF NOT EXISTS pgcrypto;
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS btree_gin;

-- Everything below belongs to the owner role -------------------------------------

SET LOCAL ROLE schema_tool_owner;

ALTER DEFAULT PRIVILEGES FOR ROLE schema_tool_owner REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC;

CREATE SCHEMA ops;
COMMENT ON SCHEMA ops IS
'Shared by every system: roles helpers, the partition registry and engine, the maintenance log.';
GRANT USAGE ON SCHEMA ops TO schema_tool_readonly;

-- Functions ------------------------------------------------------------------------

CREATE FUNCTION ops.ensure_app_role(p_schema name)
RETURNS name
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_role name := p_schema || '_app';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
        EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', v_role);
    END IF;
    EXECUTE pg_catalog.format(
        'ALTER ROLE %I IN DATABASE %I SET search_path = %I, public',
        v_role, current_database(), p_schema
    );
    RETURN v_role;
END
$fn$;
COMMENT ON FUNCTION ops.ensure_app_role(name) IS
'Creates the NOLOGIN application role <schema>_app if absent and sets its search_path in this '
'database. Runs as the caller, who needs CREATEROLE; call it before SET LOCAL ROLE schema_tool_owner.';

CREATE FUNCTION ops.drop_app_role(p_schema name)
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_role name := p_schema || '_app';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
        RETURN;
    END IF;
    EXECUTE pg_catalog.format('ALTER ROLE %I IN DATABASE %I RESET ALL', v_role, current_database());
    EXECUTE pg_catalog.format('DROP OWNED BY %I', v_role);
    BEGIN
        EXECUTE pg_catalog.format('DROP ROLE %I', v_role);
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'role % is still used by another database of this cluster; kept', v_role;
    END;
END
$fn$;
COMMENT ON FUNCTION ops.drop_app_role(name) IS
'Undoes ops.ensure_app_role in this database; drops the role unless another database still uses it.';

CREATE FUNCTION ops.grant_read_only(p_schema name, p_secret_columns text[] DEFAULT '{}')
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
