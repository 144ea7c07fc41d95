-- replay 0007: bad input is an error, never a silent result; partition keys are bounded
-- (issue 11, items 6 and 7 for replay).
-- depends: replay_0006_membership ops_0006_hmac
--
-- Functions replay_app calls now refuse NULL (22004), empty, negative or out-of-range values
-- (22023), and unknown or unreadable rows (P0002) instead of answering NULL, zeros or nothing:
-- calculate_compression_ratio (the seed's NULL for a missing or zero original size stays: its
-- documented contract), get_recording_step_stats, search_recordings, authenticate_session,
-- webhook_signature (NULL still means "this webhook has no secret"), create_organization.
-- The predicates the policies use (has_org_role, is_co_member, recording_readable, ...) keep
-- answering false for NULL: a NULL organization is one you are not a member of.
-- analytics_events.created_at and audit_logs.created_at get chk_<table>_created_at_range
-- ([2000-01-01, 2100-01-01) UTC), NOT VALID here (PostgreSQL 15 adds it to the partitioned
-- table and every partition without a scan; new partitions get it validated) and validated by
-- replay_0008. recording_steps is partitioned by hash of a uuid: no time to bound.

SET LOCAL ROLE schema_tool_owner;

-- Tables ------------------------------------------------------------------------------

ALTER TABLE replay.analytics_events
ADD CONSTRAINT chk_analytics_events_created_at_range CHECK (
    created_at >= '2000-01-01 00:00:00+00' AND created_at < '2100-01-01 00:00:00+00'
) NOT VALID;

ALTER TABLE replay.audit_logs
ADD CONSTRAINT chk_audit_logs_created_at_range CHECK (
    created_at >= '2000-01-01 00:00:00+00' AND created_at < '2100-01-01 00:00:00+00'
) NOT VALID;

-- Functions ---------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION replay.calculate_compression_ratio(original_size bigint, compressed_size bigint)
RETURNS decimal(5, 2)
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $fn$
BEGIN
    IF original_size < 0 OR compressed_size < 0 THEN
        RAISE EXCEPTION 'sizes must not be negative (original %, compressed %)', original_size, compressed_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the seed's contract: no ratio without an original size
    IF original_size IS NULL OR original_size = 0 OR compressed_size IS NULL THEN
        RETURN NULL;
    END IF;
    IF compressed_size > original_size THEN
        RAISE EXCEPTION 'compressed size % exceeds original size %: the ratio would be outside 0..1',
            compressed_size, original_size
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN round(compressed_size::numeric / original_size::numeric, 2);
END
$fn$;
COMMENT ON FUNCTION replay.calculate_compression_ratio(bigint, bigint) IS
'compressed_size / original_size rounded to 2 places (the precision of the compression_ratio '
'columns, which hold 0..1); NULL when original_size is NULL or 0 or compressed_size is NULL (the '
'seed''s contract); 22023 for a negative size or a compressed size above the original.';

CREATE OR REPLACE FUNCTION replay.get_recording_step_stats(recording_uuid uuid)
RETURNS TABLE (total_steps integer, avg_step_duration decimal, interaction_type_breakdown jsonb)
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    IF recording_uuid IS NULL THEN
        RAISE EXCEPTION 'recording_uuid must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- as the caller: a recording replay_app may not read does not exist for it
    IF NOT EXISTS (SELECT FROM replay.recordings AS r WHERE r.id = recording_uuid) THEN
        RAISE EXCEPTION 'no recording %', recording_uuid USING ERRCODE = 'no_data_found';
    END IF;
    RETURN QUERY
    SELECT
        coalesce(sum(t.steps), 0)::integer,
        round(sum(t.duration_sum) / nullif(sum(t.duration_count), 0), 2),
        coalesce(jsonb_object_agg(t.interaction_type, t.steps), '{}')
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
END
$fn$;
COMMENT ON FUNCTION replay.get_recording_step_stats(uuid) IS
'Steps of a recording: how many, the average execution_time_ms (2 places, NULL without timings) '
'and the count per interaction type ({"click": 3, ...}; {} without steps). Runs as the caller: '
'22004 for NULL, P0002 for a recording that does not exist or replay_app may not read.';

-- SECURITY DEFINER: under row level security PostgreSQL cannot use an index for a
-- condition that is not leakproof (@@, ILIKE), so the search indexes would go unused for
-- replay_app. This searches through them as the owner and applies the same read rule as
-- the recordings_select policy (replay.recording_readable) to the acting user.
CREATE OR REPLACE FUNCTION replay.search_recordings(p_query text)
RETURNS SETOF replay.recordings
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_query IS NULL THEN
        RAISE EXCEPTION 'query must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF btrim(p_query) = '' OR length(p_query) > 1000 THEN
        RAISE EXCEPTION 'query must be 1 to 1000 characters, not blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
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
END
$fn$;
COMMENT ON FUNCTION replay.search_recordings(text) IS
'Live recordings the acting user may read that match a web-style full-text query (english, on '
'name, description and tags) or contain it in their name or description (trigram indexes), best '
'first. SECURITY DEFINER so the search indexes are usable under row level security; applies the '
'recordings read rule itself. 22004 NULL; 22023 blank or longer than 1000 characters.';

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
    IF p_session_token IS NULL THEN
        RAISE EXCEPTION 'session token must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_session_token = '' THEN
        RAISE EXCEPTION 'session token must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
'touching its last_activity_at; NULL for any other token (unknown, expired, revoked: one answer, so '
'nothing is revealed). 22004 NULL, 22023 empty token. SECURITY DEFINER: tokens are not readable by '
'replay_app.';

-- SECURITY DEFINER: webhook secrets are not readable by replay_app; this signs with one
-- without revealing it, for webhooks the caller may access.
CREATE OR REPLACE FUNCTION replay.webhook_signature(p_webhook_id uuid, p_payload text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_secret text;
BEGIN
    IF p_webhook_id IS NULL OR p_payload IS NULL THEN
        RAISE EXCEPTION 'webhook id and payload must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT w.secret_key INTO v_secret
    FROM replay.webhooks AS w
    WHERE w.id = p_webhook_id AND replay.webhook_accessible(w.user_id, w.organization_id);
    IF NOT FOUND THEN
        RAISE EXCEPTION 'no webhook %', p_webhook_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_secret IS NULL THEN
        RETURN NULL;
    END IF;
    RETURN encode(ops.hmac_sha256(convert_to(v_secret, 'UTF8'), convert_to(p_payload, 'UTF8')), 'hex');
END
$fn$;
COMMENT ON FUNCTION replay.webhook_signature(uuid, text) IS
'Hex HMAC-SHA256 of a payload with the webhook''s secret_key, for a webhook the acting user may '
'access; NULL when the webhook has no secret (unsigned). 22004 NULLs; P0002 for a webhook that does '
'not exist or the acting user may not access. SECURITY DEFINER: secrets are not readable by replay_app.';

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
    IF p_name IS NULL OR p_slug IS NULL THEN
        RAISE EXCEPTION 'name and slug must not be NULL' USING ERRCODE = 'null_value_not_allowed';
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
'Creates an organization with the acting user as its active owner; returns its id. 42501 when no user '
'acts, 22004 NULL name or slug; a bad slug or name fails its CHECK (23514), a taken one 23505. SECURITY '
'DEFINER because the caller cannot insert organizations directly.';
