-- recorder 0001 rollback: removes the recorder schema, its partition registrations, what
-- recorder_0001 created for Supabase compatibility (as recorded in recorder.supabase_shim:
-- never an auth schema or role that was there before) and the application role.

SET LOCAL ROLE schema_tool_owner;

SELECT ops.unregister_partitioned_table('recorder.vdi_metrics'::regclass);
SELECT ops.unregister_partitioned_table('recorder.execution_logs'::regclass);

-- the record goes with the schema: keep it for the steps below (this transaction only)
SELECT
    pg_catalog.set_config(
        'schema_tool.recorder_shim',
        coalesce(pg_catalog.string_agg(s.object_type || ':' || s.object_name, ','), ''),
        TRUE
    )
FROM recorder.supabase_shim AS s;

DROP SCHEMA recorder CASCADE;

-- Without CASCADE: if something outside recorder came to depend on the stand-in auth
-- schema, the rollback stops here rather than take it along.
DO $auth$
BEGIN
    IF 'schema:auth' = ANY(pg_catalog.string_to_array(pg_catalog.current_setting('schema_tool.recorder_shim'), ','))
    THEN
        DROP FUNCTION auth.uid();
        DROP TABLE auth.users;
        DROP SCHEMA auth;
    END IF;
END
$auth$;

RESET ROLE;

-- Roles are cluster-wide: one still used by another database is kept.
DO $roles$
DECLARE
    v_entry text;
    v_role name;
BEGIN
    FOREACH v_entry IN ARRAY pg_catalog.string_to_array(pg_catalog.current_setting('schema_tool.recorder_shim'), ',')
    LOOP
        CONTINUE WHEN v_entry NOT LIKE 'role:%';
        v_role := pg_catalog.substr(v_entry, 6);
        CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = v_role);
        BEGIN
            EXECUTE pg_catalog.format('DROP ROLE %I', v_role);
        EXCEPTION WHEN dependent_objects_still_exist THEN
            RAISE NOTICE 'role % is still used by another database of this cluster; kept', v_role;
        END;
    END LOOP;
END
$roles$;

SELECT ops.drop_app_role('recorder');
