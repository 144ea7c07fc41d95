-- replay 0004 rollback: removes the six default retention policies (the trigger sets the
-- partitioned tables back to keeping everything).

SET LOCAL ROLE schema_tool_owner;

DELETE FROM replay.retention_policies
WHERE
    table_name IN (
        'audit_logs', 'analytics_events', 'webhook_deliveries', 'user_sessions', 'playback_step_results',
        'file_storage'
    );
