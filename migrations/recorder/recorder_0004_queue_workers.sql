-- recorder 0004: the queue belongs to workers (issue 11, items 1 and 5).
-- depends: recorder_0003_teams ops_0003_roles
--
-- recorder_worker (NOLOGIN NOINHERIT, ops.ensure_worker_role) is the VDI workers' role: it
-- has no table privilege and reaches the queue only through the SECURITY DEFINER functions
-- below, which see one job at a time. Supabase's service_role (BYPASSRLS, every table) keeps
-- EXECUTE on them too, so workers that use the service key through PostgREST keep working.
-- Every claim counts an attempt (execution_jobs.attempts): the claim returns it, and a
-- worker's later calls pass it back. A job requeued (requeue_stale_execution_jobs) and claimed
-- again has a new attempt number, so the worker that lost it can no longer heartbeat, record
-- results or logs, or finish it (55000, object_not_in_prerequisite_state).
-- recorder_app: a database migrated before ops_0003 created it INHERIT, so used directly it
-- had service_role's table grants; made NOINHERIT here, as ops_0003 creates it now. A backend
-- using recorder_app switches with SET LOCAL ROLE authenticated (plus request.jwt.claims) or
-- SET LOCAL ROLE service_role.
-- The check on the new column is added NOT VALID and validated by recorder_0007.

-- Roles (needs CREATEROLE; before SET LOCAL ROLE) ------------------------------------

SELECT ops.ensure_worker_role('recorder');

DO $roles$
BEGIN
    IF (SELECT r.rolinherit FROM pg_catalog.pg_roles AS r WHERE r.rolname = 'recorder_app') THEN
        ALTER ROLE recorder_app NOINHERIT;
    END IF;
END
$roles$;

SET LOCAL ROLE schema_tool_owner;

GRANT USAGE ON SCHEMA recorder TO recorder_worker;

-- Tables ----------------------------------------------------------------------------

-- a constant default: no table rewrite on PostgreSQL 11+
ALTER TABLE recorder.execution_jobs
ADD COLUMN attempts integer NOT NULL DEFAULT 0,
ADD CONSTRAINT check_execution_jobs_attempts CHECK (attempts >= 0) NOT VALID;

-- Comments --------------------------------------------------------------------------

COMMENT ON COLUMN recorder.execution_jobs.attempts IS
'How many times the job was claimed (set by claim_execution_job only). The current claim''s '
'number is the fencing token its worker passes to heartbeat_execution_job, record_execution_result, '
'record_execution_log, record_healing_log and finish_execution_job.';

-- Functions: the queue (SECURITY DEFINER: a worker claims and writes across tenants, and
-- recorder_worker has no table privilege of its own) ----------------------------------

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

CREATE FUNCTION recorder.heartbeat_execution_job(p_job_id uuid, p_attempt integer)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM recorder.held_job(p_job_id, p_attempt);
    UPDATE recorder.execution_jobs AS j
    SET claimed_at = pg_catalog.now()
    WHERE j.id = p_job_id;
    RETURN pg_catalog.now();
END
$fn$;
COMMENT ON FUNCTION recorder.heartbeat_execution_job(uuid, integer) IS
'Worker queue: the worker holding the job (attempt) says it is alive: claimed_at = now, so '
'requeue_stale_execution_jobs leaves the job alone. Returns the new claimed_at; 55000 when the '
'worker lost the job.';

