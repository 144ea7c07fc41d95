-- capture 0001 rollback: removes the capture schema, its partition registration and its
-- application role.

SET LOCAL ROLE schema_tool_owner;

SELECT ops.unregister_partitioned_table('capture.events'::regclass);

DROP SCHEMA capture CASCADE;

RESET ROLE;

SELECT ops.drop_app_role('capture');
