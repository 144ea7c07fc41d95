-- recorder 0005: the tenant boundary around row level security (issue 11, items 2, 3, 4, 5,
-- 6 and 7 for recorder).
-- depends: recorder_0004_queue_workers
--
-- - Values the database assigns: signed-in users no longer insert created_at, step_count,
--   log timestamps (the partition key) or healing cache keys and expiry (column grants), and
--   change a job only to cancel it, or to edit it while it waits (a RESTRICTIVE policy: a
--   tenant cannot put a running job back in the queue, or "complete" one).
-- - Foreign keys stay inside the tenant: a job's team is its recording's team; a healing
--   log's job is a job of its recording. Only a recording's owner moves it to another team
--   or changes its visibility (a member of two teams could move a colleague's recording).
-- - recorder.users.email is the JWT's email when the claims carry a non-empty one (no squatting
--   another user's address, which the UNIQUE constraint would turn into their failed sign-up).
-- - user_team_ids() answers only about the signed-in user; bad arguments are errors.
-- - Partition keys are bounded (chk_<table>_<column>_range, NOT VALID here, validated by
--   recorder_0007); the read-only role no longer reads VM URLs, AI request/response bodies or
--   screenshot URLs.

SET LOCAL ROLE schema_tool_owner;

-- Tables: partition key ranges (NOT VALID: no scan here; PostgreSQL 15 adds a NOT VALID
-- CHECK to a partitioned table and each of its partitions, and new partitions get it
-- validated) --------------------------------------------------------------------------

ALTER TABLE recorder.execution_logs
ADD CONSTRAINT chk_execution_logs_timestamp_range CHECK (
    timestamp >= '2000-01-01 00:00:00+00' AND timestamp < '2100-01-01 00:00:00+00'
) NOT VALID;

ALTER TABLE recorder.vdi_metrics
ADD CONSTRAINT chk_vdi_metrics_recorded_at_range CHECK (
    recorded_at >= '2000-01-01 00:00:00+00' AND recorded_at < '2100-01-01 00:00:00+00'
) NOT VALID;

-- Functions -------------------------------------------------------------------------

-- Supabase's auth.uid() reads these claims (PostgREST sets them per request); definer
-- functions cannot call it there (schema_tool_owner has no privilege in auth).
CREATE FUNCTION recorder.request_user_id()
RETURNS uuid
LANGUAGE sql
STABLE
RETURN coalesce(
    nullif(pg_catalog.current_setting('request.jwt.claim.sub', TRUE), ''),
    nullif(pg_catalog.current_setting('request.jwt.claims', TRUE), '')::jsonb ->> 'sub'
)::uuid;
COMMENT ON FUNCTION recorder.request_user_id() IS
'The signed-in user of this request, read from the JWT claims as Supabase''s auth.uid() reads them '
'(request.jwt.claim.sub, else request.jwt.claims ->> ''sub''); NULL when neither is set. For the '
'SECURITY DEFINER functions, which cannot call auth.uid() on Supabase.';

CREATE OR REPLACE FUNCTION recorder.user_team_ids(p_user_id uuid, p_min_role text)
RETURNS SETOF uuid
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_roles constant text[] := ARRAY['viewer', 'member', 'admin', 'owner'];
BEGIN
    IF p_min_role IS NULL THEN
        RAISE EXCEPTION 'p_min_role must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT p_min_role = ANY(v_roles) THEN
        RAISE EXCEPTION 'p_min_role must be viewer, member, admin or owner, not %', p_min_role
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- nobody signed in: no team (row level security shows nothing, as without the function)
    IF p_user_id IS NULL THEN
        RETURN;
    END IF;
    IF p_user_id IS DISTINCT FROM recorder.request_user_id() THEN
        RAISE EXCEPTION 'user_team_ids answers for the signed-in user only'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN QUERY
    SELECT t.id
    FROM recorder.teams AS t
    WHERE t.owner_id = p_user_id
    UNION
    SELECT m.team_id
    FROM recorder.team_members AS m
    WHERE
        m.user_id = p_user_id
        AND pg_catalog.array_position(v_roles, m.role) >= pg_catalog.array_position(v_roles, p_min_role);
END
$fn$;
COMMENT ON FUNCTION recorder.user_team_ids(uuid, text) IS
'Teams in which the signed-in user''s role is at least p_min_role (viewer < member < admin < owner); '
'the owner_id of a team is its owner. Used by the team RLS policies, which pass (SELECT auth.uid()): '
'no rows for a NULL user; 42501 for any other user than the signed-in one; 22004/22023 for a NULL or '
'unknown role. SECURITY DEFINER: a team_members policy querying team_members would recurse.';

CREATE OR REPLACE FUNCTION recorder.lookup_healing_cache(recording_id uuid, step_number integer, original_selector text)
RETURNS SETOF recorder.healing_logs
LANGUAGE plpgsql
STABLE
ROWS 1
AS $fn$
BEGIN
    IF $1 IS NULL OR $2 IS NULL OR $3 IS NULL THEN
        RAISE EXCEPTION 'recording_id, step_number and original_selector must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF $2 < 0 OR $3 = '' THEN
        RAISE EXCEPTION 'step_number must not be negative, original_selector not empty'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT h.*
    FROM recorder.healing_logs AS h
    WHERE
        h.cache_key = pg_catalog.md5($1::text || $2::text || $3)
        AND h.success
        AND h.cached_until > pg_catalog.now()
        AND h.recording_id = $1
        AND h.step_number = $2
        AND h.original_selector = $3
    ORDER BY h.created_at DESC
    LIMIT 1;
END
$fn$;
COMMENT ON FUNCTION recorder.lookup_healing_cache(uuid, integer, text) IS
'Healing cache: the freshest successful, unexpired healing of (recording, step, original selector), '
'or no row. Uses idx_healing_cache_lookup; the key columns are compared too, so two inputs whose '
'concatenations collide never share a healing. Subject to RLS for signed-in users. NULL arguments: '
'22004; a negative step or an empty selector: 22023.';

-- SECURITY DEFINER: a policy on recordings may not query recordings (PostgreSQL reports
-- infinite recursion). Called from an UPDATE's WITH CHECK, it reads the row as it was before
-- the statement (the new version does not exist yet), and answers only about a recording the
-- signed-in user may read (the recordings_select_* rules), so it reveals nothing.
CREATE FUNCTION recorder.recording_placement_unchanged(p_id uuid, p_team_id uuid, p_visibility text)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
    SELECT
    FROM recorder.recordings AS r
    WHERE
        r.id = p_id
        AND r.team_id IS NOT DISTINCT FROM p_team_id
        AND r.visibility = p_visibility
        AND (
            r.user_id = recorder.request_user_id()
            OR (
                r.visibility = 'team'
                AND r.team_id IN (SELECT recorder.user_team_ids(recorder.request_user_id(), 'viewer'))
            )
        )
);
COMMENT ON FUNCTION recorder.recording_placement_unchanged(uuid, uuid, text) IS
'True when the recording p_id, readable by the signed-in user, is in team p_team_id with visibility '
'p_visibility as the statement found it. recordings_owner_moves: only a recording''s owner changes its '
'team or visibility.';

