-- replay 0005: values the database assigns, secrets, API keys hashed inside the database
-- (issue 11, items 2 and 5 for replay).
-- depends: replay_0004_retention_policies
--
-- replay_app acts for one user at a time; these columns are no longer its to write:
--   users            role, is_active, is_verified, last_login_at, failed_login_attempts,
--                    locked_until, deleted_at, created_at, updated_at: account state, written by
--                    record_login(), mark_email_verified(), close_account() (each checks the
--                    acting user) and by the owner role (back office); a changed email is
--                    unverified again (trigger).
--   organizations    subscription_plan, subscription_status, subscription_expires_at (billing:
--                    the owner role or a billing service), created_at, updated_at.
--   api_keys         usage_count, last_used_at (authenticate_api_key counts), rate_limit_per_hour
--                    (the plan's), created_at; key_hash is set once, at creation.
--   webhooks         success_count, failure_count, last_triggered_at: kept by a trigger on
--                    webhook_deliveries.
--   user_sessions    created_at, last_activity_at (authenticate_session touches it).
--   recordings       user_id (after creation), created_at, updated_at; deleted_at, archived_at
--                    and last_accessed_at may be set or cleared, but the database writes the time.
--   recording_steps, playback_sessions, file_storage: created_at, updated_at (and a session's
--                    user_id and recording_id; file_storage's archived/archived_at, maintenance's).
--   analytics_events id and created_at (the partition key: the database's clock, so no tenant
--                    picks which partitions maintenance creates); security_events: triage columns.
-- replay.authenticate_api_key(text) now takes the raw key and compares its SHA-256 (hex) with
-- api_keys.key_hash: the stored hash is no longer itself a credential.
-- schema_tool_readonly no longer reads credential-bearing columns: webhook and delivery
-- headers, delivery payloads and responses, recorded input values and DOM snapshots, the
-- network requests, console logs and error details of playback steps, browser session ids.

SET LOCAL ROLE schema_tool_owner;

-- Functions: triggers ------------------------------------------------------------------

CREATE FUNCTION replay.tg__stamp_state_times()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    -- the owner role (maintenance, back office) writes what it means to
    IF pg_catalog.pg_has_role(current_user, 'schema_tool_owner', 'USAGE') THEN
        RETURN NEW;
    END IF;
    IF NEW.deleted_at IS NOT NULL THEN
        NEW.deleted_at := coalesce(OLD.deleted_at, current_timestamp);
    END IF;
    IF NEW.archived_at IS NOT NULL THEN
        NEW.archived_at := coalesce(OLD.archived_at, current_timestamp);
    END IF;
    IF NEW.last_accessed_at IS DISTINCT FROM OLD.last_accessed_at THEN
        NEW.last_accessed_at := current_timestamp;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION replay.tg__stamp_state_times() IS
'BEFORE UPDATE OF deleted_at, archived_at, last_accessed_at on recordings: a tenant decides the state '
'(deleted, archived, accessed; or not), the database writes the time (a deletion or archival keeps its '
'first time). The owner role writes times as given.';

CREATE FUNCTION replay.tg__users_email_change()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF NEW.email IS DISTINCT FROM OLD.email
        AND NOT pg_catalog.pg_has_role(current_user, 'schema_tool_owner', 'USAGE') THEN
        NEW.is_verified := FALSE;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION replay.tg__users_email_change() IS
'BEFORE UPDATE OF email on users: a new address is unverified (is_verified false) until '
'replay.mark_email_verified(). The owner role is exempt.';

-- SECURITY DEFINER: the counters are not writable by replay_app.
CREATE FUNCTION replay.tg__webhook_delivery_counters()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE replay.webhooks AS w
        SET last_triggered_at = current_timestamp
        WHERE w.id = NEW.webhook_id;
    ELSIF NEW.status IS DISTINCT FROM OLD.status AND NEW.status IN ('delivered', 'failed') THEN
        UPDATE replay.webhooks AS w
        SET success_count = coalesce(w.success_count, 0) + (NEW.status = 'delivered')::integer,
            failure_count = coalesce(w.failure_count, 0) + (NEW.status = 'failed')::integer
        WHERE w.id = NEW.webhook_id;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION replay.tg__webhook_delivery_counters() IS
'AFTER INSERT OR UPDATE OF status on webhook_deliveries: a new delivery sets its webhook''s '
'last_triggered_at; a delivery that becomes delivered or failed counts in success_count or '
'failure_count. SECURITY DEFINER: replay_app cannot write the counters.';

-- Functions: account state (SECURITY DEFINER: replay_app has no UPDATE on these columns;
-- each checks the acting user) ---------------------------------------------------------

CREATE FUNCTION replay.record_login(p_email text, p_success boolean)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_id uuid;
BEGIN
    IF p_email IS NULL OR p_success IS NULL THEN
        RAISE EXCEPTION 'email and outcome must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.btrim(p_email) = '' THEN
        RAISE EXCEPTION 'email must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_success THEN
        UPDATE replay.users AS u
        SET last_login_at = current_timestamp,
            failed_login_attempts = 0,
            locked_until = NULL
        WHERE
            u.email = p_email
            AND u.id = replay.current_user_id()
            AND u.is_active
            AND u.deleted_at IS NULL
            AND (u.locked_until IS NULL OR u.locked_until <= current_timestamp)
        RETURNING u.id INTO v_id;
        IF v_id IS NULL THEN
            RAISE EXCEPTION 'a successful login is recorded for the acting user (app.user_id), active and not locked'
                USING ERRCODE = 'insufficient_privilege';
        END IF;
        RETURN v_id;
    END IF;
    -- five failures in a row lock the account for 15 minutes (each further failure renews it)
    UPDATE replay.users AS u
    SET failed_login_attempts = coalesce(u.failed_login_attempts, 0) + 1,
        locked_until = CASE
            WHEN coalesce(u.failed_login_attempts, 0) + 1 >= 5 THEN current_timestamp + interval '15 minutes'
            ELSE u.locked_until
        END
    WHERE u.email = p_email AND u.deleted_at IS NULL;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION replay.record_login(text, boolean) IS
'The application records a login attempt after checking the password. Success: only for the acting '
'user (app.user_id), active and not locked (else 42501); sets last_login_at, clears the failures and '
'the lock; returns the user id. Failure: counts it (five in a row lock the account for 15 minutes) and '
'returns NULL whether or not the email exists. 22004 NULLs, 22023 empty email.';

CREATE FUNCTION replay.mark_email_verified()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF replay.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'set app.user_id to verify an email' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE replay.users AS u
    SET is_verified = TRUE
    WHERE u.id = replay.current_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no user %', replay.current_user_id() USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION replay.mark_email_verified() IS
'The acting user''s email is verified (the application checked the emailed link first). 42501 when '
'no user acts; P0002 when the acting user does not exist.';

CREATE FUNCTION replay.close_account()
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF replay.current_user_id() IS NULL THEN
        RAISE EXCEPTION 'set app.user_id to close an account' USING ERRCODE = 'insufficient_privilege';
    END IF;
    UPDATE replay.users AS u
    SET deleted_at = coalesce(u.deleted_at, current_timestamp),
        is_active = FALSE
    WHERE u.id = replay.current_user_id();
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no user %', replay.current_user_id() USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION replay.close_account() IS
'Soft-deletes the acting user''s account (deleted_at, is_active false; sessions and API keys stop '
'authenticating). 42501 when no user acts; P0002 when the acting user does not exist.';

-- SECURITY DEFINER: key hashes are not readable by replay_app; this hashes the raw key and
-- looks the hash up without revealing any, and counts the use.
DROP FUNCTION replay.authenticate_api_key(text);
CREATE FUNCTION replay.authenticate_api_key(p_key text)
RETURNS TABLE (user_id uuid, api_key_id uuid, scopes text[])
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_key IS NULL THEN
        RAISE EXCEPTION 'key must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_key = '' THEN
        RAISE EXCEPTION 'key must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    UPDATE replay.api_keys AS k
    SET usage_count = coalesce(k.usage_count, 0) + 1,
        last_used_at = current_timestamp
    FROM replay.users AS u
    WHERE
        k.key_hash = pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(p_key, 'UTF8')), 'hex')
        AND k.is_active
        AND (k.expires_at IS NULL OR k.expires_at > current_timestamp)
        AND u.id = k.user_id
        AND u.is_active
        AND u.deleted_at IS NULL
    RETURNING k.user_id, k.id, k.scopes;
