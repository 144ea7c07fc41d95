-- recorder 0007: validates the constraints recorder_0004 and recorder_0005 added NOT VALID,
-- in a transaction of its own. VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE: reads and
-- writes go on while each table (partition by partition) is checked. A row outside a
-- partition key's range makes this fail with the constraint's name (23514): fix or remove it
-- (SELECT ... FROM recorder.execution_logs WHERE NOT ("timestamp" >= '2000-01-01' AND
-- "timestamp" < '2100-01-01')), then migrate again.
-- depends: recorder_0006_team_invitations

SET LOCAL ROLE schema_tool_owner;

ALTER TABLE recorder.execution_jobs VALIDATE CONSTRAINT check_execution_jobs_attempts;
ALTER TABLE recorder.execution_logs VALIDATE CONSTRAINT chk_execution_logs_timestamp_range;
ALTER TABLE recorder.vdi_metrics VALIDATE CONSTRAINT chk_vdi_metrics_recorded_at_range;
