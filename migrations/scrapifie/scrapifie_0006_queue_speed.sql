-- scrapifie 0006: a worker's loop in one round trip (issue 14). complete_and_claim_scrape_job
-- completes the job a worker holds and claims its next one in one call and one statement:
-- one UPDATE of the two job rows and one INSERT of their two events (job.completed,
-- job.started), so the per-statement work (CHECKs, partition routing, the event's foreign
-- key) and the client round trip are paid once per job instead of twice. The same fencing
-- as complete_scrape_job: a worker that lost its job (timed out and requeued, canceled)
-- gets no_data_found and claims nothing.
-- depends: scrapifie_0005_validate_tenant_boundary

SET LOCAL ROLE schema_tool_owner;

-- Functions: the job queue (workers) ------------------------------------------------------

CREATE FUNCTION scrapifie.lost_job(p_job_id uuid, p_worker_id text, p_attempt integer)
RETURNS uuid
LANGUAGE plpgsql
AS $fn$
BEGIN
    RAISE EXCEPTION 'job % is not running attempt % for worker %', p_job_id, p_attempt, p_worker_id
        USING ERRCODE = 'no_data_found';
END
$fn$;
COMMENT ON FUNCTION scrapifie.lost_job(uuid, text, integer) IS
'Raises no_data_found for a job a worker no longer holds (inside a statement: the whole statement fails).';

-- SECURITY DEFINER: workers claim across tenants and have no table privilege; returns what
-- claim_scrape_jobs returns, no secret.
CREATE FUNCTION scrapifie.complete_and_claim_scrape_job(
    p_job_id uuid,
    p_worker_id text,
    p_attempt integer,
    p_queue text DEFAULT 'default'
)
RETURNS TABLE (
    id uuid,
    organization_id uuid,
    attempt integer,
    max_attempts integer,
    url text,
    method varchar(10),
    headers jsonb,
    body text,
    engine varchar(20),
    options jsonb,
    proxy_tier varchar(20),
    proxy_country varchar(2),
    proxy_city varchar(100),
    proxy_session_id varchar(100),
    user_agent text,
    priority integer,
    queue_name varchar(50),
    webhook_url text,
    started_at timestamptz,
    timeout_at timestamptz
)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $fn$
#variable_conflict use_column
BEGIN
    IF p_worker_id IS NULL OR p_queue IS NULL OR (p_job_id IS NULL) <> (p_attempt IS NULL) THEN
        RAISE EXCEPTION 'worker id and queue are required, job id and attempt go together'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_worker_id = '' OR length(p_worker_id) > 100 THEN
        RAISE EXCEPTION 'worker_id must be 1 to 100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
        -- Lock order: the held job first (waiting for it if need be), then the next one
        -- (never waited for: SKIP LOCKED). targets reads held before picked, so a worker that
        -- waits holds no other job, and two workers cannot deadlock over each other's jobs.
        WITH held AS (
            SELECT j.id
            FROM scrapifie.scrape_jobs AS j
            WHERE
                j.id = p_job_id AND j.status = 'running' AND j.worker_id = p_worker_id
                AND j.attempts = p_attempt
            FOR UPDATE
        ),

        picked AS (
            -- idx_jobs_queue in order; rows another worker holds are skipped, not waited for
            SELECT j.id
            FROM scrapifie.scrape_jobs AS j
            WHERE
                j.status IN ('pending', 'queued')
                AND coalesce(j.queue_name, 'default') = p_queue
            ORDER BY j.priority DESC, j.created_at ASC
            LIMIT 1
            FOR UPDATE SKIP LOCKED
        ),

        targets AS (
            SELECT
                h.id,
                TRUE AS done
            FROM held AS h
            UNION ALL
            SELECT
                p.id,
                FALSE AS done
            FROM picked AS p
        ),

        changed AS (
            UPDATE scrapifie.scrape_jobs AS j
            SET
                status = CASE WHEN t.done THEN 'completed' ELSE 'running' END,
                worker_id = p_worker_id,
                started_at = CASE WHEN t.done THEN j.started_at ELSE now() END,
                completed_at = CASE WHEN t.done THEN now() END,
                credits_charged = CASE WHEN t.done THEN j.credits_estimated ELSE j.credits_charged END,
                attempts = CASE WHEN t.done THEN j.attempts ELSE j.attempts + 1 END,
                -- options.timeout (ms) clamped into its documented range whatever the row holds
                timeout_at = CASE WHEN NOT t.done THEN now() + make_interval(secs => CASE
                    WHEN jsonb_typeof(j.options -> 'timeout') = 'number'
                        THEN least(greatest((j.options ->> 'timeout')::numeric, 1000), 600000) / 1000
                    ELSE 30
                END) END
            FROM targets AS t
            -- the fence again here: a concurrent change of the held row (expired, canceled) is
            -- re-checked against its latest version before this update applies
            WHERE
                j.id = t.id
                AND CASE
                    WHEN t.done THEN j.status = 'running' AND j.worker_id = p_worker_id AND j.attempts = p_attempt
                    ELSE j.status IN ('pending', 'queued')
                END
            RETURNING j.*, t.done
        ),

        logged AS (
            INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data, worker_id, duration_ms)
            SELECT
                c.id,
                c.organization_id,
                CASE WHEN c.done THEN 'job.completed' ELSE 'job.started' END,
                CASE
                    WHEN c.done THEN jsonb_build_object('attempt', c.attempts)
                    ELSE jsonb_build_object('attempt', c.attempts, 'queue', p_queue)
                END,
                p_worker_id,
                CASE WHEN c.done THEN least(extract(EPOCH FROM now() - c.started_at) * 1000, 2147483647)::integer END
            FROM changed AS c
        )

        SELECT
            c.id, c.organization_id, c.attempts, c.max_attempts, c.url, c.method, c.headers, c.body, c.engine,
            c.options, c.proxy_tier, c.proxy_country, c.proxy_city, c.proxy_session_id, c.user_agent, c.priority,
            c.queue_name, c.webhook_url, c.started_at, c.timeout_at
        FROM changed AS c
        WHERE NOT c.done
        UNION ALL
        -- the held job was not completed: the whole statement fails, the claim with it
        SELECT
            scrapifie.lost_job(p_job_id, p_worker_id, p_attempt),
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
            NULL, NULL
        WHERE p_job_id IS NOT NULL AND NOT EXISTS (SELECT FROM changed AS c WHERE c.done);
END
$fn$;
COMMENT ON FUNCTION scrapifie.complete_and_claim_scrape_job(uuid, text, integer, text) IS
'For scrapifie_worker: completes the job it holds (as complete_scrape_job without a result: running, '
'this worker, this attempt; job.completed) and claims its next job from p_queue (as claim_scrape_jobs '
'with batch 1; job.started), in one statement; returns the next job (no row when the queue is empty). '
'Without a job (both p_job_id and p_attempt NULL) it only claims. no_data_found, and nothing claimed, '
'when the job is not running this attempt for this worker.';

-- Grants ----------------------------------------------------------------------------------------

GRANT EXECUTE ON FUNCTION scrapifie.complete_and_claim_scrape_job(uuid, text, integer, text) TO scrapifie_worker;