END
$fn$;
COMMENT ON FUNCTION replay.authenticate_api_key(text) IS
'The user, key id and scopes of an active, unexpired API key (of an active user) given the raw key: '
'its SHA-256, lowercase hex, is compared with api_keys.key_hash. Counts the use (usage_count, '
'last_used_at); no row otherwise. 22004 NULL, 22023 empty key. SECURITY DEFINER: key hashes are not '
'readable by replay_app.';

-- Triggers ----------------------------------------------------------------------------

CREATE TRIGGER trigger_recordings_state_times
BEFORE UPDATE OF deleted_at, archived_at, last_accessed_at ON replay.recordings
FOR EACH ROW EXECUTE FUNCTION replay.tg__stamp_state_times();

CREATE TRIGGER trigger_users_email_change
BEFORE UPDATE OF email ON replay.users
FOR EACH ROW EXECUTE FUNCTION replay.tg__users_email_change();

CREATE TRIGGER trigger_webhook_deliveries_counters
AFTER INSERT OR UPDATE OF status ON replay.webhook_deliveries
FOR EACH ROW EXECUTE FUNCTION replay.tg__webhook_delivery_counters();

-- Grants to replay_app: the columns a tenant writes (a table-level REVOKE takes the
-- column-level grants with it) ---------------------------------------------------------

REVOKE INSERT, UPDATE ON replay.users FROM replay_app;
GRANT INSERT (id, email, password_hash, name, avatar_url, settings),
UPDATE (email, password_hash, name, avatar_url, settings) ON replay.users TO replay_app;