CREATE FUNCTION recorder.record_execution_result(
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

CREATE FUNCTION recorder.record_execution_log(
    p_job_id uuid,
    p_attempt integer,
    p_level text,
    p_message text,
    p_row_index integer DEFAULT NULL,
    p_step_number integer DEFAULT NULL,
    p_metadata jsonb DEFAULT '{}'
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_id uuid;
BEGIN
    IF p_level IS NULL OR p_message IS NULL THEN
        RAISE EXCEPTION 'level and message must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_level NOT IN ('info', 'warn', 'error', 'debug') THEN
        RAISE EXCEPTION 'level must be info, warn, error or debug, not %', p_level
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM recorder.held_job(p_job_id, p_attempt);
    INSERT INTO recorder.execution_logs (execution_job_id, level, message, row_index, step_number, metadata)
    VALUES (p_job_id, p_level, p_message, p_row_index, p_step_number, coalesce(p_metadata, '{}'))
    RETURNING id INTO v_id;
    RETURN v_id;
END
$fn$;
COMMENT ON FUNCTION recorder.record_execution_log(uuid, integer, text, text, integer, integer, jsonb) IS
'Worker queue: the worker holding the job (attempt) appends a log line; its timestamp (the partition '
'key) is the database''s clock. Returns the log id. 22004 NULLs, 22023 bad level, P0002, 55000.';

CREATE FUNCTION recorder.lookup_job_healing_cache(
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

CREATE FUNCTION recorder.record_healing_log(
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

CREATE FUNCTION recorder.finish_execution_job(p_job_id uuid, p_attempt integer, p_status text DEFAULT 'completed')
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

CREATE OR REPLACE FUNCTION recorder.requeue_stale_execution_jobs(timeout interval DEFAULT interval '10 minutes')
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_count integer;
BEGIN
    IF requeue_stale_execution_jobs.timeout IS NULL THEN
        RAISE EXCEPTION 'timeout must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF requeue_stale_execution_jobs.timeout <= interval '0' THEN
        RAISE EXCEPTION 'timeout must be positive, not %', requeue_stale_execution_jobs.timeout
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH stale AS (
        SELECT s.id
        FROM recorder.execution_jobs AS s
        WHERE s.status = 'running' AND s.claimed_at < pg_catalog.now() - requeue_stale_execution_jobs.timeout
        FOR UPDATE SKIP LOCKED
    ),

    requeued AS (
        UPDATE recorder.execution_jobs AS j
        SET status = 'pending',
            worker_id = NULL,
            claimed_at = NULL
        FROM stale
        WHERE j.id = stale.id
        RETURNING j.id
    )

    SELECT pg_catalog.count(*)::integer INTO v_count FROM requeued;
    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION recorder.requeue_stale_execution_jobs(interval) IS
'Worker queue: running jobs claimed (or last heard of) more than timeout ago go back to pending for '
'another worker; returns how many. Jobs locked right now (a worker writing) are skipped. The next '
'claim counts a new attempt, so the worker that lost the job is fenced out. NULL timeout: 22004; zero '
'or negative: 22023.';

CREATE FUNCTION recorder.record_vdi_metrics(
    p_worker_id text,
    p_worker_region text DEFAULT NULL,
    p_cpu_usage numeric DEFAULT NULL,
    p_memory_usage numeric DEFAULT NULL,
    p_browser_count integer DEFAULT NULL,
    p_jobs_processed integer DEFAULT 0,
    p_jobs_succeeded integer DEFAULT 0,
    p_jobs_failed integer DEFAULT 0,
    p_avg_job_duration integer DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_id uuid;
BEGIN
    IF p_worker_id IS NULL THEN
        RAISE EXCEPTION 'worker_id must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF pg_catalog.btrim(p_worker_id) = '' OR pg_catalog.length(p_worker_id) > 255 THEN
        RAISE EXCEPTION 'worker_id must be 1 to 255 characters, not blank' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_memory_usage < 0 OR p_browser_count < 0 OR p_jobs_processed < 0 OR p_jobs_succeeded < 0
        OR p_jobs_failed < 0 OR p_avg_job_duration < 0 THEN
        RAISE EXCEPTION 'metrics must not be negative' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    INSERT INTO recorder.vdi_metrics (
        worker_id, worker_region, cpu_usage, memory_usage, browser_count, jobs_processed, jobs_succeeded,
        jobs_failed, avg_job_duration
    ) VALUES (
        p_worker_id, p_worker_region, p_cpu_usage, p_memory_usage, p_browser_count, p_jobs_processed,
        p_jobs_succeeded, p_jobs_failed, p_avg_job_duration
    )
    RETURNING id INTO v_id;
    RETURN v_id;
END
$fn$;
COMMENT ON FUNCTION recorder.record_vdi_metrics(text, text, numeric, numeric, integer, integer, integer, integer, integer) IS
'Worker queue: a worker reports its metrics; recorded_at (the partition key) is the database''s clock. '
'Returns the row id. 22004 NULL worker, 22023 blank worker or negative figure; cpu_usage outside '
'0..100 is refused by check_vdi_metrics_cpu (23514).';

-- Grants ----------------------------------------------------------------------------
-- Workers: recorder_worker (least privilege) and Supabase's service_role (compatibility).

GRANT EXECUTE ON FUNCTION recorder.claim_execution_job(text) TO recorder_worker;
GRANT EXECUTE ON FUNCTION recorder.requeue_stale_execution_jobs(interval) TO recorder_worker;
GRANT EXECUTE ON FUNCTION recorder.heartbeat_execution_job(uuid, integer) TO recorder_worker, service_role;
GRANT EXECUTE ON FUNCTION recorder.record_execution_result(
    uuid, integer, integer, text, jsonb, integer, text, jsonb, text, timestamptz, timestamptz
) TO recorder_worker, service_role;
GRANT EXECUTE ON FUNCTION recorder.record_execution_log(
    uuid, integer, text, text, integer, integer, jsonb
) TO recorder_worker, service_role;
GRANT EXECUTE ON FUNCTION recorder.lookup_job_healing_cache(
    uuid, integer, integer, text
) TO recorder_worker, service_role;
GRANT EXECUTE ON FUNCTION recorder.record_healing_log(
    uuid, integer, integer, text, boolean, text, text, integer, text, jsonb, jsonb, boolean, text
) TO recorder_worker, service_role;
GRANT EXECUTE ON FUNCTION recorder.finish_execution_job(uuid, integer, text) TO recorder_worker, service_role;
GRANT EXECUTE ON FUNCTION recorder.record_vdi_metrics(
    text, text, numeric, numeric, integer, integer, integer, integer, integer
) TO recorder_worker, service_role;
