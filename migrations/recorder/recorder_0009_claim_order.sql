-- recorder 0009: the claim reads idx_execution_jobs_claim (recorder_0008), and the worker
-- functions read only the job columns they check (issue 14).
-- depends: recorder_0008_claim_index
--
-- claim_execution_job orders by (created_at, id): exactly idx_execution_jobs_claim, so the
-- plan cannot drift to an index that walks finished jobs. held_job() used to read the whole
-- job row into a variable, which detoasts csv_data (the whole CSV, for every result of every
-- row); it now reads status, attempts, total_rows and recording_id only, and
-- record_execution_result (the hot path) checks the job inline, without a nested call.

SET LOCAL ROLE schema_tool_owner;

-- Comments ---------------------------------------------------------------------------

COMMENT ON INDEX recorder.idx_execution_jobs_claim IS
'The worker queue''s claim (claim_execution_job): pending jobs in (created_at, id) order. A claimed job '
'leaves it.';

-- Functions (SECURITY DEFINER as in recorder_0004: a worker claims and writes across tenants,
-- and recorder_worker has no table privilege of its own) --------------------------------

CREATE OR REPLACE FUNCTION recorder.claim_execution_job(worker_id text)
RETURNS SETOF recorder.execution_jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF claim_execution_job.worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.btrim(claim_execution_job.worker_id) = '' OR pg_catalog.length(claim_execution_job.worker_id) > 255 THEN
        RAISE EXCEPTION 'worker_id must be 1 to 255 characters, not blank'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    UPDATE recorder.execution_jobs AS j
    SET status = 'running',
        worker_id = claim_execution_job.worker_id,
        claimed_at = pg_catalog.now(),
        started_at = coalesce(j.started_at, pg_catalog.now()),
        attempts = j.attempts + 1
    WHERE j.id = (
        SELECT p.id
        FROM recorder.execution_jobs AS p
        WHERE p.status = 'pending'
        ORDER BY p.created_at, p.id
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING j.*;
END
$fn$;
COMMENT ON FUNCTION recorder.claim_execution_job(text) IS
'Worker queue: claims the oldest pending job for worker_id (status running, claimed_at now, '
'started_at on first claim, attempts + 1: the fencing token) in one statement, skipping jobs other '
'workers are claiming (FOR UPDATE SKIP LOCKED on idx_execution_jobs_claim; ties by id), and returns it; no row '
'when none is pending. NULL worker_id: 22004; blank or longer than 255: 22023.';

DROP FUNCTION recorder.held_job(uuid, integer);

-- (Runs as its callers, the worker functions, which run as the owner; granted to nobody.)
CREATE FUNCTION recorder.held_job(
    p_job_id uuid,
    p_attempt integer,
    OUT total_rows integer,
    OUT recording_id uuid
)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_status text;
    v_attempts integer;
BEGIN
    IF p_job_id IS NULL OR p_attempt IS NULL THEN
        RAISE EXCEPTION 'job id and attempt must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT j.status, j.attempts, j.total_rows, j.recording_id INTO v_status, v_attempts, total_rows, recording_id
    FROM recorder.execution_jobs AS j
    WHERE j.id = p_job_id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution job % does not exist', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_status <> 'running' OR v_attempts <> p_attempt THEN
        RAISE EXCEPTION 'execution job % is not held by attempt % (status %, attempt %)',
            p_job_id, p_attempt, v_status, v_attempts
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'the job was requeued, cancelled or finished; stop working on it';
    END IF;
END
$fn$;
COMMENT ON FUNCTION recorder.held_job(uuid, integer) IS
'Internal to the worker functions: locks the job row (FOR NO KEY UPDATE, so requeueing skips it) when it '
'is running under attempt p_attempt and returns its total_rows and recording_id (nothing else is read: '
'csv_data stays on disk); 22004 for NULLs, P0002 for an unknown job, 55000 when the worker no longer '
'holds it.';

CREATE OR REPLACE FUNCTION recorder.record_execution_result(
    p_job_id uuid,
    p_attempt integer,
    p_row_index integer,
    p_status text,
    p_row_data jsonb,
    p_duration integer DEFAULT NULL,
    p_error_message text DEFAULT NULL,
    p_step_results jsonb DEFAULT '[]',
    p_screenshot_url text DEFAULT NULL,
    p_started_at timestamptz DEFAULT NULL,
    p_completed_at timestamptz DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_status text;
    v_attempts integer;
    v_total integer;
    v_id uuid;
BEGIN
    IF p_job_id IS NULL OR p_attempt IS NULL OR p_row_index IS NULL OR p_status IS NULL OR p_row_data IS NULL THEN
        RAISE EXCEPTION 'job id, attempt, row index, status and row data must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_status NOT IN ('success', 'failed', 'skipped') THEN
        RAISE EXCEPTION 'status must be success, failed or skipped, not %', p_status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- held_job(), inline: this runs once per CSV row
    SELECT j.status, j.attempts, j.total_rows INTO v_status, v_attempts, v_total
    FROM recorder.execution_jobs AS j
    WHERE j.id = p_job_id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution job % does not exist', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_status <> 'running' OR v_attempts <> p_attempt THEN
        RAISE EXCEPTION 'execution job % is not held by attempt % (status %, attempt %)',
            p_job_id, p_attempt, v_status, v_attempts
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'the job was requeued, cancelled or finished; stop working on it';
    END IF;
    IF p_row_index < 0 OR p_row_index >= v_total THEN
        RAISE EXCEPTION 'row index % is outside the % CSV rows of job %', p_row_index, v_total, p_job_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- a retried row replaces its result; the progress trigger applies the difference
    INSERT INTO recorder.execution_results AS r (
        execution_job_id, row_index, row_data, status, duration, error_message, step_results, screenshot_url,
        started_at, completed_at
    ) VALUES (
        p_job_id, p_row_index, p_row_data, p_status, p_duration, p_error_message, coalesce(p_step_results, '[]'),
        p_screenshot_url, p_started_at, coalesce(p_completed_at, pg_catalog.now())
    )
    ON CONFLICT (execution_job_id, row_index) DO UPDATE
        SET row_data = excluded.row_data,
            status = excluded.status,
            duration = excluded.duration,
            error_message = excluded.error_message,
            step_results = excluded.step_results,
            screenshot_url = excluded.screenshot_url,
            started_at = excluded.started_at,
            completed_at = excluded.completed_at
    RETURNING r.id INTO v_id;
    RETURN v_id;
END
$fn$;

CREATE OR REPLACE FUNCTION recorder.lookup_job_healing_cache(
    p_job_id uuid,
    p_attempt integer,
    p_step_number integer,
    p_original_selector text
)
RETURNS SETOF recorder.healing_logs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
ROWS 1
AS $fn$
DECLARE
    v_recording uuid;
BEGIN
    SELECT h.recording_id INTO v_recording FROM recorder.held_job(p_job_id, p_attempt) AS h;
    RETURN QUERY SELECT * FROM recorder.lookup_healing_cache(v_recording, p_step_number, p_original_selector);
END
$fn$;

CREATE OR REPLACE FUNCTION recorder.record_healing_log(
    p_job_id uuid,
    p_attempt integer,
    p_step_number integer,
    p_original_selector text,
    p_success boolean,
    p_healed_selector text DEFAULT NULL,
    p_healing_method text DEFAULT NULL,
    p_confidence_score integer DEFAULT NULL,
    p_screenshot_url text DEFAULT NULL,
    p_claude_request jsonb DEFAULT NULL,
    p_claude_response jsonb DEFAULT NULL,
    p_cache_hit boolean DEFAULT FALSE,
    p_error_message text DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_recording uuid;
    v_id uuid;
BEGIN
    IF p_step_number IS NULL OR p_original_selector IS NULL OR p_success IS NULL THEN
        RAISE EXCEPTION 'step number, original selector and success must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT h.recording_id INTO v_recording FROM recorder.held_job(p_job_id, p_attempt) AS h;
    INSERT INTO recorder.healing_logs (
        execution_job_id, recording_id, step_number, original_selector, healed_selector, healing_method,
        confidence_score, screenshot_url, claude_request, claude_response, cache_hit, success, error_message
    ) VALUES (
        p_job_id, v_recording, p_step_number, p_original_selector, p_healed_selector, p_healing_method,
        p_confidence_score, p_screenshot_url, p_claude_request, p_claude_response, coalesce(p_cache_hit, FALSE),
        p_success, p_error_message
    )
    RETURNING id INTO v_id;
    RETURN v_id;
END
$fn$;

CREATE OR REPLACE FUNCTION recorder.finish_execution_job(
    p_job_id uuid,
    p_attempt integer,
    p_status text DEFAULT 'completed'
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_status text;
    v_attempts integer;
    v_done integer;
    v_total integer;
BEGIN
    IF p_job_id IS NULL OR p_attempt IS NULL OR p_status IS NULL THEN
        RAISE EXCEPTION 'job id, attempt and status must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_status NOT IN ('completed', 'failed') THEN
        RAISE EXCEPTION 'a worker finishes a job as completed or failed, not %', p_status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT j.status, j.attempts, j.completed_rows, j.total_rows INTO v_status, v_attempts, v_done, v_total
    FROM recorder.execution_jobs AS j
    WHERE j.id = p_job_id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution job % does not exist', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    -- the progress trigger already ended it (last row, or stop_on_error): nothing to do
    IF v_attempts = p_attempt AND v_status = p_status THEN
        RETURN v_status;
    END IF;
    IF v_status <> 'running' OR v_attempts <> p_attempt THEN
        RAISE EXCEPTION 'execution job % is not held by attempt % (status %, attempt %)',
            p_job_id, p_attempt, v_status, v_attempts
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_status = 'completed' AND v_done < v_total THEN
        RAISE EXCEPTION 'execution job % has % of % rows done: record every row first, or finish it as failed',
            p_job_id, v_done, v_total
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE recorder.execution_jobs AS j
    SET status = p_status,
        completed_at = pg_catalog.now()
    WHERE j.id = p_job_id;
    RETURN p_status;
END
$fn$;