-- RLS policies (as the migrating user: they call auth.uid(), see recorder_0001) ----------

SET LOCAL ROLE NONE;

CREATE POLICY users_email_from_claims ON recorder.users
AS RESTRICTIVE
FOR INSERT TO authenticated
WITH CHECK (
    lower(email) = lower(
        coalesce(nullif(nullif(current_setting('request.jwt.claims', TRUE), '')::jsonb ->> 'email', ''), email)
    )
);

CREATE POLICY users_email_from_claims_update ON recorder.users
AS RESTRICTIVE
FOR UPDATE TO authenticated
WITH CHECK (
    lower(email) = lower(
        coalesce(nullif(nullif(current_setting('request.jwt.claims', TRUE), '')::jsonb ->> 'email', ''), email)
    )
);

CREATE POLICY recordings_owner_moves ON recorder.recordings
AS RESTRICTIVE
FOR UPDATE TO authenticated
WITH CHECK (
    user_id = (SELECT auth.uid())
    OR recorder.recording_placement_unchanged(id, team_id, visibility)
);

CREATE POLICY execution_jobs_update_scope ON recorder.execution_jobs
AS RESTRICTIVE
FOR UPDATE TO authenticated
USING (status IN ('pending', 'running'))
WITH CHECK (status = 'cancelled' OR (status = 'pending' AND worker_id IS NULL));

CREATE POLICY execution_jobs_team_of_recording ON recorder.execution_jobs
AS RESTRICTIVE
FOR INSERT TO authenticated
WITH CHECK (
    team_id IS NULL
    OR EXISTS (
        SELECT FROM recorder.recordings AS r
        WHERE r.id = execution_jobs.recording_id AND r.team_id = execution_jobs.team_id
    )
);

CREATE POLICY healing_logs_job_of_recording ON recorder.healing_logs
AS RESTRICTIVE
FOR INSERT TO authenticated
WITH CHECK (
    execution_job_id IS NULL
    OR EXISTS (
        SELECT FROM recorder.execution_jobs AS j
        WHERE j.id = healing_logs.execution_job_id AND j.recording_id = healing_logs.recording_id
    )
);

-- Grants ----------------------------------------------------------------------------
-- Columns the database assigns leave the signed-in user's INSERT grants (a table-level
-- REVOKE takes the column-level grants with it).

SET LOCAL ROLE schema_tool_owner;

GRANT EXECUTE ON FUNCTION recorder.recording_placement_unchanged(uuid, uuid, text) TO authenticated;

REVOKE INSERT ON recorder.recordings FROM authenticated;
GRANT INSERT (
    id, user_id, name, description, starting_url, status, duration, steps, variables, recording_method,
    team_id, visibility
) ON recorder.recordings TO authenticated;

REVOKE INSERT ON recorder.execution_results FROM authenticated;
GRANT INSERT (
    id, execution_job_id, row_index, row_data, status, duration, error_message, step_results, screenshot_url,
    started_at, completed_at
) ON recorder.execution_results TO authenticated;

REVOKE INSERT ON recorder.execution_logs FROM authenticated;
GRANT INSERT (
    id, execution_job_id, level, message, row_index, step_number, metadata
) ON recorder.execution_logs TO authenticated;

REVOKE INSERT ON recorder.healing_logs FROM authenticated;
GRANT INSERT (
    id, execution_job_id, recording_id, step_number, original_selector, healed_selector, healing_method,
    confidence_score, screenshot_url, claude_request, claude_response, cache_hit, success, error_message
) ON recorder.healing_logs TO authenticated;

-- Reporting: besides recorded input values and uploaded CSV rows, the VM access URL, the AI
-- request/response bodies (screenshots, locator bundles with typed values) and screenshot
-- URLs (signed storage URLs grant access) carry credentials.
SELECT ops.grant_read_only(
    'recorder',
    ARRAY[
        'recordings.steps', 'recordings.variables', 'execution_jobs.csv_data', 'execution_results.row_data',
        'execution_results.screenshot_url', 'users.vm_url', 'healing_logs.claude_request',
        'healing_logs.claude_response', 'healing_logs.screenshot_url'
    ]
);
