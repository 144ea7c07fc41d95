-- recorder 0001: the Chrome Extension Test Recorder on Supabase, phase 1 (seed 001, sections 3-7.1).
-- depends: ops_0002_partition_engine
--
-- The seven phase-1 tables (users, recordings, execution_jobs, execution_results,
-- execution_logs, healing_logs, vdi_metrics), their indexes, the trigger functions of
-- section 6 (the progress counter rewritten as an O(1) delta), the worker queue
-- (claim_execution_job, requeue_stale_execution_jobs), the healing cache lookup, row
-- level security and grants. execution_logs and vdi_metrics are monthly range-partitioned
-- and registered with the ops engine. docs/deviations.md (recorder) lists every place this
-- differs from the seed, and why.
--
-- Supabase: users.id references auth.users(id) and policies call auth.uid(). Where the
-- database has no auth schema, a minimal compatible one is created (auth.users,
-- auth.uid()), and so are the roles anon, authenticated and service_role where the
-- cluster lacks them; recorder.supabase_shim records what was created, so the rollback
-- drops only that. An existing auth schema (Supabase's) is used and never modified, and
-- schema_tool_owner gets no privilege in it: the statements naming auth (the foreign key
-- to auth.users, the policies) run as the migrating user.
--
-- Roles: authenticated (signed-in users, through PostgREST or SET LOCAL ROLE plus
-- request.jwt.claims) sees and writes only its own rows under RLS; service_role (the VDI
-- workers) bypasses RLS; anon gets nothing here. recorder_app is made a member of
-- authenticated and service_role: a backend connects as a member of recorder_app and
-- switches with SET LOCAL ROLE, like Supabase's authenticator role.

-- Roles (needs CREATEROLE, and superuser for BYPASSRLS; before SET LOCAL ROLE) ----------

SELECT ops.ensure_app_role('recorder');

DO $roles$
DECLARE
    v_created text [] := '{}';
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'anon') THEN
        CREATE ROLE anon NOLOGIN NOINHERIT;
        v_created := v_created || 'anon'::text;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'authenticated') THEN
        CREATE ROLE authenticated NOLOGIN NOINHERIT;
        v_created := v_created || 'authenticated'::text;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'service_role') THEN
        CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
        v_created := v_created || 'service_role'::text;
    END IF;
    -- Supabase's auth schema is used as it is; one without auth.users and auth.uid() is
    -- not Supabase's, and is not ours to complete.
    IF pg_catalog.to_regnamespace('auth') IS NOT NULL
        AND (pg_catalog.to_regclass('auth.users') IS NULL OR pg_catalog.to_regprocedure('auth.uid()') IS NULL)
    THEN
        RAISE EXCEPTION 'schema auth exists but lacks auth.users or auth.uid(); recorder needs Supabase''s auth'
            USING ERRCODE = 'invalid_schema_definition';
    END IF;
    -- read below, as schema_tool_owner, in this transaction only
    PERFORM pg_catalog.set_config('schema_tool.recorder_created_roles', pg_catalog.array_to_string(v_created, ','), TRUE);
    PERFORM pg_catalog.set_config(
        'schema_tool.recorder_auth',
        CASE WHEN pg_catalog.to_regnamespace('auth') IS NULL THEN 'create' ELSE 'existing' END,
        TRUE
    );
    GRANT authenticated, service_role TO recorder_app;
END
$roles$;

-- Everything below belongs to the owner role ------------------------------------------

SET LOCAL ROLE schema_tool_owner;

-- Schema ------------------------------------------------------------------------------

CREATE SCHEMA recorder;
COMMENT ON SCHEMA recorder IS
'Chrome Extension Test Recorder: recordings (canonical JSONB steps), CSV-driven execution jobs, '
'their results and logs, AI healing history and cache, VDI worker metrics; teams from phase 3.';
GRANT USAGE ON SCHEMA recorder TO recorder_app, authenticated, service_role;

-- Supabase compatibility ----------------------------------------------------------------

CREATE TABLE recorder.supabase_shim (
    object_type text NOT NULL,
    object_name name NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT supabase_shim_pkey PRIMARY KEY (object_type, object_name),
    CONSTRAINT check_supabase_shim_object_type CHECK (object_type IN ('schema', 'role'))
);
ALTER TABLE recorder.supabase_shim ENABLE ROW LEVEL SECURITY;
COMMENT ON TABLE recorder.supabase_shim IS
'What recorder_0001 created because it was absent: the auth schema (a minimal Supabase-compatible '
'auth.users and auth.uid()) and the roles anon, authenticated, service_role. The rollback drops '
'only these. No rows about auth on Supabase, whose auth schema is never modified.';

INSERT INTO recorder.supabase_shim (object_type, object_name)
SELECT
    'role' AS object_type,
    r.name AS object_name
FROM
    pg_catalog.unnest(
        pg_catalog.string_to_array(
            nullif(pg_catalog.current_setting('schema_tool.recorder_created_roles', TRUE), ''), ','
        )
    ) AS r (name);

