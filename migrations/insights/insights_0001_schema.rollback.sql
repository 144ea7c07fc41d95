-- insights 0001 rollback: removes the insights schema, its partition registrations and its
-- application role.

SET LOCAL ROLE schema_tool_owner;

SELECT ops.unregister_partitioned_table('insights.error_logs'::regclass);
SELECT ops.unregister_partitioned_table('insights.latency_metrics'::regclass);
SELECT ops.unregister_partitioned_table('insights.heatmap_points'::regclass);
SELECT ops.unregister_partitioned_table('insights.events'::regclass);

DROP SCHEMA insights CASCADE;

RESET ROLE;

SELECT ops.drop_app_role('insights');
