-- replay 0008: validates the constraints replay_0006 and replay_0007 added NOT VALID, in a
-- transaction of its own. VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE on the checked
-- table (ROW SHARE on a referenced one): reads and writes go on while it scans. A row outside
-- a partition key's range makes this fail with the constraint's name (23514): fix or remove it
-- (SELECT ... FROM replay.analytics_events WHERE NOT (created_at >= '2000-01-01' AND
-- created_at < '2100-01-01')), then migrate again.
-- depends: replay_0007_bad_input

SET LOCAL ROLE schema_tool_owner;

ALTER TABLE replay.recordings VALIDATE CONSTRAINT recordings_organization_id_fkey;
ALTER TABLE replay.playback_sessions VALIDATE CONSTRAINT playback_sessions_organization_id_fkey;
ALTER TABLE replay.analytics_events VALIDATE CONSTRAINT chk_analytics_events_created_at_range;
ALTER TABLE replay.audit_logs VALIDATE CONSTRAINT chk_audit_logs_created_at_range;