DO $shim$
BEGIN
    IF pg_catalog.current_setting('schema_tool.recorder_auth', TRUE) IS DISTINCT FROM 'create' THEN
        RETURN;
    END IF;
    CREATE SCHEMA auth;
    COMMENT ON SCHEMA auth IS
    'Minimal stand-in for Supabase''s auth schema (auth.users, auth.uid()), created by recorder_0001 '
    'because the database had none; on Supabase the real one is used.';

    CREATE TABLE auth.users (
        id uuid NOT NULL,
        aud varchar(255),
        role varchar(255),
        email varchar(255),
        raw_app_meta_data jsonb,
        raw_user_meta_data jsonb,
        created_at timestamptz DEFAULT now(),
        updated_at timestamptz DEFAULT now(),
        CONSTRAINT users_pkey PRIMARY KEY (id)
    );
    ALTER TABLE auth.users ENABLE ROW LEVEL SECURITY;
    COMMENT ON TABLE auth.users IS
    'Supabase Auth''s users (the columns recorder needs, with Supabase''s names and types). '
    'Written by the auth service or an administrator; no API role may read or write it.';
    COMMENT ON COLUMN auth.users.raw_app_meta_data IS
    'Supabase app metadata, set by the server only: {"provider": "email", "providers": ["email"], ...}.';
    COMMENT ON COLUMN auth.users.raw_user_meta_data IS
    'Supabase user metadata, editable by the user: free-form object, e.g. {"full_name": "..."}.';

    CREATE FUNCTION auth.uid()
    RETURNS uuid
    LANGUAGE sql
    STABLE
    SET search_path = ''
    AS $uid$
        SELECT coalesce(
            nullif(pg_catalog.current_setting('request.jwt.claim.sub', TRUE), ''),
            (nullif(pg_catalog.current_setting('request.jwt.claims', TRUE), '')::jsonb ->> 'sub')
        )::uuid
    $uid$;
    COMMENT ON FUNCTION auth.uid() IS
    'The signed-in user''s id, as Supabase''s auth.uid(): the sub claim of request.jwt.claims (or the '
    'legacy request.jwt.claim.sub); NULL when neither is set or both are empty.';

    GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
    GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;

    INSERT INTO recorder.supabase_shim (object_type, object_name) VALUES ('schema', 'auth');
END
$shim$;

-- Validation functions (used by CHECK constraints below) ---------------------------------

CREATE FUNCTION recorder.is_valid_steps(p_steps jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
BEGIN ATOMIC
    SELECT
        CASE
            WHEN jsonb_typeof(p_steps) = 'array'
                THEN NOT EXISTS (
                        SELECT
                        FROM jsonb_array_elements(p_steps) AS s (step)
                        WHERE
                            jsonb_typeof(s.step) IS DISTINCT FROM 'object'
                            OR jsonb_typeof(s.step -> 'stepNumber') IS DISTINCT FROM 'number'
                            OR jsonb_typeof(s.step -> 'event') IS DISTINCT FROM 'string'
                            OR jsonb_typeof(s.step -> 'navigation') IS DISTINCT FROM 'object'
                            OR jsonb_typeof(s.step -> 'navigation' -> 'type') IS DISTINCT FROM 'string'
                            OR jsonb_typeof(s.step -> 'bundle') IS DISTINCT FROM 'object'
                    )
            ELSE FALSE
        END;
END;
COMMENT ON FUNCTION recorder.is_valid_steps(jsonb) IS
'True when a steps value has the canonical RecordedStep shape: a JSON array whose elements are '
'objects with a numeric stepNumber, a string event, a navigation object with a string type, and '
'a bundle object (other keys are free). Backs check_recordings_steps_format.';

-- Tables --------------------------------------------------------------------------------

CREATE TABLE recorder.users (
    id uuid NOT NULL,
    email text NOT NULL,
    tier text NOT NULL DEFAULT 'starter',
    preferences jsonb NOT NULL DEFAULT '{
        "recording": {"overlayPosition": "top", "autoMinimize": false, "captureScreenshots": true},
        "replay": {"highlightElements": true, "slowMotion": false, "waitTimeout": 5000},
        "aiHealing": {"mode": "autonomous", "confidenceThreshold": 80, "cacheEnabled": true}
    }',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (id),
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT check_users_tier CHECK (tier IN ('starter', 'professional', 'business', 'enterprise')),
    CONSTRAINT check_users_preferences CHECK (jsonb_typeof(preferences) = 'object')
);

CREATE TABLE recorder.recordings (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL,
    name text NOT NULL,
    description text,
    starting_url text NOT NULL,
    status text NOT NULL DEFAULT 'draft',
    step_count integer NOT NULL DEFAULT 0,
    duration integer,
    steps jsonb NOT NULL DEFAULT '[]',
    variables jsonb NOT NULL DEFAULT '{}',
    recording_method text NOT NULL DEFAULT 'extension',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT recordings_pkey PRIMARY KEY (id),
    CONSTRAINT fk_recordings_user FOREIGN KEY (user_id) REFERENCES recorder.users (id) ON DELETE CASCADE,
    CONSTRAINT check_recordings_status CHECK (status IN ('recording', 'draft', 'ready', 'archived')),
    CONSTRAINT check_recordings_recording_method CHECK (recording_method IN ('extension', 'cloud_browser')),
    CONSTRAINT check_recordings_steps_format CHECK (recorder.is_valid_steps(steps)),
    CONSTRAINT check_recordings_variables CHECK (jsonb_typeof(variables) = 'object')
);

