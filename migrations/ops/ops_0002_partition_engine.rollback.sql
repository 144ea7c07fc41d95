-- ops 0002 rollback: the partition engine. Registered parents belong to systems whose
-- rollbacks unregister them first; partitions themselves are left alone.

SET LOCAL ROLE schema_tool_owner;

DROP PROCEDURE ops.run_maintenance(regclass, timestamptz);
DROP FUNCTION ops.set_retention(regclass, interval, text);
DROP FUNCTION ops.unregister_partitioned_table(regclass);
DROP FUNCTION ops.register_partitioned_table(regclass, name, integer, integer, interval, text, name, boolean);
DROP FUNCTION ops.apply_retention(regclass, timestamptz, interval);
DROP FUNCTION ops.drop_or_detach(regclass, regclass, timestamptz, uuid);
DROP FUNCTION ops.drain_default(regclass);
DROP FUNCTION ops.ensure_partitions(regclass, timestamptz, integer, integer);
DROP FUNCTION ops.registered_parents(regclass);
DROP FUNCTION ops.ensure_default_partition(regclass);
DROP FUNCTION ops.create_partition(regclass, date, uuid);
DROP FUNCTION ops.mirror_parent(regclass, regclass);
DROP FUNCTION ops.log_step(uuid, regclass, text, name, bigint, timestamptz, text);
DROP FUNCTION ops.retention_plan(regclass, timestamptz, interval);
DROP FUNCTION ops.retention_cutoff(regclass, timestamptz, interval);
DROP FUNCTION ops.partition_plan(regclass, timestamptz, integer, integer, boolean);
DROP FUNCTION ops.month_is_free(regclass, date);
DROP FUNCTION ops.default_months(regclass);
DROP FUNCTION ops.default_partition(regclass);
DROP FUNCTION ops.registered(regclass);
DROP VIEW ops.partitions;
DROP FUNCTION ops.partition_bounds(regclass);
DROP FUNCTION ops.child_bounds(regclass);
DROP FUNCTION ops.bound_value(regtype, text);
DROP FUNCTION ops.bound_literal(regtype, timestamptz);
DROP FUNCTION ops.control_type(regclass);
DROP FUNCTION ops.lock_key(regclass);
DROP FUNCTION ops.default_partition_name(name);
DROP FUNCTION ops.partition_name(name, date);
DROP FUNCTION ops.fit_name(text, text);
DROP TABLE ops.maintenance_log;
DROP TABLE ops.partitioned_tables;
