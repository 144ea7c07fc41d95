-- ops 0003 rollback: the functions of ops_0002's time come back. ops_0001's rollback
-- runs DROP OWNED BY schema_tool_readonly, which a CREATEROLE non-superuser may do only as
-- a member of it: that membership is granted here, before the old functions return.

SET LOCAL ROLE schema_tool_owner;

REVOKE EXECUTE ON FUNCTION ops.bound_value(regtype, text) FROM schema_tool_readonly;
REVOKE EXECUTE ON FUNCTION ops.control_type(regclass) FROM schema_tool_readonly;
REVOKE EXECUTE ON FUNCTION ops.child_bounds(regclass) FROM schema_tool_readonly;

DROP FUNCTION ops.drop_worker_role(name);

CREATE OR REPLACE FUNCTION ops.drop_app_role(p_schema name)
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

DROP FUNCTION ops.drop_system_role(name);

DROP FUNCTION ops.ensure_worker_role(name);

CREATE OR REPLACE FUNCTION ops.ensure_app_role(p_schema name)
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

DROP FUNCTION ops.ensure_system_role(name, text);

RESET ROLE;

DO $member$
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, 'schema_tool_readonly', 'USAGE') THEN
        EXECUTE pg_catalog.format('GRANT schema_tool_readonly TO %I', current_user);
    END IF;
END
$member$;