-- csv_data against total_rows is checked by the constraint trigger
-- check_execution_jobs_total_rows (below), not by a CHECK: a CHECK runs on every UPDATE of
-- the row, and every result updates its job, so it would read the whole CSV each time.
CREATE TABLE recorder.execution_jobs (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    recording_id uuid NOT NULL,
    user_id uuid NOT NULL,
    status text NOT NULL DEFAULT 'pending',
    csv_data jsonb NOT NULL,
    field_mapping jsonb NOT NULL,
    total_rows integer NOT NULL,
    completed_rows integer NOT NULL DEFAULT 0,
    successful_rows integer NOT NULL DEFAULT 0,
    failed_rows integer NOT NULL DEFAULT 0,
    concurrency integer NOT NULL DEFAULT 5,
    stop_on_error boolean NOT NULL DEFAULT FALSE,
    worker_id text,
    claimed_at timestamptz,
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT execution_jobs_pkey PRIMARY KEY (id),
    CONSTRAINT fk_execution_jobs_recording FOREIGN KEY (recording_id)
    REFERENCES recorder.recordings (id) ON DELETE CASCADE,
    CONSTRAINT execution_jobs_user_id_fkey FOREIGN KEY (user_id) REFERENCES recorder.users (id) ON DELETE CASCADE,
    CONSTRAINT check_execution_jobs_status CHECK (
        status IN ('pending', 'running', 'completed', 'failed', 'cancelled')
    ),
    CONSTRAINT check_execution_jobs_concurrency CHECK (concurrency BETWEEN 1 AND 10),
    CONSTRAINT check_execution_jobs_progress CHECK (
        successful_rows >= 0 AND failed_rows >= 0
        AND successful_rows + failed_rows <= completed_rows AND completed_rows <= total_rows
    )
);

CREATE TABLE recorder.execution_results (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    execution_job_id uuid NOT NULL,
    row_index integer NOT NULL,
    row_data jsonb NOT NULL,
    status text NOT NULL,
    duration integer,
    error_message text,
    step_results jsonb DEFAULT '[]',
    screenshot_url text,
    started_at timestamptz,
    completed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT execution_results_pkey PRIMARY KEY (id),
    CONSTRAINT fk_execution_results_job FOREIGN KEY (execution_job_id)
    REFERENCES recorder.execution_jobs (id) ON DELETE CASCADE,
    CONSTRAINT check_execution_results_status CHECK (status IN ('success', 'failed', 'skipped')),
    CONSTRAINT check_execution_results_row_index CHECK (row_index >= 0),
    CONSTRAINT check_execution_results_step_results CHECK (jsonb_typeof(step_results) = 'array')
);

CREATE TABLE recorder.execution_logs (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    execution_job_id uuid NOT NULL,
    level text NOT NULL,
    message text NOT NULL,
    row_index integer,
    step_number integer,
    metadata jsonb DEFAULT '{}',
    timestamp timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT execution_logs_pkey PRIMARY KEY (id, timestamp),
    CONSTRAINT execution_logs_execution_job_id_fkey FOREIGN KEY (execution_job_id)
    REFERENCES recorder.execution_jobs (id) ON DELETE CASCADE,
    CONSTRAINT check_execution_logs_level CHECK (level IN ('info', 'warn', 'error', 'debug'))
) PARTITION BY RANGE (timestamp);

CREATE TABLE recorder.healing_logs (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    execution_job_id uuid,
    recording_id uuid NOT NULL,
    step_number integer NOT NULL,
    original_selector text NOT NULL,
    healed_selector text,
    healing_method text,
    confidence_score integer,
    screenshot_url text,
    claude_request jsonb,
    claude_response jsonb,
    cache_hit boolean DEFAULT FALSE,
    cache_key text,
    cached_until timestamptz,
    success boolean NOT NULL,
    error_message text,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT healing_logs_pkey PRIMARY KEY (id),
    CONSTRAINT healing_logs_execution_job_id_fkey FOREIGN KEY (execution_job_id)
    REFERENCES recorder.execution_jobs (id) ON DELETE CASCADE,
    CONSTRAINT healing_logs_recording_id_fkey FOREIGN KEY (recording_id)
    REFERENCES recorder.recordings (id) ON DELETE CASCADE,
    CONSTRAINT check_healing_logs_method CHECK (
        healing_method IN ('claude_vision', 'fuzzy_match', 'bounding_box', 'cached')
    ),
    CONSTRAINT check_healing_logs_confidence CHECK (confidence_score BETWEEN 0 AND 100)
);

CREATE TABLE recorder.vdi_metrics (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    worker_id text NOT NULL,
    worker_region text,
    cpu_usage numeric(5, 2),
    memory_usage numeric(10, 2),
    browser_count integer,
    jobs_processed integer DEFAULT 0,
    jobs_succeeded integer DEFAULT 0,
    jobs_failed integer DEFAULT 0,
    avg_job_duration integer,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT vdi_metrics_pkey PRIMARY KEY (id, recorded_at),
    CONSTRAINT check_vdi_metrics_cpu CHECK (cpu_usage BETWEEN 0.00 AND 100.00)
) PARTITION BY RANGE (recorded_at);

-- before the partitions exist, so that each child gets it too (ops.mirror_parent)
ALTER TABLE recorder.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE recorder.recordings ENABLE ROW LEVEL SECURITY;
ALTER TABLE recorder.execution_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE recorder.execution_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE recorder.execution_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE recorder.healing_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE recorder.vdi_metrics ENABLE ROW LEVEL SECURITY;

-- Indexes -------------------------------------------------------------------------------
-- The seed's, under its names. Some repeat a leading prefix of another (idx_users_email and
-- users_email_key, idx_recordings_user_id, idx_execution_results_job_id,
-- idx_healing_logs_recording_id): kept as part of the contract. Not created:
-- idx_execution_jobs_pending (created_at) WHERE status = 'pending', which duplicates
-- idx_execution_jobs_poller and, being smaller, would take the poller's query from it.

CREATE INDEX idx_users_email ON recorder.users (email);
CREATE INDEX idx_users_tier ON recorder.users (tier);

