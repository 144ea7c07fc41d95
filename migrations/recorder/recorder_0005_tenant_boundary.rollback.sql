-- recorder 0005 rollback: grants, policies and functions as recorder_0003 left them; the
-- partition key ranges go.

SET LOCAL ROLE schema_tool_owner;

-- Grants ----------------------------------------------------------------------------

SELECT ops.grant_read_only(
    'recorder',
    ARRAY[
        'recordings.steps', 'recordings.variables', 'execution_jobs.csv_data', 'execution_results.row_data'
    ]
);

REVOKE INSERT ON recorder.healing_logs FROM authenticated;
GRANT INSERT ON recorder.healing_logs TO authenticated;
REVOKE INSERT ON recorder.execution_logs FROM authenticated;
GRANT INSERT ON recorder.execution_logs TO authenticated;
REVOKE INSERT ON recorder.execution_results FROM authenticated;
GRANT INSERT ON recorder.execution_results TO authenticated;
REVOKE INSERT ON recorder.recordings FROM authenticated;
GRANT INSERT ON recorder.recordings TO authenticated;

-- Policies --------------------------------------------------------------------------

DROP POLICY healing_logs_job_of_recording ON recorder.healing_logs;
DROP POLICY execution_jobs_team_of_recording ON recorder.execution_jobs;
DROP POLICY execution_jobs_update_scope ON recorder.execution_jobs;
DROP POLICY recordings_owner_moves ON recorder.recordings;
DROP POLICY users_email_from_claims_update ON recorder.users;
DROP POLICY users_email_from_claims ON recorder.users;

-- Functions -------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION recorder.lookup_healing_cache(recording_id uuid, step_number integer, original_selector text)
RETURNS SETOF recorder.healing_logs
LANGUAGE sql
STABLE
ROWS 1
AS $fn$
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
    LIMIT 1
$fn$;
COMMENT ON FUNCTION recorder.lookup_healing_cache(uuid, integer, text) IS
'Healing cache: the freshest successful, unexpired healing of (recording, step, original selector), '
'or no row. Uses idx_healing_cache_lookup; the key columns are compared too, so two inputs whose '
'concatenations collide never share a healing. Subject to RLS for signed-in users.';

CREATE OR REPLACE FUNCTION recorder.user_team_ids(p_user_id uuid, p_min_role text)
RETURNS SETOF uuid
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT t.id
    FROM recorder.teams AS t
    WHERE t.owner_id = p_user_id
    UNION
    SELECT m.team_id
    FROM recorder.team_members AS m
    WHERE
        m.user_id = p_user_id
        AND array_position(ARRAY['viewer', 'member', 'admin', 'owner'], m.role)
        >= array_position(ARRAY['viewer', 'member', 'admin', 'owner'], p_min_role);
END;
COMMENT ON FUNCTION recorder.user_team_ids(uuid, text) IS
'Teams in which a user''s role is at least p_min_role (viewer < member < admin < owner); the owner_id '
'of a team is its owner. Used by the team RLS policies.';

DROP FUNCTION recorder.recording_placement_unchanged(uuid, uuid, text);
DROP FUNCTION recorder.request_user_id();

-- Tables ----------------------------------------------------------------------------

ALTER TABLE recorder.vdi_metrics DROP CONSTRAINT chk_vdi_metrics_recorded_at_range;
ALTER TABLE recorder.execution_logs DROP CONSTRAINT chk_execution_logs_timestamp_range;
