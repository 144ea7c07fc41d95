"""The seed's objects exist in schema replay under their names, with the seed's types."""

from __future__ import annotations

from pg import TestDB

ENUMS = {
    "user_role": ["admin", "manager", "member", "viewer"],
    "organization_plan": ["basic", "pro", "enterprise"],
    "subscription_status": ["active", "inactive", "suspended", "cancelled"],
    "organization_member_role": ["owner", "admin", "manager", "member", "viewer"],
    "recording_status": ["ready", "recording", "processing", "completed", "error", "archived"],
    "recording_visibility": ["private", "team", "organization", "public"],
    "interaction_type": [
        "page_load", "navigation", "click", "double_click", "right_click", "input", "change", "submit", "focus",
        "blur", "hover", "scroll", "resize", "key_down", "key_up", "key_press", "mouse_move", "mouse_enter",
        "mouse_leave", "drag", "drop",
    ],
    "playback_status": ["created", "preparing", "running", "paused", "completed", "failed", "cancelled", "timeout"],
    "step_execution_status": ["pending", "running", "completed", "failed", "skipped", "retrying", "timeout"],
    "analytics_event_type": [
        "recording_created", "recording_started", "recording_completed", "recording_failed", "playback_started",
        "playback_completed", "playback_failed", "playback_paused", "step_executed", "step_failed",
        "element_not_found", "user_login", "user_logout", "api_request", "error_occurred", "performance_metric",
    ],
    "analytics_summary_type": ["recording_stats", "playback_stats", "user_activity", "error_stats",
                               "performance_stats"],
    "analytics_time_period": ["hourly", "daily", "weekly", "monthly"],
    "file_type": ["recording_data", "dom_snapshot", "screenshot", "video", "log", "report", "export"],
    "storage_provider": ["aws_s3", "gcs", "azure_blob", "local"],
    "webhook_delivery_status": ["pending", "delivered", "failed", "cancelled"],
    "audit_action": ["create", "read", "update", "delete", "login", "logout", "upload", "download", "share",
                     "execute", "cancel"],
    "audit_status": ["success", "failure", "partial"],
    "security_event_type": ["failed_login", "suspicious_activity", "rate_limit_exceeded", "unauthorized_access",
                            "data_breach_attempt", "malicious_request"],
    "security_severity": ["low", "medium", "high", "critical"],
    "security_status": ["open", "investigating", "resolved", "false_positive"],
    "backup_type": ["full", "incremental", "transaction_log"],
    "backup_status": ["running", "completed", "failed", "cancelled"],
}

# table -> number of columns in the seed (playback_sessions: +1, the added updated_at)
TABLES = {
    "users": 15, "user_sessions": 11, "api_keys": 12, "organizations": 11, "organization_members": 9,
    "recordings": 24, "recording_steps": 14, "playback_sessions": 25, "playback_step_results": 21,
    "analytics_events": 15, "analytics_summaries": 10, "file_storage": 22, "webhooks": 15,
    "webhook_deliveries": 17, "audit_logs": 16, "security_events": 13, "retention_policies": 7,
    "backup_metadata": 12, "recovery_points": 7,
    "organization_invitations": 7,  # not the seed's: membership by invitation (issue 11)
}

SEED_FUNCTIONS = {
    "replay.calculate_compression_ratio(bigint,bigint)": "numeric",
    "replay.get_recording_step_stats(uuid)": "record",
    "replay.cleanup_old_audit_logs(integer)": "integer",
    "replay.update_updated_at_column()": "trigger",
    "replay.audit_trigger_function()": "trigger",
    "replay.create_monthly_partition(text,text)": "void",
    "replay.ensure_future_partitions()": "void",
    "replay.archive_old_data(text,integer)": "integer",
    "replay.update_table_statistics()": "void",
    "replay.reindex_tables()": "void",
    "replay.vacuum_analyze_tables()": "text",  # SETOF text: VACUUM cannot run in a function
}