CREATE INDEX idx_recordings_user_id ON recorder.recordings (user_id);
CREATE INDEX idx_recordings_user_status_created ON recorder.recordings (user_id, status, created_at DESC);
CREATE INDEX idx_recordings_status ON recorder.recordings (status);
CREATE INDEX idx_recordings_created_at ON recorder.recordings (created_at DESC);
CREATE INDEX idx_recordings_recording_method ON recorder.recordings (recording_method);
CREATE INDEX idx_recordings_name_gin ON recorder.recordings USING gin (to_tsvector('english', name));
CREATE INDEX idx_recordings_steps_gin ON recorder.recordings USING gin (steps);

CREATE INDEX idx_execution_jobs_recording_id ON recorder.execution_jobs (recording_id);
CREATE INDEX idx_execution_jobs_user_id ON recorder.execution_jobs (user_id);
CREATE INDEX idx_execution_jobs_status ON recorder.execution_jobs (status);
CREATE INDEX idx_execution_jobs_created_at ON recorder.execution_jobs (created_at DESC);
-- the worker queue: claim_execution_job() and the seed's poller query
CREATE INDEX idx_execution_jobs_poller ON recorder.execution_jobs (status, created_at) WHERE status = 'pending';
-- requeue_stale_execution_jobs()
CREATE INDEX idx_execution_jobs_stale ON recorder.execution_jobs (status, claimed_at) WHERE status = 'running';

CREATE INDEX idx_execution_results_job_id ON recorder.execution_results (execution_job_id);
-- unique: one result per CSV row of a job (a retry updates it), so the counters stay exact
CREATE UNIQUE INDEX idx_execution_results_row_index ON recorder.execution_results (execution_job_id, row_index);
CREATE INDEX idx_execution_results_status ON recorder.execution_results (status);

CREATE INDEX idx_execution_logs_job_id_timestamp ON recorder.execution_logs (execution_job_id, timestamp DESC);
CREATE INDEX idx_execution_logs_level ON recorder.execution_logs (level);

CREATE INDEX idx_healing_logs_recording_id ON recorder.healing_logs (recording_id);
CREATE INDEX idx_healing_logs_step_number ON recorder.healing_logs (recording_id, step_number);
CREATE INDEX idx_healing_logs_execution_job_id ON recorder.healing_logs (execution_job_id);
CREATE INDEX idx_healing_logs_success ON recorder.healing_logs (success);
CREATE INDEX idx_healing_logs_healing_method ON recorder.healing_logs (healing_method);
-- lookup_healing_cache(): the freshest successful healing of a key (the seed's predicate
-- "cached_until > NOW()" is not immutable, so PostgreSQL rejects it in an index)
CREATE INDEX idx_healing_cache_lookup ON recorder.healing_logs (cache_key, created_at DESC) WHERE success;

CREATE INDEX idx_vdi_metrics_worker_id ON recorder.vdi_metrics (worker_id, recorded_at DESC);
CREATE INDEX idx_vdi_metrics_recorded_at ON recorder.vdi_metrics (recorded_at DESC);

-- Comments ------------------------------------------------------------------------------

COMMENT ON TABLE recorder.users IS 'User accounts extending Supabase Auth with tier and preferences';
COMMENT ON COLUMN recorder.users.id IS 'auth.users(id): the Supabase Auth user this account extends';
COMMENT ON COLUMN recorder.users.tier IS
'Subscription level: starter (free), professional ($49), business ($149), enterprise ($299+)';
COMMENT ON COLUMN recorder.users.preferences IS
'User-configurable settings stored as JSONB: {"recording": {"overlayPosition", "autoMinimize", '
'"captureScreenshots", "labelDetectionMode", "highlightRecordedElements"}, "replay": '
'{"highlightElements", "slowMotion", "slowMotionDelay", "waitTimeout", "retryAttempts", '
'"retryBackoff": [ms, ...]}, "aiHealing": {"mode", "confidenceThreshold", "cacheEnabled", "cacheTTL", '
'"maxAttemptsPerStep"}, "notifications": {"email", "browser", "executionComplete", "executionFailed", '
'"healingUsed"}, "ui": {"theme", "compactMode", "defaultView"}}; every key optional.';

COMMENT ON TABLE recorder.recordings IS 'Canonical workflow storage with JSONB steps array';
COMMENT ON COLUMN recorder.recordings.steps IS
'Complete step array in canonical JSON format (unchanged across all phases): [RecordedStep, ...], '
'RecordedStep = {"stepNumber": number, "event": string, "navigation": {"type": string, "url"?: string}, '
'"bundle": LocatorBundle {"xpath", "id", "name", "className", "aria", "placeholder", "dataAttrs": {}, '
'"tag", "visibleText", "bounding": {"left", "top", "width", "height"}, "iframeChain": [], '
'"shadowHosts": [], "isClosedShadow"}, "selector"?: string, "value"?: string, "label"?, "timestamp"?, '
'"x"?, "y"?, "page"?, "tabId"?, "metadata"?: {}}. Required keys enforced by '
'check_recordings_steps_format.';
COMMENT ON COLUMN recorder.recordings.variables IS
'Parsed field definitions and CSV column mappings: {"<step label>": {"type": "input" | "checkbox" | '
'..., "required": boolean, "description"?: string, "csvColumn": string, "stepNumber": number, '
'"defaultValue": string}}';
COMMENT ON COLUMN recorder.recordings.recording_method IS 'extension (local) or cloud_browser (Phase 2+)';
COMMENT ON COLUMN recorder.recordings.step_count IS
'Cached jsonb_array_length(steps), kept by the update_recordings_step_count trigger';

