-- replay 0002 rollback: the views, triggers and functions of replay_0002 and the full-text
-- index, in reverse order. Read-only grants on the views go with them.

SET LOCAL ROLE schema_tool_owner;

-- Views ---------------------------------------------------------------------------------

DROP VIEW replay.long_running_queries;
DROP VIEW replay.index_usage_stats;
DROP VIEW replay.database_size_stats;
DROP VIEW replay.user_activity_summaries;
DROP VIEW replay.active_playback_sessions;
DROP VIEW replay.recording_summaries;

-- Triggers ------------------------------------------------------------------------------

DROP TRIGGER _500_sync_retention ON replay.retention_policies;
DROP TRIGGER audit_users_trigger ON replay.users;
DROP TRIGGER audit_recordings_trigger ON replay.recordings;
DROP TRIGGER trigger_retention_policies_updated_at ON replay.retention_policies;
DROP TRIGGER trigger_security_events_updated_at ON replay.security_events;
DROP TRIGGER trigger_webhooks_updated_at ON replay.webhooks;
DROP TRIGGER trigger_file_storage_updated_at ON replay.file_storage;
DROP TRIGGER trigger_analytics_summaries_updated_at ON replay.analytics_summaries;
DROP TRIGGER trigger_organizations_updated_at ON replay.organizations;
DROP TRIGGER trigger_playback_sessions_updated_at ON replay.playback_sessions;
DROP TRIGGER trigger_recordings_updated_at ON replay.recordings;
DROP TRIGGER trigger_users_updated_at ON replay.users;

-- Functions -----------------------------------------------------------------------------

DROP FUNCTION replay.tg__sync_retention();
DROP FUNCTION replay.audit_trigger_function();
DROP FUNCTION replay.update_updated_at_column();
DROP FUNCTION replay.vacuum_analyze_tables();
DROP FUNCTION replay.reindex_tables();
DROP FUNCTION replay.update_table_statistics();
DROP FUNCTION replay.archive_old_data(text, integer);
DROP FUNCTION replay.archive_rows(name, text, boolean);
DROP FUNCTION replay.cleanup_old_audit_logs(integer);
DROP FUNCTION replay.ensure_future_partitions();
DROP FUNCTION replay.create_monthly_partition(text, text);
DROP FUNCTION replay.get_recording_step_stats(uuid);
DROP FUNCTION replay.calculate_compression_ratio(bigint, bigint);
DROP INDEX replay.idx_recordings_search;
DROP FUNCTION replay.recording_search_vector(text, text, text[]);
DROP FUNCTION replay.current_user_id();