SEED_TRIGGERS = {
    ("users", "trigger_users_updated_at"), ("recordings", "trigger_recordings_updated_at"),
    ("playback_sessions", "trigger_playback_sessions_updated_at"), ("recordings", "audit_recordings_trigger"),
    ("users", "audit_users_trigger"),
}

VIEWS = ["recording_summaries", "active_playback_sessions", "user_activity_summaries", "database_size_stats",
         "index_usage_stats", "long_running_queries"]

SEED_INDEXES = """
idx_users_email idx_users_role idx_users_active idx_users_created_at idx_users_deleted_at
idx_user_sessions_user_id idx_user_sessions_token idx_user_sessions_active idx_user_sessions_expires_at
idx_api_keys_user_id idx_api_keys_key_hash idx_api_keys_prefix idx_api_keys_active
idx_organizations_slug idx_organizations_name_lower idx_org_members_organization_id idx_org_members_user_id
idx_org_members_role idx_recordings_user_id idx_recordings_organization_id idx_recordings_status
idx_recordings_visibility idx_recordings_tags idx_recordings_category idx_recordings_url idx_recordings_created_at
idx_recordings_last_accessed_at idx_recordings_deleted_at idx_recordings_search
idx_recording_steps_recording_id idx_recording_steps_step_number idx_recording_steps_timestamp
idx_recording_steps_interaction_type
idx_playback_sessions_recording_id idx_playback_sessions_user_id idx_playback_sessions_status
idx_playback_sessions_created_at idx_playback_sessions_completed_at idx_playback_sessions_token
idx_step_results_session_id idx_step_results_step_number idx_step_results_status idx_step_results_error_type
idx_step_results_completed_at idx_analytics_events_type idx_analytics_events_user_id
idx_analytics_events_recording_id idx_analytics_events_session_id
idx_analytics_summaries_type_period idx_analytics_summaries_period_start idx_analytics_summaries_user_id
idx_analytics_summaries_org_id idx_file_storage_recording_id idx_file_storage_session_id
idx_file_storage_file_type idx_file_storage_created_at idx_file_storage_checksum idx_file_storage_archived
idx_webhooks_user_id idx_webhooks_organization_id idx_webhooks_active idx_webhooks_events
idx_webhook_deliveries_webhook_id idx_webhook_deliveries_status idx_webhook_deliveries_scheduled_at
idx_webhook_deliveries_event_type idx_webhook_deliveries_retry idx_audit_logs_user_id idx_audit_logs_action
idx_audit_logs_resource idx_audit_logs_ip_address idx_security_events_type idx_security_events_severity
idx_security_events_status idx_security_events_user_id idx_security_events_ip_address
idx_security_events_created_at idx_recordings_user_status_created idx_playback_sessions_recording_status
idx_recording_steps_recording_timestamp idx_users_active_email idx_recordings_public idx_recordings_name_trgm
idx_recordings_description_trgm
""".split()


def check_enum_labels(db: TestDB) -> None:
    rows = db.query(
        """SELECT t.typname, array_agg(e.enumlabel ORDER BY e.enumsortorder)
           FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid
           WHERE t.typnamespace = 'replay'::regnamespace GROUP BY t.typname"""
    )
    assert dict(rows) == ENUMS


def check_column_counts(db: TestDB) -> None:
    rows = db.query(
        """SELECT c.relname, count(a.attnum) FROM pg_class c
           JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
           WHERE c.relnamespace = 'replay'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
           GROUP BY c.relname"""
    )
    assert dict(rows) == TABLES


def check_enum_columns(db: TestDB) -> None:
    rows = db.query(
        """SELECT c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a
           JOIN pg_class c ON c.oid = a.attrelid JOIN pg_type t ON t.oid = a.atttypid
           WHERE c.relnamespace = 'replay'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND t.typtype = 'e'"""
    )
    columns = dict(rows)
    assert columns["users.role"] == "replay.user_role"
    assert columns["organizations.subscription_plan"] == "replay.organization_plan"
    assert columns["recording_steps.interaction_type"] == "replay.interaction_type"
    assert columns["audit_logs.action"] == "replay.audit_action"
    assert columns["backup_metadata.status"] == "replay.backup_status"
    # every enum type is used by some column
    assert {t.removeprefix("replay.") for t in columns.values()} == set(ENUMS)