COMMENT ON TABLE recorder.execution_jobs IS 'Test run management and VDI job queue';
COMMENT ON COLUMN recorder.execution_jobs.csv_data IS
'Complete CSV data as JSONB array: one object per row, {"<column>": "<value>", ...}; its length is '
'total_rows (constraint trigger check_execution_jobs_total_rows).';
COMMENT ON COLUMN recorder.execution_jobs.field_mapping IS
'Maps CSV column names to recording step labels: {"<csv column>": "<step label>", ...}; unmapped '
'columns are absent.';
COMMENT ON COLUMN recorder.execution_jobs.completed_rows IS
'Rows processed, whatever their result (success, failed or skipped); the job completes when it '
'reaches total_rows. Skipped rows = completed_rows - successful_rows - failed_rows.';
COMMENT ON COLUMN recorder.execution_jobs.worker_id IS 'VDI worker that claimed this job';
COMMENT ON COLUMN recorder.execution_jobs.claimed_at IS
'For detecting stale jobs (timeout after 10 minutes); refreshed at most once a minute while '
'results arrive, so a long job that progresses is never considered stale.';

COMMENT ON TABLE recorder.execution_results IS 'Per-row execution results with step-by-step details';
COMMENT ON COLUMN recorder.execution_results.row_data IS
'Complete CSV row data: the row''s object from execution_jobs.csv_data, {"<column>": "<value>", ...}';
COMMENT ON COLUMN recorder.execution_results.step_results IS
'JSONB array of per-step results: [{"stepNumber": number, "success": boolean, "duration": ms, '
'"strategy": string, "message"?: string, "error"?: string, "healingAttempted"?: boolean, '
'"healingSuccess"?: boolean}, ...]';

COMMENT ON TABLE recorder.execution_logs IS
'Real-time execution logs for monitoring; monthly partitions on timestamp, kept 90 days';
COMMENT ON COLUMN recorder.execution_logs.metadata IS
'Additional context (strategy used, duration, etc.): {"strategy"?: string, "duration"?: ms, '
'"selector"?: string, ...}';

COMMENT ON TABLE recorder.healing_logs IS 'AI healing history with 24-hour cache';
COMMENT ON COLUMN recorder.healing_logs.cache_key IS
'MD5 of recording_id || step_number || original_selector, set by set_healing_logs_cache on '
'successful healings';
COMMENT ON COLUMN recorder.healing_logs.cached_until IS 'Cache expiration (created_at + 24 hours)';
COMMENT ON COLUMN recorder.healing_logs.claude_request IS
'Request payload sent to Claude API (model, messages with the screenshot and the failed locator '
'bundle); NULL when Claude was not called';
COMMENT ON COLUMN recorder.healing_logs.claude_response IS
'Complete Claude API response (id, content with the proposed selector and confidence, usage); NULL '
'when Claude was not called';

COMMENT ON TABLE recorder.vdi_metrics IS
'VDI worker performance metrics for monitoring and auto-scaling; monthly partitions on recorded_at, '
'kept 180 days';
COMMENT ON COLUMN recorder.vdi_metrics.worker_region IS 'Fly.io region for geographic performance analysis';
COMMENT ON COLUMN recorder.vdi_metrics.cpu_usage IS 'Percentage (0.00 to 100.00)';
COMMENT ON COLUMN recorder.vdi_metrics.memory_usage IS 'Megabytes';

-- Functions -----------------------------------------------------------------------------

CREATE FUNCTION recorder.update_updated_at_column()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.updated_at := pg_catalog.now();
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION recorder.update_updated_at_column() IS
'BEFORE UPDATE trigger: sets updated_at to the transaction time.';

CREATE FUNCTION recorder.update_recording_step_count()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    -- a steps value that is no array is rejected by check_recordings_steps_format, which
    -- runs after this trigger: do not fail here first with a less useful error
    IF pg_catalog.jsonb_typeof(NEW.steps) = 'array' THEN
        NEW.step_count := pg_catalog.jsonb_array_length(NEW.steps);
    ELSE
        NEW.step_count := 0;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION recorder.update_recording_step_count() IS
'BEFORE INSERT OR UPDATE OF steps, step_count trigger: step_count = number of steps.';

-- SECURITY DEFINER: the counters belong to the database. A signed-in user may write the
-- results of their own job but has no UPDATE privilege on the counter columns; this
-- function (owned by schema_tool_owner) updates them for whoever writes the result.
CREATE FUNCTION recorder.update_execution_job_progress()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_job uuid;
    v_done integer := 0;
    v_ok integer := 0;
    v_failed integer := 0;
    v_finish boolean;
    v_total integer;
