-- ops 0001 rollback: drops the ops schema and this database's grants to our roles.
-- The roles themselves are dropped only when no other database of the cluster uses
-- them; the extensions stay (other objects may depend on them).

SET LOCAL ROLE schema_tool_owner;

DROP SCHEMA ops CASCADE;

ALTER DEFAULT PRIVILEGES FOR ROLE schema_tool_owner GRANT EXECUTE ON FUNCTIONS TO PUBLIC;

RESET ROLE;

DO $roles$
DECLARE
    v_role name;
BEGIN
    EXECUTE pg_catalog.format('REVOKE CREATE ON DATABASE %I FROM schema_tool_owner', current_database());
    FOREACH v_role IN ARRAY ARRAY['schema_tool_readonly', 'schema_tool_owner']::name[] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = v_role) THEN
            EXECUTE pg_catalog.format('DROP OWNED BY %I', v_role);
            BEGIN
                EXECUTE pg_catalog.format('DROP ROLE %I', v_role);
            EXCEPTION WHEN dependent_objects_still_exist THEN
                RAISE NOTICE 'role % is still used by another database of this cluster; kept', v_role;
            END;
        END IF;
    END LOOP;
END
$roles$;
