-- replay 0004: the seed's six default retention policies (7.1). The retention_policies
-- trigger of replay_0002 hands the audit_logs and analytics_events rows to the ops engine
-- (retention 365 and 730 days, old partitions detached into replay_archive).
-- depends: replay_0003_tenancy

SET LOCAL ROLE schema_tool_owner;

-- Data ------------------------------------------------------------------------------------

INSERT INTO replay.retention_policies (table_name, retention_days, archive_before_delete) VALUES
('audit_logs', 365, TRUE),
('analytics_events', 730, TRUE),
('webhook_deliveries', 90, FALSE),
('user_sessions', 30, FALSE),
('playback_step_results', 365, TRUE),
('file_storage', 1095, TRUE); -- 3 years