BEGIN
    IF TG_OP = 'INSERT' THEN
        v_job := NEW.execution_job_id;
        v_done := 1;
        v_ok := (NEW.status = 'success')::integer;
        v_failed := (NEW.status = 'failed')::integer;
    ELSIF TG_OP = 'DELETE' THEN
        v_job := OLD.execution_job_id;
        v_done := -1;
        v_ok := -(OLD.status = 'success')::integer;
        v_failed := -(OLD.status = 'failed')::integer;
    ELSIF NEW.execution_job_id IS DISTINCT FROM OLD.execution_job_id THEN
        -- moved to another job: off the old one as if deleted, onto the new one as if inserted
        UPDATE recorder.execution_jobs AS j
        SET completed_rows = j.completed_rows - 1,
            successful_rows = j.successful_rows - (OLD.status = 'success')::integer,
            failed_rows = j.failed_rows - (OLD.status = 'failed')::integer
        WHERE j.id = OLD.execution_job_id;
        v_job := NEW.execution_job_id;
        v_done := 1;
        v_ok := (NEW.status = 'success')::integer;
        v_failed := (NEW.status = 'failed')::integer;
    ELSIF NEW.status IS DISTINCT FROM OLD.status OR NEW.row_index IS DISTINCT FROM OLD.row_index THEN
        v_job := NEW.execution_job_id;
        v_ok := (NEW.status = 'success')::integer - (OLD.status = 'success')::integer;
        v_failed := (NEW.status = 'failed')::integer - (OLD.status = 'failed')::integer;
    ELSE
        RETURN NULL;
    END IF;

    -- One UPDATE of the job row: it takes the row lock, and a concurrent writer waits for
    -- it and then applies its own delta to the committed counts, so none is lost.
    v_finish := FALSE;
    UPDATE recorder.execution_jobs AS j
    SET completed_rows = j.completed_rows + v_done,
        successful_rows = j.successful_rows + v_ok,
        failed_rows = j.failed_rows + v_failed,
        status = CASE
            WHEN j.status NOT IN ('pending', 'running') THEN j.status
            WHEN j.stop_on_error AND v_failed > 0 THEN 'failed'
            WHEN v_done > 0 AND j.completed_rows + v_done >= j.total_rows THEN 'completed'
            ELSE j.status
        END,
        completed_at = CASE
            WHEN j.status NOT IN ('pending', 'running') THEN j.completed_at
            WHEN (j.stop_on_error AND v_failed > 0)
                OR (v_done > 0 AND j.completed_rows + v_done >= j.total_rows) THEN pg_catalog.now()
            ELSE j.completed_at
        END,
        -- heartbeat: a job whose results keep arriving is not stale
        claimed_at = CASE
            WHEN j.status = 'running' AND j.claimed_at < pg_catalog.now() - interval '1 minute'
                THEN pg_catalog.now()
            ELSE j.claimed_at
        END
    WHERE j.id = v_job
    RETURNING j.total_rows INTO v_total;

    IF TG_OP <> 'DELETE' AND NEW.row_index >= v_total THEN
        RAISE EXCEPTION 'row_index % is beyond the % CSV rows of execution job %', NEW.row_index, v_total, v_job
            USING ERRCODE = 'check_violation', CONSTRAINT = 'check_execution_results_row_index',
            SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION recorder.update_execution_job_progress() IS
'AFTER row trigger on execution_results: applies the result''s delta to its job''s completed_rows '
'(every processed row: success, failed or skipped), successful_rows and failed_rows in one UPDATE '
'(O(1), exact under concurrency), completes the job when completed_rows reaches total_rows (fails '
'it at the first failure when stop_on_error), refreshes claimed_at at most once a minute while '
'running, and rejects a row_index beyond the CSV (check_execution_results_row_index).';

CREATE FUNCTION recorder.check_execution_job_csv_data()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_problem text;
BEGIN
    IF pg_catalog.jsonb_typeof(NEW.csv_data) IS DISTINCT FROM 'array' THEN
        v_problem := 'csv_data must be a JSON array of row objects';
    ELSIF pg_catalog.jsonb_path_exists(NEW.csv_data, '$[*] ? (@.type() != "object")') THEN
        v_problem := 'every element of csv_data must be a JSON object (one CSV row)';
    ELSIF NEW.total_rows IS DISTINCT FROM pg_catalog.jsonb_array_length(NEW.csv_data) THEN
        v_problem := pg_catalog.format(
            'total_rows is %s but csv_data holds %s rows', NEW.total_rows, pg_catalog.jsonb_array_length(NEW.csv_data)
        );
    END IF;
    IF v_problem IS NOT NULL THEN
        RAISE EXCEPTION '%', v_problem
            USING ERRCODE = 'check_violation', CONSTRAINT = TG_NAME, SCHEMA = TG_TABLE_SCHEMA, TABLE = TG_TABLE_NAME;
    END IF;
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION recorder.check_execution_job_csv_data() IS
'Constraint trigger check_execution_jobs_total_rows: csv_data is an array of row objects and '
'total_rows equals its length. Runs only when csv_data or total_rows are written.';

CREATE FUNCTION recorder.set_healing_cache_expiration()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF NEW.success THEN
        NEW.cached_until := NEW.created_at + interval '24 hours';
        NEW.cache_key := pg_catalog.md5(
            NEW.recording_id::text || NEW.step_number::text || coalesce(NEW.original_selector, '')
        );
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION recorder.set_healing_cache_expiration() IS
'BEFORE INSERT trigger on healing_logs: a successful healing is cached for 24 hours under '
'md5(recording_id || step_number || original_selector).';

