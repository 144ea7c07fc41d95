-- ops 0003: worker roles, roles that inherit nothing, and role bookkeeping that a
-- non-superuser with CREATEROLE (Supabase's postgres) can undo.
--
-- <system>_worker: one per system that has a queue; claims and completes jobs through
-- functions granted to it only (never to <system>_app). Created by the system's
-- migration through ops.ensure_worker_role().
-- New app and worker roles are NOINHERIT: used directly they have their own grants and
-- nothing more, whatever roles they are later made members of.
-- On PostgreSQL 15, DROP OWNED BY needs the privileges of the role dropped; a superuser
-- has them, a CREATEROLE role gets them by membership, which ops.drop_system_role()
-- grants itself first (CREATEROLE may grant any non-superuser role).
--
-- depends: ops_0002_partition_engine

SET LOCAL ROLE schema_tool_owner;

-- Functions ------------------------------------------------------------------------

-- Runs as the caller (CREATEROLE is the caller's, never the owner's).
CREATE FUNCTION ops.ensure_system_role(p_schema name, p_kind text)
RETURNS name
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_role name;
BEGIN
    IF p_schema IS NULL OR p_schema !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'bad schema name %', p_schema USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_kind IS NULL OR p_kind NOT IN ('app', 'worker') THEN
        RAISE EXCEPTION 'role kind must be app or worker, not %', p_kind
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_role := p_schema || '_' || p_kind;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
        EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN NOINHERIT', v_role);
    END IF;
    EXECUTE pg_catalog.format(
        'ALTER ROLE %I IN DATABASE %I SET search_path = %I, public',
        v_role, current_database(), p_schema
    );
    RETURN v_role;
END
$fn$;
COMMENT ON FUNCTION ops.ensure_system_role(name, text) IS
'Creates the NOLOGIN NOINHERIT role <schema>_<kind> (kind app or worker) if absent and sets its '
'search_path in this database. Idempotent. Runs as the caller, who needs CREATEROLE; call it before '
'SET LOCAL ROLE schema_tool_owner.';

CREATE OR REPLACE FUNCTION ops.ensure_app_role(p_schema name)
RETURNS name
LANGUAGE sql
RETURN ops.ensure_system_role(p_schema, 'app');
COMMENT ON FUNCTION ops.ensure_app_role(name) IS
'Creates the NOLOGIN NOINHERIT application role <schema>_app if absent and sets its search_path in '
'this database. Runs as the caller, who needs CREATEROLE; call it before SET LOCAL ROLE schema_tool_owner.';

CREATE FUNCTION ops.ensure_worker_role(p_schema name)
RETURNS name
LANGUAGE sql
RETURN ops.ensure_system_role(p_schema, 'worker');
COMMENT ON FUNCTION ops.ensure_worker_role(name) IS
'Creates the NOLOGIN NOINHERIT queue worker role <schema>_worker if absent and sets its search_path in '
'this database. Runs as the caller, who needs CREATEROLE; call it before SET LOCAL ROLE schema_tool_owner.';

-- Runs as the caller: DROP OWNED and DROP ROLE need the caller's own rights.
CREATE FUNCTION ops.drop_system_role(p_role name)
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF p_role IS NULL THEN
        RAISE EXCEPTION 'role name is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = p_role) THEN
        RETURN;
    END IF;
    IF NOT pg_catalog.pg_has_role(current_user, p_role, 'USAGE') THEN
        -- a CREATEROLE non-superuser needs the role's privileges for DROP OWNED BY
        EXECUTE pg_catalog.format('GRANT %I TO %I', p_role, current_user);
    END IF;
    EXECUTE pg_catalog.format('ALTER ROLE %I IN DATABASE %I RESET ALL', p_role, current_database());
    EXECUTE pg_catalog.format('DROP OWNED BY %I', p_role);
    BEGIN
        EXECUTE pg_catalog.format('DROP ROLE %I', p_role);
    EXCEPTION WHEN dependent_objects_still_exist THEN
        RAISE NOTICE 'role % is still used by another database of this cluster; kept', p_role;
    END;
END
$fn$;
COMMENT ON FUNCTION ops.drop_system_role(name) IS
'Undoes ops.ensure_system_role (or ops_0001''s roles) in this database: settings, grants and policies '
'of the role, then the role unless another database of the cluster still uses it. Works for a '
'superuser and for a CREATEROLE non-superuser (it makes itself a member first). Absent role: no-op.';

CREATE OR REPLACE FUNCTION ops.drop_app_role(p_schema name)
RETURNS void
LANGUAGE sql
RETURN ops.drop_system_role((p_schema || '_app')::name);
COMMENT ON FUNCTION ops.drop_app_role(name) IS
'Undoes ops.ensure_app_role in this database; drops the role unless another database still uses it.';

CREATE FUNCTION ops.drop_worker_role(p_schema name)
RETURNS void
LANGUAGE sql
RETURN ops.drop_system_role((p_schema || '_worker')::name);
COMMENT ON FUNCTION ops.drop_worker_role(name) IS
'Undoes ops.ensure_worker_role in this database; drops the role unless another database still uses it.';

-- Grants ---------------------------------------------------------------------------

-- ops.partitions is granted to the read-only role; the catalog readers it calls were not
GRANT EXECUTE ON FUNCTION ops.child_bounds(regclass) TO schema_tool_readonly;
GRANT EXECUTE ON FUNCTION ops.control_type(regclass) TO schema_tool_readonly;
GRANT EXECUTE ON FUNCTION ops.bound_value(regtype, text) TO schema_tool_readonly;