def check_column_types(db: TestDB) -> None:
    rows = dict(db.query(
        """SELECT c.relname || '.' || a.attname,
                  format_type(a.atttypid, a.atttypmod) || coalesce(' = ' || pg_get_expr(d.adbin, d.adrelid), '')
           FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
           LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE c.relnamespace = 'replay'::regnamespace AND a.attnum > 0 AND c.relkind IN ('r', 'p')"""
    ))
    assert rows["recordings.compression_ratio"] == "numeric(5,2)"
    assert rows["recordings.tags"] == "text[] = ARRAY[]::text[]"
    assert rows["users.email"] == "character varying(255)"
    assert rows["webhooks.retry_policy"] == """jsonb = '{"maxRetries": 3, "retryDelay": 5000}'::jsonb"""
    assert rows["analytics_events.numeric_value"] == "numeric(10,4)"
    assert rows["webhook_deliveries.http_method"] == "character varying(10) = 'POST'::character varying"
    assert rows["audit_logs.created_at"] == "timestamp with time zone = CURRENT_TIMESTAMP"


def check_function_signatures(db: TestDB) -> None:
    rows = db.query(
        """SELECT p.oid::regprocedure::text, format_type(p.prorettype, NULL) FROM pg_proc p
           WHERE p.pronamespace = 'replay'::regnamespace"""
    )
    found = {name.replace(" ", ""): result for name, result in rows}
    assert {name: found.get(name.replace(" ", "")) for name in SEED_FUNCTIONS} == SEED_FUNCTIONS
    # parameter names are part of the contract (named-argument calls)
    assert db.scalar("SELECT replay.archive_old_data(table_name_param => 'user_sessions', retention_days_param => 1)"
                     ) == 0


def check_function_comments(db: TestDB) -> None:
    rows = db.query(
        """SELECT p.oid::regprocedure::text FROM pg_proc p
           WHERE p.pronamespace = 'replay'::regnamespace AND obj_description(p.oid, 'pg_proc') IS NULL"""
    )
    assert rows == []


def check_triggers(db: TestDB) -> None:
    rows = db.query(
        """SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
           WHERE c.relnamespace = 'replay'::regnamespace AND NOT t.tgisinternal"""
    )
    assert SEED_TRIGGERS <= set(rows)


def check_views(db: TestDB) -> None:
    for view in VIEWS:
        db.query(f"SELECT * FROM replay.{view}")  # each runs (the seed's index_usage_stats did not)
    kinds = dict(db.query("SELECT relname, relkind FROM pg_class WHERE relnamespace = 'replay'::regnamespace"))
    assert {kinds[v] for v in VIEWS} == {"v"}


def check_seed_indexes(db: TestDB) -> None:
    names = {r[0] for r in db.query("SELECT indexname FROM pg_indexes WHERE schemaname = 'replay'")}
    assert sorted(set(SEED_INDEXES) - names) == []


def check_parent_indexes(db: TestDB) -> None:
    rows = dict(db.query(
        """SELECT c.relname, pg_get_indexdef(c.oid) FROM pg_class c
           WHERE c.relnamespace = 'replay'::regnamespace AND c.relkind = 'I'"""
    ))
    assert "ON ONLY replay.recording_steps USING btree (interaction_type)" in rows[
        "idx_recording_steps_interaction_type"]
    assert "replay.analytics_events USING btree (session_id)" in rows["idx_analytics_events_session_id"]
    assert "replay.audit_logs USING btree (resource_type, resource_id)" in rows["idx_audit_logs_resource"]
    # every partition of the three partitioned tables carries every parent index
    missing = db.query(
        """SELECT parent.relname, child.relname, pi.relname
           FROM pg_class parent JOIN pg_inherits i ON i.inhparent = parent.oid
           JOIN pg_class child ON child.oid = i.inhrelid
           JOIN pg_index px ON px.indrelid = parent.oid JOIN pg_class pi ON pi.oid = px.indexrelid
           WHERE parent.relnamespace = 'replay'::regnamespace AND parent.relkind = 'p'
             AND NOT EXISTS (SELECT FROM pg_inherits ii JOIN pg_index cx ON cx.indexrelid = ii.inhrelid
                             WHERE ii.inhparent = px.indexrelid AND cx.indrelid = child.oid)"""
    )
    assert missing == []