CREATE FUNCTION recorder.claim_execution_job(worker_id text)
RETURNS SETOF recorder.execution_jobs
LANGUAGE sql
AS $fn$
    UPDATE recorder.execution_jobs AS j
    SET status = 'running',
        worker_id = $1,
        claimed_at = pg_catalog.now(),
        started_at = coalesce(j.started_at, pg_catalog.now())
    WHERE j.id = (
        SELECT p.id
        FROM recorder.execution_jobs AS p
        WHERE p.status = 'pending'
        ORDER BY p.created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING j.*
$fn$;
COMMENT ON FUNCTION recorder.claim_execution_job(text) IS
'Worker queue: claims the oldest pending job for worker_id (status running, claimed_at now, '
'started_at on first claim) in one statement, skipping jobs other workers are claiming '
'(FOR UPDATE SKIP LOCKED on idx_execution_jobs_poller), and returns it; no row when none is pending.';

CREATE FUNCTION recorder.requeue_stale_execution_jobs(timeout interval DEFAULT interval '10 minutes')
RETURNS integer
LANGUAGE sql
AS $fn$
    WITH stale AS (
        SELECT s.id
        FROM recorder.execution_jobs AS s
        WHERE s.status = 'running' AND s.claimed_at < pg_catalog.now() - $1
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

    SELECT pg_catalog.count(*)::integer FROM requeued
$fn$;
COMMENT ON FUNCTION recorder.requeue_stale_execution_jobs(interval) IS
'Worker queue: running jobs claimed (or last heard of) more than timeout ago go back to pending '
'for another worker; returns how many. Jobs locked right now (a result being written) are skipped.';

CREATE FUNCTION recorder.lookup_healing_cache(recording_id uuid, step_number integer, original_selector text)
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

-- Triggers ------------------------------------------------------------------------------

CREATE TRIGGER update_users_updated_at
BEFORE UPDATE ON recorder.users
FOR EACH ROW EXECUTE FUNCTION recorder.update_updated_at_column();

CREATE TRIGGER update_recordings_updated_at
BEFORE UPDATE ON recorder.recordings
FOR EACH ROW EXECUTE FUNCTION recorder.update_updated_at_column();

CREATE TRIGGER update_recordings_step_count
BEFORE INSERT OR UPDATE OF steps, step_count ON recorder.recordings
FOR EACH ROW EXECUTE FUNCTION recorder.update_recording_step_count();

CREATE TRIGGER update_execution_jobs_updated_at
BEFORE UPDATE ON recorder.execution_jobs
FOR EACH ROW EXECUTE FUNCTION recorder.update_updated_at_column();

CREATE CONSTRAINT TRIGGER check_execution_jobs_total_rows
AFTER INSERT OR UPDATE OF csv_data, total_rows ON recorder.execution_jobs
FOR EACH ROW EXECUTE FUNCTION recorder.check_execution_job_csv_data();

CREATE TRIGGER update_execution_jobs_progress
AFTER INSERT OR UPDATE ON recorder.execution_results
FOR EACH ROW EXECUTE FUNCTION recorder.update_execution_job_progress();

CREATE TRIGGER update_execution_jobs_progress_on_delete
AFTER DELETE ON recorder.execution_results
FOR EACH ROW EXECUTE FUNCTION recorder.update_execution_job_progress();

CREATE TRIGGER set_healing_logs_cache
BEFORE INSERT ON recorder.healing_logs
FOR EACH ROW EXECUTE FUNCTION recorder.set_healing_cache_expiration();

-- Partitions (ops engine) ---------------------------------------------------------------

SELECT ops.register_partitioned_table(
    'recorder.execution_logs'::regclass, 'timestamp',
    p_premake => 3, p_start_months_back => 0,
    p_retention => interval '90 days', p_retention_mode => 'drop'
);
SELECT ops.register_partitioned_table(
    'recorder.vdi_metrics'::regclass, 'recorded_at',
    p_premake => 3, p_start_months_back => 0,
    p_retention => interval '180 days', p_retention_mode => 'drop'
);

-- Statements naming Supabase's auth schema (as the migrating user) ----------------------
-- On Supabase only the migrating user (postgres) may use the auth schema; schema_tool_owner
-- is given nothing there. The foreign key and the policies are not owned objects.

SET LOCAL ROLE NONE;

ALTER TABLE recorder.users
ADD CONSTRAINT users_id_fkey FOREIGN KEY (id) REFERENCES auth.users (id) ON DELETE CASCADE;

-- RLS policies --------------------------------------------------------------------------
-- For the role authenticated; (SELECT auth.uid()) is evaluated once per statement. A
-- subquery on another table of ours sees that table through its own policies, so
-- "follows its job" means "the job is visible to you".

CREATE POLICY users_select_own ON recorder.users
FOR SELECT TO authenticated
USING (id = (SELECT auth.uid()));

CREATE POLICY users_insert_own ON recorder.users
FOR INSERT TO authenticated
WITH CHECK (id = (SELECT auth.uid()));

CREATE POLICY users_update_own ON recorder.users
FOR UPDATE TO authenticated
USING (id = (SELECT auth.uid()))
WITH CHECK (id = (SELECT auth.uid()));

CREATE POLICY recordings_select_own ON recorder.recordings
FOR SELECT TO authenticated
USING (user_id = (SELECT auth.uid()));

CREATE POLICY recordings_insert_own ON recorder.recordings
FOR INSERT TO authenticated
WITH CHECK (user_id = (SELECT auth.uid()));

CREATE POLICY recordings_update_own ON recorder.recordings
FOR UPDATE TO authenticated
USING (user_id = (SELECT auth.uid()))
WITH CHECK (user_id = (SELECT auth.uid()));

CREATE POLICY recordings_delete_own ON recorder.recordings
FOR DELETE TO authenticated
USING (user_id = (SELECT auth.uid()));

CREATE POLICY execution_jobs_select_own ON recorder.execution_jobs
FOR SELECT TO authenticated
USING (user_id = (SELECT auth.uid()));

CREATE POLICY execution_jobs_insert_own ON recorder.execution_jobs
FOR INSERT TO authenticated
WITH CHECK (
    user_id = (SELECT auth.uid())
    AND EXISTS (
        SELECT FROM recorder.recordings AS r
        WHERE r.id = execution_jobs.recording_id AND r.user_id = (SELECT auth.uid())
    )
);

CREATE POLICY execution_jobs_update_own ON recorder.execution_jobs
FOR UPDATE TO authenticated
USING (user_id = (SELECT auth.uid()))
WITH CHECK (user_id = (SELECT auth.uid()));

CREATE POLICY execution_jobs_delete_own ON recorder.execution_jobs
FOR DELETE TO authenticated
USING (user_id = (SELECT auth.uid()));

CREATE POLICY execution_results_select_via_job ON recorder.execution_results
FOR SELECT TO authenticated
USING (EXISTS (
    SELECT FROM recorder.execution_jobs AS j
    WHERE j.id = execution_results.execution_job_id
));

CREATE POLICY execution_results_write_own_job ON recorder.execution_results
FOR ALL TO authenticated
USING (
    EXISTS (
        SELECT FROM recorder.execution_jobs AS j
        WHERE j.id = execution_results.execution_job_id AND j.user_id = (SELECT auth.uid())
    )
)
WITH CHECK (
    EXISTS (
        SELECT FROM recorder.execution_jobs AS j
        WHERE j.id = execution_results.execution_job_id AND j.user_id = (SELECT auth.uid())
    )
);

CREATE POLICY execution_logs_select_via_job ON recorder.execution_logs
FOR SELECT TO authenticated
USING (EXISTS (
    SELECT FROM recorder.execution_jobs AS j
    WHERE j.id = execution_logs.execution_job_id
));

CREATE POLICY execution_logs_write_own_job ON recorder.execution_logs
FOR ALL TO authenticated
USING (
    EXISTS (
        SELECT FROM recorder.execution_jobs AS j
        WHERE j.id = execution_logs.execution_job_id AND j.user_id = (SELECT auth.uid())
    )
)
WITH CHECK (
    EXISTS (
        SELECT FROM recorder.execution_jobs AS j
        WHERE j.id = execution_logs.execution_job_id AND j.user_id = (SELECT auth.uid())
    )
);

CREATE POLICY healing_logs_select_via_recording ON recorder.healing_logs
FOR SELECT TO authenticated
USING (EXISTS (
    SELECT FROM recorder.recordings AS r
    WHERE r.id = healing_logs.recording_id
));

CREATE POLICY healing_logs_write_own_recording ON recorder.healing_logs
FOR ALL TO authenticated
USING (
    EXISTS (
        SELECT FROM recorder.recordings AS r
        WHERE r.id = healing_logs.recording_id AND r.user_id = (SELECT auth.uid())
    )
)
WITH CHECK (
    EXISTS (
        SELECT FROM recorder.recordings AS r
        WHERE r.id = healing_logs.recording_id AND r.user_id = (SELECT auth.uid())
    )
    AND (
        healing_logs.execution_job_id IS NULL
        OR EXISTS (
            SELECT FROM recorder.execution_jobs AS j
            WHERE j.id = healing_logs.execution_job_id
        )
    )
);

-- vdi_metrics and supabase_shim: no policy; only service_role (BYPASSRLS) and the owner.

-- Grants --------------------------------------------------------------------------------
-- authenticated: what a signed-in user may do, RLS deciding on which rows. Counters,
-- worker columns, tier and VM columns are written by the database and service_role only.
-- service_role: the VDI workers. recorder_app: through its membership in both.

SET LOCAL ROLE schema_tool_owner;

GRANT SELECT ON recorder.users TO authenticated;
GRANT INSERT (id, email, preferences), UPDATE (email, preferences) ON recorder.users TO authenticated;
GRANT SELECT, INSERT, DELETE ON recorder.recordings TO authenticated;
GRANT UPDATE (
    name, description, starting_url, status, duration, steps, variables, recording_method
) ON recorder.recordings TO authenticated;
GRANT SELECT, DELETE ON recorder.execution_jobs TO authenticated;
GRANT INSERT (
    id, recording_id, user_id, csv_data, field_mapping, total_rows, concurrency, stop_on_error
) ON recorder.execution_jobs TO authenticated;
GRANT UPDATE (status, concurrency, stop_on_error) ON recorder.execution_jobs TO authenticated;
GRANT SELECT, INSERT, DELETE ON recorder.execution_results TO authenticated;
GRANT UPDATE (
    status, duration, error_message, step_results, screenshot_url, started_at, completed_at
) ON recorder.execution_results TO authenticated;
GRANT SELECT, INSERT, DELETE ON recorder.execution_logs, recorder.healing_logs TO authenticated;

GRANT SELECT, INSERT, UPDATE, DELETE ON
recorder.users, recorder.recordings, recorder.execution_jobs, recorder.execution_results,
recorder.healing_logs
TO service_role;
GRANT SELECT, INSERT, DELETE ON recorder.execution_logs, recorder.vdi_metrics TO service_role;

GRANT EXECUTE ON FUNCTION recorder.is_valid_steps(jsonb) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION recorder.lookup_healing_cache(uuid, integer, text) TO authenticated, service_role;
GRANT EXECUTE ON FUNCTION recorder.claim_execution_job(text) TO service_role;
GRANT EXECUTE ON FUNCTION recorder.requeue_stale_execution_jobs(interval) TO service_role;

-- CSV data and recorded steps carry what users typed and uploaded: credentials included
SELECT ops.grant_read_only(
    'recorder',
    ARRAY[
        'recordings.steps', 'recordings.variables', 'execution_jobs.csv_data', 'execution_results.row_data'
    ]
);
