-- replay 0003 rollback: the application role's grants, the policies and the tenancy
-- functions (row level security itself stays enabled, as replay_0001 left it).

SET LOCAL ROLE schema_tool_owner;

-- Grants to replay_app (column privileges go with the table's) --------------------------

REVOKE ALL ON ALL TABLES IN SCHEMA replay FROM replay_app;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA replay FROM replay_app;

-- Policies ------------------------------------------------------------------------------

DROP POLICY security_events_insert ON replay.security_events;
DROP POLICY security_events_select ON replay.security_events;
DROP POLICY audit_logs_select ON replay.audit_logs;
DROP POLICY analytics_summaries_select ON replay.analytics_summaries;
DROP POLICY analytics_events_insert ON replay.analytics_events;
DROP POLICY analytics_events_select ON replay.analytics_events;
DROP POLICY webhook_deliveries_webhook ON replay.webhook_deliveries;
DROP POLICY webhooks_delete ON replay.webhooks;
DROP POLICY webhooks_update ON replay.webhooks;
DROP POLICY webhooks_insert ON replay.webhooks;
DROP POLICY webhooks_select ON replay.webhooks;
DROP POLICY file_storage_delete ON replay.file_storage;
DROP POLICY file_storage_update ON replay.file_storage;
DROP POLICY file_storage_insert ON replay.file_storage;
DROP POLICY file_storage_select ON replay.file_storage;
DROP POLICY playback_step_results_session ON replay.playback_step_results;
DROP POLICY playback_sessions_delete ON replay.playback_sessions;
DROP POLICY playback_sessions_update ON replay.playback_sessions;
DROP POLICY playback_sessions_insert ON replay.playback_sessions;
DROP POLICY playback_sessions_select ON replay.playback_sessions;
DROP POLICY recording_steps_delete ON replay.recording_steps;
DROP POLICY recording_steps_update ON replay.recording_steps;
DROP POLICY recording_steps_insert ON replay.recording_steps;
DROP POLICY recording_steps_select ON replay.recording_steps;
DROP POLICY recordings_delete ON replay.recordings;
DROP POLICY recordings_update ON replay.recordings;
DROP POLICY recordings_insert ON replay.recordings;
DROP POLICY recordings_select ON replay.recordings;
DROP POLICY organization_members_delete ON replay.organization_members;
DROP POLICY organization_members_update ON replay.organization_members;
DROP POLICY organization_members_insert ON replay.organization_members;
DROP POLICY organization_members_select ON replay.organization_members;
DROP POLICY organizations_delete ON replay.organizations;
DROP POLICY organizations_update ON replay.organizations;
DROP POLICY organizations_select ON replay.organizations;
DROP POLICY api_keys_own ON replay.api_keys;
DROP POLICY user_sessions_own ON replay.user_sessions;
DROP POLICY users_delete ON replay.users;
DROP POLICY users_update ON replay.users;
DROP POLICY users_insert ON replay.users;
DROP POLICY users_select ON replay.users;

-- Functions -----------------------------------------------------------------------------

DROP FUNCTION replay.search_recordings(text);
DROP FUNCTION replay.like_pattern(text);
DROP FUNCTION replay.webhook_signature(uuid, text);
DROP FUNCTION replay.authenticate_api_key(text);
DROP FUNCTION replay.authenticate_session(text);
DROP FUNCTION replay.create_organization(varchar, varchar, text);
DROP FUNCTION replay.can_access_session(uuid);
DROP FUNCTION replay.can_write_recording(uuid);
DROP FUNCTION replay.can_read_recording(uuid);
DROP FUNCTION replay.webhook_accessible(uuid, uuid);
DROP FUNCTION replay.recording_placeable(uuid, uuid, replay.recording_visibility);
DROP FUNCTION replay.recording_writable(uuid, uuid, replay.recording_visibility);
DROP FUNCTION replay.recording_readable(uuid, uuid, replay.recording_visibility, timestamptz);
DROP FUNCTION replay.is_co_member(uuid);
DROP FUNCTION replay.has_org_role(uuid, replay.organization_member_role[]);
