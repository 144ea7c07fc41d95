-- scrapifie 0001 rollback: removes the scrapifie schema, its partition registrations and
-- its application role.

SET LOCAL ROLE schema_tool_owner;

SELECT ops.unregister_partitioned_table('scrapifie.usage_records'::regclass);
SELECT ops.unregister_partitioned_table('scrapifie.job_events'::regclass);

DROP SCHEMA scrapifie CASCADE;

RESET ROLE;

SELECT ops.drop_app_role('scrapifie');
