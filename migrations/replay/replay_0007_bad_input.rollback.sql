-- replay 0007 rollback: the functions as replay_0002 and replay_0003 wrote them; the
-- partition key ranges go.

SET LOCAL ROLE schema_tool_owner;

-- Functions ---------------------------------------------------------------------------

-- SECURITY DEFINER: organizations has no INSERT grant (a new organization has no members,
-- so the caller could not see it yet); this creates it with the caller as its owner.
CREATE OR REPLACE FUNCTION replay.create_organization(p_name varchar, p_slug varchar, p_description text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_me uuid := replay.current_user_id();
    v_id uuid;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'set app.user_id to create an organization' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO replay.organizations (name, slug, description)
    VALUES (p_name, p_slug, p_description)
    RETURNING id INTO v_id;
    INSERT INTO replay.organization_members (organization_id, user_id, role, joined_at)
    VALUES (v_id, v_me, 'owner', current_timestamp);
    RETURN v_id;
END
$fn$;
COMMENT ON FUNCTION replay.create_organization(varchar, varchar, text) IS
'Creates an organization with the acting user as its active owner; returns its id. SECURITY '
'DEFINER because the caller cannot insert organizations directly.';

-- SECURITY DEFINER: webhook secrets are not readable by replay_app; this signs with one
-- without revealing it. As replay_0003 made it: pgcrypto's hmac() from the schema the
-- catalog names, its body parsed by the migrating role (on Supabase schema_tool_owner may
-- not use schema extensions); the function keeps its owner and grants.
SET LOCAL ROLE NONE;

DO $sign$
DECLARE
    v_schema name := (
        SELECT n.nspname
        FROM pg_catalog.pg_extension AS e
        INNER JOIN pg_catalog.pg_namespace AS n ON e.extnamespace = n.oid
        WHERE e.extname = 'pgcrypto'
    );
BEGIN
    IF v_schema IS NULL THEN
        RAISE EXCEPTION 'replay needs the pgcrypto extension (ops_0001 creates it)'
        USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE pg_catalog.format($fn$
CREATE OR REPLACE FUNCTION replay.webhook_signature(p_webhook_id uuid, p_payload text)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (
    SELECT encode(%I.hmac(p_payload, w.secret_key::text, 'sha256'), 'hex')
    FROM replay.webhooks AS w
    WHERE
        w.id = p_webhook_id
        AND w.secret_key IS NOT NULL
        AND replay.webhook_accessible(w.user_id, w.organization_id)
)
$fn$, v_schema);
END
$sign$;

SET LOCAL ROLE schema_tool_owner;

COMMENT ON FUNCTION replay.webhook_signature(uuid, text) IS
'Hex HMAC-SHA256 of a payload with the webhook''s secret_key, for a webhook the acting user may '
'access; NULL otherwise or without a secret. SECURITY DEFINER: secrets are not readable by replay_app.';

-- SECURITY DEFINER: session tokens are not readable by replay_app; this looks one up
-- without revealing any.
CREATE OR REPLACE FUNCTION replay.authenticate_session(p_session_token text)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_user uuid;
BEGIN
    UPDATE replay.user_sessions AS s
    SET last_activity_at = current_timestamp
    FROM replay.users AS u
    WHERE
        s.session_token = p_session_token
        AND s.is_active
        AND s.expires_at > current_timestamp
        AND u.id = s.user_id
        AND u.is_active
        AND u.deleted_at IS NULL
        AND (u.locked_until IS NULL OR u.locked_until <= current_timestamp)
    RETURNING s.user_id INTO v_user;
    RETURN v_user;
END
$fn$;
COMMENT ON FUNCTION replay.authenticate_session(text) IS
'The user of an active, unexpired session token (of an active, unlocked, not deleted user), '
'touching its last_activity_at; NULL otherwise. SECURITY DEFINER: tokens are not readable by replay_app.';

-- SECURITY DEFINER: under row level security PostgreSQL cannot use an index for a
-- condition that is not leakproof (@@, ILIKE), so the search indexes would go unused for
-- replay_app. This searches through them as the owner and applies the same read rule as
-- the recordings_select policy (replay.recording_readable) to the acting user.
CREATE OR REPLACE FUNCTION replay.search_recordings(p_query text)
RETURNS SETOF replay.recordings
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT r.*
    FROM replay.recordings AS r
    WHERE
        (
            replay.recording_search_vector(r.name, r.description, r.tags)
            @@ websearch_to_tsquery('english'::regconfig, p_query)
            OR r.name ILIKE replay.like_pattern(p_query)
            OR r.description ILIKE replay.like_pattern(p_query)
        )
        AND r.deleted_at IS NULL
        AND replay.recording_readable(r.user_id, r.organization_id, r.visibility, r.deleted_at)
    ORDER BY
        ts_rank(
            replay.recording_search_vector(r.name, r.description, r.tags),
            websearch_to_tsquery('english'::regconfig, p_query)
        ) DESC,
        r.created_at DESC;
END;
COMMENT ON FUNCTION replay.search_recordings(text) IS
'Live recordings the acting user may read that match a web-style full-text query (english, on '
'name, description and tags) or contain it in their name or description (trigram indexes), best '
'first. SECURITY DEFINER so the search indexes are usable under row level security; applies the '
'recordings read rule itself.';

CREATE OR REPLACE FUNCTION replay.get_recording_step_stats(recording_uuid uuid)
RETURNS TABLE (total_steps integer, avg_step_duration decimal, interaction_type_breakdown jsonb)
LANGUAGE sql
STABLE
BEGIN ATOMIC
    SELECT
        coalesce(sum(t.steps), 0)::integer AS total_steps,
        round(sum(t.duration_sum) / nullif(sum(t.duration_count), 0), 2) AS avg_step_duration,
        coalesce(jsonb_object_agg(t.interaction_type, t.steps), '{}') AS interaction_type_breakdown
    FROM (
        SELECT
            s.interaction_type,
            count(*) AS steps,
            sum(s.execution_time_ms) AS duration_sum,
            count(s.execution_time_ms) AS duration_count
        FROM replay.recording_steps AS s
        WHERE s.recording_id = recording_uuid
        GROUP BY s.interaction_type
    ) AS t;
END;
COMMENT ON FUNCTION replay.get_recording_step_stats(uuid) IS
'Steps of a recording: how many, the average execution_time_ms (2 places, NULL without timings) '
'and the count per interaction type ({"click": 3, ...}; {} without steps). Runs as the caller: '
'replay_app sees the stats of recordings it may read, zeros otherwise.';

CREATE OR REPLACE FUNCTION replay.calculate_compression_ratio(original_size bigint, compressed_size bigint)
RETURNS decimal(5, 2)
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN CASE
    WHEN original_size IS NULL OR original_size <= 0 OR compressed_size IS NULL OR compressed_size < 0 THEN NULL
    ELSE round(compressed_size::numeric / original_size::numeric, 2)
END;
COMMENT ON FUNCTION replay.calculate_compression_ratio(bigint, bigint) IS
'compressed_size / original_size rounded to 2 places (the precision of the compression_ratio '
'columns); NULL when a size is missing or negative or original_size is 0.';

-- Tables ------------------------------------------------------------------------------

ALTER TABLE replay.audit_logs DROP CONSTRAINT chk_audit_logs_created_at_range;
ALTER TABLE replay.analytics_events DROP CONSTRAINT chk_analytics_events_created_at_range;
