-- replay 0005 rollback: replay_app's table-level grants of replay_0003, authenticate_api_key
-- taking the stored hash, the read-only role's earlier column list; the account functions and
-- the triggers go.

SET LOCAL ROLE schema_tool_owner;

-- Grants ------------------------------------------------------------------------------

SELECT ops.grant_read_only('replay', ARRAY[
    'users.password_hash',
    'user_sessions.session_token',
    'user_sessions.refresh_token',
    'api_keys.key_hash',
    'webhooks.secret_key',
    'playback_sessions.session_token'
]);

REVOKE INSERT ON replay.security_events FROM replay_app;
GRANT INSERT ON replay.security_events TO replay_app;
REVOKE INSERT ON replay.analytics_events FROM replay_app;
GRANT INSERT ON replay.analytics_events TO replay_app;
REVOKE INSERT, UPDATE ON replay.webhooks FROM replay_app;
GRANT INSERT, UPDATE ON replay.webhooks TO replay_app;
REVOKE INSERT, UPDATE ON replay.file_storage FROM replay_app;
GRANT INSERT, UPDATE ON replay.file_storage TO replay_app;
REVOKE INSERT, UPDATE ON replay.playback_sessions FROM replay_app;
GRANT INSERT, UPDATE ON replay.playback_sessions TO replay_app;
REVOKE INSERT, UPDATE ON replay.recording_steps FROM replay_app;
GRANT INSERT, UPDATE ON replay.recording_steps TO replay_app;
REVOKE INSERT, UPDATE ON replay.recordings FROM replay_app;
GRANT INSERT, UPDATE ON replay.recordings TO replay_app;
REVOKE UPDATE ON replay.organizations FROM replay_app;
GRANT UPDATE ON replay.organizations TO replay_app;
REVOKE INSERT, UPDATE ON replay.api_keys FROM replay_app;
GRANT INSERT, UPDATE ON replay.api_keys TO replay_app;
REVOKE INSERT, UPDATE ON replay.user_sessions FROM replay_app;
GRANT INSERT, UPDATE ON replay.user_sessions TO replay_app;
REVOKE INSERT, UPDATE ON replay.users FROM replay_app;
GRANT INSERT, UPDATE ON replay.users TO replay_app;

-- Triggers ----------------------------------------------------------------------------

DROP TRIGGER trigger_webhook_deliveries_counters ON replay.webhook_deliveries;
DROP TRIGGER trigger_users_email_change ON replay.users;
DROP TRIGGER trigger_recordings_state_times ON replay.recordings;

-- Functions ---------------------------------------------------------------------------

DROP FUNCTION replay.authenticate_api_key(text);
CREATE FUNCTION replay.authenticate_api_key(p_key_hash text)
RETURNS TABLE (user_id uuid, api_key_id uuid, scopes text[])
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE replay.api_keys AS k
    SET
        usage_count = k.usage_count + 1,
        last_used_at = current_timestamp
    FROM replay.users AS u
    WHERE
        k.key_hash = p_key_hash
        AND k.is_active
        AND (k.expires_at IS NULL OR k.expires_at > current_timestamp)
        AND u.id = k.user_id
        AND u.is_active
        AND u.deleted_at IS NULL
    RETURNING k.user_id, k.id, k.scopes;
END;
COMMENT ON FUNCTION replay.authenticate_api_key(text) IS
'The user, key id and scopes of an active, unexpired API key given its hash (of an active user), '
'counting the use (usage_count, last_used_at); no row otherwise. SECURITY DEFINER: key hashes are '
'not readable by replay_app.';
GRANT EXECUTE ON FUNCTION replay.authenticate_api_key(text) TO replay_app;

DROP FUNCTION replay.close_account();
DROP FUNCTION replay.mark_email_verified();
DROP FUNCTION replay.record_login(text, boolean);
DROP FUNCTION replay.tg__webhook_delivery_counters();
DROP FUNCTION replay.tg__users_email_change();
DROP FUNCTION replay.tg__stamp_state_times();
