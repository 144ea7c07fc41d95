-- recorder 0009 rollback: the claim and worker functions as recorder_0004 wrote them.

SET LOCAL ROLE schema_tool_owner;

COMMENT ON INDEX recorder.idx_execution_jobs_claim IS NULL;

DROP FUNCTION recorder.held_job(uuid, integer);

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
        ORDER BY p.created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING j.*;
END
$fn$;
COMMENT ON FUNCTION recorder.claim_execution_job(text) IS
'Worker queue: claims the oldest pending job for worker_id (status running, claimed_at now, '
'started_at on first claim, attempts + 1: the fencing token) in one statement, skipping jobs other '
'workers are claiming (FOR UPDATE SKIP LOCKED on idx_execution_jobs_poller), and returns it; no row '
'when none is pending. NULL worker_id: 22004; blank or longer than 255: 22023.';

-- Locks the job row of a worker's call and checks that the worker still holds the job.
-- (Runs as its callers, the worker functions, which run as the owner; granted to nobody.)
CREATE FUNCTION recorder.held_job(p_job_id uuid, p_attempt integer)
RETURNS recorder.execution_jobs
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_job recorder.execution_jobs;
BEGIN
    IF p_job_id IS NULL OR p_attempt IS NULL THEN
        RAISE EXCEPTION 'job id and attempt must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT j.* INTO v_job
    FROM recorder.execution_jobs AS j
    WHERE j.id = p_job_id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution job % does not exist', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_job.status <> 'running' OR v_job.attempts <> p_attempt THEN
        RAISE EXCEPTION 'execution job % is not held by attempt % (status %, attempt %)',
            p_job_id, p_attempt, v_job.status, v_job.attempts
            USING ERRCODE = 'object_not_in_prerequisite_state',
            HINT = 'the job was requeued, cancelled or finished; stop working on it';
    END IF;
    RETURN v_job;
END
$fn$;
COMMENT ON FUNCTION recorder.held_job(uuid, integer) IS
'Internal to the worker functions: the job row, locked (FOR NO KEY UPDATE, so requeueing skips it), '
'when it is running under attempt p_attempt; 22004 for NULLs, P0002 for an unknown job, 55000 when the '
'worker no longer holds it.';

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
    v_job recorder.execution_jobs;
    v_id uuid;
BEGIN
    IF p_row_index IS NULL OR p_status IS NULL OR p_row_data IS NULL THEN
        RAISE EXCEPTION 'row index, status and row data must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_status NOT IN ('success', 'failed', 'skipped') THEN
        RAISE EXCEPTION 'status must be success, failed or skipped, not %', p_status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_job := recorder.held_job(p_job_id, p_attempt);
    IF p_row_index < 0 OR p_row_index >= v_job.total_rows THEN
        RAISE EXCEPTION 'row index % is outside the % CSV rows of job %', p_row_index, v_job.total_rows, p_job_id
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
COMMENT ON FUNCTION recorder.record_execution_result(
    uuid, integer, integer, text, jsonb, integer, text, jsonb, text, timestamptz, timestamptz
) IS
'Worker queue: the worker holding the job (attempt) records the result of one CSV row (a retry '
'replaces it); the progress trigger counts it and completes the job at its last row. Returns the '
'result id. 22004 NULLs, 22023 bad status or row index, P0002 unknown job, 55000 lost job.';

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
    v_job recorder.execution_jobs;
BEGIN
    v_job := recorder.held_job(p_job_id, p_attempt);
    RETURN QUERY SELECT * FROM recorder.lookup_healing_cache(v_job.recording_id, p_step_number, p_original_selector);
END
$fn$;
COMMENT ON FUNCTION recorder.lookup_job_healing_cache(uuid, integer, integer, text) IS
'Worker queue: the healing cache (lookup_healing_cache) of the recording of the job the worker holds '
'(attempt); a worker sees no other recording''s healings. 22004, 22023, P0002, 55000.';

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
    v_job recorder.execution_jobs;
    v_id uuid;
BEGIN
    IF p_step_number IS NULL OR p_original_selector IS NULL OR p_success IS NULL THEN
        RAISE EXCEPTION 'step number, original selector and success must not be NULL'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_job := recorder.held_job(p_job_id, p_attempt);
    INSERT INTO recorder.healing_logs (
        execution_job_id, recording_id, step_number, original_selector, healed_selector, healing_method,
        confidence_score, screenshot_url, claude_request, claude_response, cache_hit, success, error_message
    ) VALUES (
        p_job_id, v_job.recording_id, p_step_number, p_original_selector, p_healed_selector, p_healing_method,
        p_confidence_score, p_screenshot_url, p_claude_request, p_claude_response, coalesce(p_cache_hit, FALSE),
        p_success, p_error_message
    )
    RETURNING id INTO v_id;
    RETURN v_id;
END
$fn$;
COMMENT ON FUNCTION recorder.record_healing_log(
    uuid, integer, integer, text, boolean, text, text, integer, text, jsonb, jsonb, boolean, text
) IS
'Worker queue: the worker holding the job (attempt) records a healing attempt for the job''s recording '
'(cache key and expiry from the set_healing_logs_cache trigger). Returns its id. 22004, P0002, 55000; '
'a bad method or confidence is refused by the table''s checks (23514).';

CREATE OR REPLACE FUNCTION recorder.finish_execution_job(p_job_id uuid, p_attempt integer, p_status text DEFAULT 'completed')
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_job recorder.execution_jobs;
BEGIN
    IF p_job_id IS NULL OR p_attempt IS NULL OR p_status IS NULL THEN
        RAISE EXCEPTION 'job id, attempt and status must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_status NOT IN ('completed', 'failed') THEN
        RAISE EXCEPTION 'a worker finishes a job as completed or failed, not %', p_status
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT j.* INTO v_job
    FROM recorder.execution_jobs AS j
    WHERE j.id = p_job_id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'execution job % does not exist', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    -- the progress trigger already ended it (last row, or stop_on_error): nothing to do
    IF v_job.attempts = p_attempt AND v_job.status = p_status THEN
        RETURN v_job.status;
    END IF;
    IF v_job.status <> 'running' OR v_job.attempts <> p_attempt THEN
        RAISE EXCEPTION 'execution job % is not held by attempt % (status %, attempt %)',
            p_job_id, p_attempt, v_job.status, v_job.attempts
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    IF p_status = 'completed' AND v_job.completed_rows < v_job.total_rows THEN
        RAISE EXCEPTION 'execution job % has % of % rows done: record every row first, or finish it as failed',
            p_job_id, v_job.completed_rows, v_job.total_rows
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    UPDATE recorder.execution_jobs AS j
    SET status = p_status,
        completed_at = pg_catalog.now()
    WHERE j.id = p_job_id;
    RETURN p_status;
END
$fn$;
COMMENT ON FUNCTION recorder.finish_execution_job(uuid, integer, text) IS
'Worker queue: the worker holding the job (attempt) ends it: failed (it gave up), or completed once '
'every row has a result (the progress trigger usually completes it first: then this returns at once). '
'Returns the status. 22004 NULLs, 22023 other status, P0002 unknown job, 55000 lost job or rows missing.';