REVOKE INSERT, UPDATE ON replay.user_sessions FROM replay_app;
GRANT INSERT (id, user_id, session_token, refresh_token, device_info, ip_address, user_agent, is_active, expires_at),
UPDATE (session_token, refresh_token, device_info, ip_address, user_agent, is_active, expires_at)
ON replay.user_sessions TO replay_app;

REVOKE INSERT, UPDATE ON replay.api_keys FROM replay_app;
GRANT INSERT (id, user_id, name, key_hash, key_prefix, scopes, is_active, expires_at),
UPDATE (name, scopes, is_active, expires_at) ON replay.api_keys TO replay_app;

REVOKE UPDATE ON replay.organizations FROM replay_app;
GRANT UPDATE (name, slug, description, logo_url, settings) ON replay.organizations TO replay_app;

REVOKE INSERT, UPDATE ON replay.recordings FROM replay_app;
GRANT INSERT (
    id, user_id, organization_id, name, description, url, status, visibility, duration_ms, step_count,
    file_size_bytes, compression_ratio, checksum, settings, environment_info, tags, category, recording_started_at,
    recording_completed_at
), UPDATE (
    organization_id, name, description, url, status, visibility, duration_ms, step_count, file_size_bytes,
    compression_ratio, checksum, settings, environment_info, tags, category, recording_started_at,
    recording_completed_at, last_accessed_at, archived_at, deleted_at
) ON replay.recordings TO replay_app;

REVOKE INSERT, UPDATE ON replay.recording_steps FROM replay_app;
GRANT INSERT (
    id, recording_id, step_number, timestamp_ms, interaction_type, element_selector, interaction_data, dom_snapshot,
    dom_mutations, execution_time_ms, error_info, screenshot_url, artifacts
), UPDATE (
    recording_id, step_number, timestamp_ms, interaction_type, element_selector, interaction_data, dom_snapshot,
    dom_mutations, execution_time_ms, error_info, screenshot_url, artifacts
) ON replay.recording_steps TO replay_app;

REVOKE INSERT, UPDATE ON replay.playback_sessions FROM replay_app;
GRANT INSERT (
    id, recording_id, user_id, organization_id, session_token, status, current_step, total_steps,
    progress_percentage, environment, options, success_rate, error_count, retry_count, total_duration_ms,
    browser_session_id, execution_log, started_at, paused_at, resumed_at, completed_at, cancelled_at,
    last_activity_at
), UPDATE (
    organization_id, session_token, status, current_step, total_steps, progress_percentage, environment, options,
    success_rate, error_count, retry_count, total_duration_ms, browser_session_id, execution_log, started_at,
    paused_at, resumed_at, completed_at, cancelled_at, last_activity_at
) ON replay.playback_sessions TO replay_app;

REVOKE INSERT, UPDATE ON replay.file_storage FROM replay_app;
GRANT INSERT (
    id, recording_id, session_id, file_type, file_name, file_path, file_size_bytes, mime_type, checksum,
    storage_provider, storage_bucket, storage_key, storage_region, is_public, public_url, signed_url_expires_at,
    compressed, compression_ratio
), UPDATE (
    recording_id, session_id, file_type, file_name, file_path, file_size_bytes, mime_type, checksum,
    storage_provider, storage_bucket, storage_key, storage_region, is_public, public_url, signed_url_expires_at,
    compressed, compression_ratio
) ON replay.file_storage TO replay_app;

REVOKE INSERT, UPDATE ON replay.webhooks FROM replay_app;
GRANT INSERT (id, user_id, organization_id, name, url, secret_key, events, is_active, retry_policy, headers),
UPDATE (organization_id, name, url, secret_key, events, is_active, retry_policy, headers)
ON replay.webhooks TO replay_app;

REVOKE INSERT ON replay.analytics_events FROM replay_app;
GRANT INSERT (
    event_type, event_category, user_id, organization_id, recording_id, session_id, event_data, properties,
    numeric_value, string_value, ip_address, user_agent, referer
) ON replay.analytics_events TO replay_app;

REVOKE INSERT ON replay.security_events FROM replay_app;
GRANT INSERT (event_type, severity, user_id, ip_address, user_agent, description, details)
ON replay.security_events TO replay_app;

GRANT EXECUTE ON FUNCTION replay.authenticate_api_key(text) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.record_login(text, boolean) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.mark_email_verified() TO replay_app;
GRANT EXECUTE ON FUNCTION replay.close_account() TO replay_app;

-- Grants: read-only role (no secret, no credential-bearing column) ----------------------

SELECT ops.grant_read_only('replay', ARRAY[
    'users.password_hash',
    'user_sessions.session_token',
    'user_sessions.refresh_token',
    'api_keys.key_hash',
    'webhooks.secret_key',
    'webhooks.headers',
    'playback_sessions.session_token',
    'playback_sessions.browser_session_id',
    'webhook_deliveries.payload',
    'webhook_deliveries.headers',
    'webhook_deliveries.response_body',
    'webhook_deliveries.response_headers',
    'recording_steps.interaction_data',
    'recording_steps.dom_snapshot',
    'recording_steps.dom_mutations',
    'playback_step_results.error_details',
    'playback_step_results.network_requests',
    'playback_step_results.console_logs'
]);