def check_hash_partitions(db: TestDB) -> None:
    bounds = db.query(
        """SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i
           JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'replay.recording_steps'::regclass
           ORDER BY 1"""
    )
    assert bounds == [(f"recording_steps_p{r}", f"FOR VALUES WITH (modulus 4, remainder {r})") for r in range(4)]
    assert db.scalar("SELECT pg_get_partkeydef('replay.recording_steps'::regclass)") == "HASH (recording_id)"


def check_monthly_registration(db: TestDB) -> None:
    rows = db.query(
        """SELECT parent_table, control_column, premake, retention, retention_mode
           FROM ops.partitioned_tables WHERE parent_schema = 'replay' ORDER BY 1"""
    )
    assert [r[:3] for r in rows] == [("analytics_events", "created_at", 3), ("audit_logs", "created_at", 3)]
    defaults = db.query(
        "SELECT parent_table, partition_name FROM ops.partitions WHERE parent_schema = 'replay' AND is_default"
    )
    assert sorted(defaults) == [("analytics_events", "analytics_events_default"),
                                ("audit_logs", "audit_logs_default")]
    months = db.scalar(
        "SELECT count(*) FROM ops.partitions WHERE parent_table = 'audit_logs' AND lower_bound >= "
        "date_trunc('month', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'"
    )
    assert months == 4  # this month and 3 ahead


def check_row_level_security(db: TestDB) -> None:
    rows = db.query(
        """SELECT c.oid::regclass::text FROM pg_class c
           WHERE c.relnamespace = 'replay'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity"""
    )
    assert rows == []


def check_retention_policies(db: TestDB) -> None:
    rows = db.query(
        "SELECT table_name, retention_days, archive_before_delete, is_active FROM replay.retention_policies"
        " ORDER BY table_name"
    )
    assert rows == [
        ("analytics_events", 730, True, True), ("audit_logs", 365, True, True), ("file_storage", 1095, True, True),
        ("playback_step_results", 365, True, True), ("user_sessions", 30, False, True),
        ("webhook_deliveries", 90, False, True),
    ]


def check_jsonb_comments(db: TestDB) -> None:
    comment = db.scalar("SELECT col_description('replay.recordings'::regclass, "
                        "(SELECT attnum FROM pg_attribute WHERE attrelid = 'replay.recordings'::regclass"
                        " AND attname = 'settings'))")
    assert comment.startswith("JSONB structure: {") and '"maskSensitiveData": boolean' in comment


# One database clone per topic (each clone costs most of a test's time).


def test_types_tables_and_columns(db: TestDB) -> None:
    check_enum_labels(db)
    check_column_counts(db)
    check_enum_columns(db)
    check_column_types(db)


def test_functions_triggers_and_views(db: TestDB) -> None:
    check_function_signatures(db)
    check_function_comments(db)
    check_triggers(db)
    check_views(db)


def test_indexes(db: TestDB) -> None:
    check_seed_indexes(db)
    check_parent_indexes(db)


def test_partitions_and_row_level_security(db: TestDB) -> None:
    check_hash_partitions(db)
    check_monthly_registration(db)
    check_row_level_security(db)


def test_seed_data_and_comments(db: TestDB) -> None:
    check_retention_policies(db)
    check_jsonb_comments(db)
