-- replay 0001 rollback: removes the replay schema (and replay_archive, where retention
-- detached old partitions and archive_old_data() moved old rows), its partition
-- registrations and its application role.

SET LOCAL ROLE schema_tool_owner;

SELECT ops.unregister_partitioned_table('replay.audit_logs'::regclass);
SELECT ops.unregister_partitioned_table('replay.analytics_events'::regclass);

DROP SCHEMA IF EXISTS replay_archive CASCADE;
DROP SCHEMA replay CASCADE;

RESET ROLE;

SELECT ops.drop_app_role('replay');
