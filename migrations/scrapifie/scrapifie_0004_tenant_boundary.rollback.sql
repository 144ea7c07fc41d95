-- scrapifie 0004 rollback: undoes the tenant boundary: the application role's grants and
-- the seed's function definitions as scrapifie_0001 made them, the constraints and foreign
-- keys as they were, the worker and billing roles gone. The repaired job options stay repaired.

SET LOCAL ROLE schema_tool_owner;

-- Grants -----------------------------------------------------------------------------------

REVOKE ALL ON
scrapifie.organizations,
scrapifie.users,
scrapifie.api_keys,
scrapifie.scrape_jobs,
scrapifie.job_results,
scrapifie.job_events,
scrapifie.webhooks,
scrapifie.subscriptions,
scrapifie.usage_records,
scrapifie.invoices
FROM scrapifie_app, scrapifie_billing;
REVOKE USAGE ON SEQUENCE scrapifie.usage_records_id_seq FROM scrapifie_billing;

GRANT SELECT, INSERT, UPDATE, DELETE ON
scrapifie.organizations,
scrapifie.users,
scrapifie.api_keys,
scrapifie.scrape_jobs,
scrapifie.job_results,
scrapifie.webhooks,
scrapifie.subscriptions,
scrapifie.usage_records,
scrapifie.invoices
TO scrapifie_app;
GRANT SELECT, INSERT ON scrapifie.job_events TO scrapifie_app;
GRANT USAGE ON SEQUENCE scrapifie.job_events_id_seq, scrapifie.usage_records_id_seq TO scrapifie_app;
GRANT EXECUTE ON FUNCTION
scrapifie.generate_invoice_number(),
scrapifie.add_credits(uuid, bigint)
TO scrapifie_app;
SELECT ops.grant_read_only('scrapifie', ARRAY[
    'users.password_hash',
    'users.mfa_secret',
    'users.mfa_backup_codes',
    'api_keys.key_hash',
    'scrape_jobs.webhook_secret',
    'webhooks.secret',
    'proxy_providers.credentials'
]);

REVOKE EXECUTE ON FUNCTION
scrapifie.add_credits(uuid, bigint),
scrapifie.deduct_credits(uuid, bigint),
scrapifie.check_organization_credits(uuid, bigint),
scrapifie.get_proxy_providers(),
scrapifie.get_fingerprint(text, text, text),
scrapifie.get_domain_intelligence(text)
FROM scrapifie_billing, scrapifie_worker;

-- RLS policies -------------------------------------------------------------------------------

ALTER POLICY webhooks_tenant_isolation ON scrapifie.webhooks
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));
ALTER POLICY usage_records_tenant_isolation ON scrapifie.usage_records TO scrapifie_app
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));
ALTER POLICY invoices_tenant_isolation ON scrapifie.invoices TO scrapifie_app;
ALTER POLICY subscriptions_tenant_isolation ON scrapifie.subscriptions TO scrapifie_app;
ALTER POLICY organizations_tenant_isolation ON scrapifie.organizations TO scrapifie_app;

-- Triggers -------------------------------------------------------------------------------------

DROP TRIGGER invoices_assign_number ON scrapifie.invoices;
DROP TRIGGER webhooks_validate_url ON scrapifie.webhooks;
DROP TRIGGER scrape_jobs_validate_urls ON scrapifie.scrape_jobs;
DROP TRIGGER scrape_jobs_set_credits_estimated ON scrapifie.scrape_jobs;
DROP TRIGGER users_reset_email_verification ON scrapifie.users;

-- Functions: new ones gone, the seed's as scrapifie_0001 made them ----------------------------

DROP FUNCTION scrapifie.assign_invoice_number();
DROP FUNCTION scrapifie.reset_email_verification();
DROP FUNCTION scrapifie.validate_webhook_url();
DROP FUNCTION scrapifie.validate_job_urls();
DROP FUNCTION scrapifie.set_job_credits_estimated();
DROP FUNCTION scrapifie.revoke_api_key(uuid, uuid, text);
DROP FUNCTION scrapifie.invalidate_user_sessions(uuid);
DROP FUNCTION scrapifie.confirm_user_email(uuid, text);
DROP FUNCTION scrapifie.use_mfa_backup_code(uuid, text);
DROP FUNCTION scrapifie.verify_user_mfa_code(uuid, text);
DROP FUNCTION scrapifie.totp(bytea, timestamptz);
DROP FUNCTION scrapifie.base32_decode(text);
DROP FUNCTION scrapifie.verify_user_password(uuid, text, inet);
DROP FUNCTION scrapifie.set_user_password(uuid, text);
DROP FUNCTION scrapifie.cancel_scrape_job(uuid);
DROP FUNCTION scrapifie.record_webhook_delivery(uuid, boolean);
DROP FUNCTION scrapifie.record_job_webhook_delivery(uuid, boolean, text);
DROP FUNCTION scrapifie.due_job_webhooks(integer);
DROP FUNCTION scrapifie.fail_scrape_job(uuid, text, integer, text, text, jsonb, boolean);
DROP FUNCTION scrapifie.complete_scrape_job(uuid, text, integer, jsonb);
DROP FUNCTION scrapifie.webhook_signature(uuid, text);
DROP FUNCTION scrapifie.job_webhook_signature(uuid, text);
DROP FUNCTION scrapifie.require_tenant(uuid);
DROP FUNCTION scrapifie.acting_organization();

CREATE OR REPLACE FUNCTION scrapifie.calculate_url_hash(url text)
RETURNS varchar(64)
LANGUAGE sql
IMMUTABLE
STRICT
RETURN encode(sha256(convert_to(url, 'UTF8')), 'hex');
COMMENT ON FUNCTION scrapifie.calculate_url_hash(text) IS
'SHA-256 of a URL (its UTF-8 bytes) as 64 lowercase hex digits.';


CREATE OR REPLACE FUNCTION scrapifie.check_organization_credits(org_id uuid, required_credits bigint)
RETURNS boolean
LANGUAGE sql
STABLE
BEGIN ATOMIC
    SELECT coalesce(bool_or(o.plan_id = 'enterprise' OR o.credits_balance >= required_credits), FALSE)
    FROM scrapifie.organizations AS o
    WHERE o.id = org_id AND o.deleted_at IS NULL;
END;
COMMENT ON FUNCTION scrapifie.check_organization_credits(uuid, bigint) IS
'True when the organization can spend required_credits now: enterprise plans always, others when '
'the balance covers it. False for an unknown, deleted or (under RLS) invisible organization.';


CREATE OR REPLACE FUNCTION scrapifie.deduct_credits(org_id uuid, amount bigint)
RETURNS boolean
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF amount IS NULL OR amount <= 0 THEN
        RAISE EXCEPTION 'credits to deduct must be positive, got %', amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One conditional UPDATE: concurrent deductions queue on the row lock and each
    -- re-checks the balance it would leave, so the balance never goes below zero.
    UPDATE scrapifie.organizations AS o
    SET credits_balance = greatest(o.credits_balance - deduct_credits.amount, 0)
    WHERE o.id = deduct_credits.org_id
        AND o.deleted_at IS NULL
        AND (o.credits_balance >= deduct_credits.amount OR o.plan_id = 'enterprise');
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION scrapifie.deduct_credits(uuid, bigint) IS
'Atomically takes amount credits from the organization; false (nothing taken) when the balance '
'does not cover it. Enterprise plans (unlimited, see check_organization_credits) always succeed and '
'use their balance down to zero. amount must be positive.';


CREATE OR REPLACE FUNCTION scrapifie.add_credits(org_id uuid, amount bigint)
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF amount IS NULL OR amount <= 0 THEN
        RAISE EXCEPTION 'credits to add must be positive, got %', amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE scrapifie.organizations AS o
    SET credits_balance = o.credits_balance + add_credits.amount
    WHERE o.id = add_credits.org_id AND o.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'organization % not found', org_id USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION scrapifie.add_credits(uuid, bigint) IS
'Atomically adds amount (positive) credits to the organization; no_data_found if it does not exist.';


CREATE OR REPLACE FUNCTION scrapifie.calculate_job_credits(job scrapifie.scrape_jobs)
RETURNS bigint
LANGUAGE sql
IMMUTABLE
RETURN (
    CASE job.engine WHEN 'browser' THEN 5 WHEN 'stealth' THEN 10 ELSE 1 END
    + CASE job.proxy_tier WHEN 'residential' THEN 3 WHEN 'mobile' THEN 10 WHEN 'isp' THEN 5 ELSE 0 END
    + CASE WHEN job.options ->> 'screenshot' = 'true' THEN 2 ELSE 0 END
    + CASE WHEN job.options ->> 'pdf' = 'true' THEN 3 ELSE 0 END
)::bigint;
COMMENT ON FUNCTION scrapifie.calculate_job_credits(scrapifie.scrape_jobs) IS
'Credits a job costs: engine (http/auto 1, browser 5, stealth 10) + proxy tier (datacenter 0, '
'residential 3, isp 5, mobile 10) + screenshot 2 + pdf 3.';


CREATE OR REPLACE FUNCTION scrapifie.reset_monthly_credits()
RETURNS void
LANGUAGE sql
BEGIN ATOMIC
    UPDATE scrapifie.organizations AS o
    SET
        credits_balance = s.credits_included,
        credits_reset_at = now()
    FROM (
        SELECT DISTINCT ON (sub.organization_id)
            sub.organization_id,
            sub.credits_included,
            sub.current_period_start
        FROM scrapifie.subscriptions AS sub
        WHERE sub.status = 'active'
            AND sub.current_period_start <= now()
            AND sub.current_period_end > now()
        ORDER BY sub.organization_id DESC, sub.current_period_start DESC, sub.created_at DESC
    ) AS s
    WHERE o.id = s.organization_id
        AND o.deleted_at IS NULL
        AND (o.credits_reset_at IS NULL OR o.credits_reset_at < s.current_period_start);
END;
COMMENT ON FUNCTION scrapifie.reset_monthly_credits() IS
'Sets each organization with an active subscription in its current period to the period''s '
'credits_included, once per period (idempotent: a second run in the same period changes nothing).';


CREATE OR REPLACE FUNCTION scrapifie.get_usage_summary(
    org_id uuid,
    start_date timestamptz,
    end_date timestamptz
)
RETURNS TABLE (
    total_requests bigint,
    successful_requests bigint,
    failed_requests bigint,
    credits_used bigint,
    avg_response_time_ms numeric,
    success_rate numeric
)
LANGUAGE sql
STABLE
BEGIN ATOMIC
    SELECT
        count(*)::bigint AS total_requests,
        count(*) FILTER (WHERE j.status = 'completed')::bigint AS successful_requests,
        count(*) FILTER (WHERE j.status = 'failed')::bigint AS failed_requests,
        coalesce(sum(j.credits_charged), 0)::bigint AS credits_used,
        avg(extract(EPOCH FROM (j.completed_at - j.started_at)) * 1000)::numeric AS avg_response_time_ms,
        (
            count(*) FILTER (WHERE j.status = 'completed')::numeric / nullif(count(*)::numeric, 0) * 100
        )::numeric AS success_rate
    FROM scrapifie.scrape_jobs AS j
    WHERE j.organization_id = org_id
        AND j.created_at >= start_date
        AND j.created_at < end_date;
END;
COMMENT ON FUNCTION scrapifie.get_usage_summary(uuid, timestamptz, timestamptz) IS
'Jobs an organization created in [start_date, end_date): counts, credits charged, mean '
'started-to-completed time (ms) and success rate (percent). Runs as the caller (RLS applies).';


CREATE OR REPLACE FUNCTION scrapifie.cleanup_expired_results()
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_deleted integer;
BEGIN
    -- one job.result_expired event per removed result, in the job's organization (the
    -- seed logged a 'system.cleanup' event for a random job id, which job_events'
    -- foreign key and event type check both reject)
    WITH gone AS (
        DELETE FROM scrapifie.job_results AS r
        WHERE r.expires_at < now()
        RETURNING r.id, r.job_id, r.organization_id, r.expires_at
    ),

    unlinked AS (
        UPDATE scrapifie.scrape_jobs AS j
        SET result_id = NULL
        FROM gone AS g
        WHERE j.id = g.job_id AND j.result_id = g.id
    ),

    logged AS (
        INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data)
        SELECT
            g.job_id,
            g.organization_id,
            'job.result_expired',
            jsonb_build_object('result_id', g.id, 'expired_at', g.expires_at)
        FROM gone AS g
    )

    SELECT count(*) INTO v_deleted FROM gone;
    RETURN v_deleted;
END
$fn$;
COMMENT ON FUNCTION scrapifie.cleanup_expired_results() IS
'Deletes job results past expires_at, clears scrape_jobs.result_id pointing at them, logs one '
'job.result_expired event per result; returns how many it deleted. Maintenance (owner role).';


CREATE OR REPLACE FUNCTION scrapifie.cleanup_old_jobs(retention_days integer DEFAULT 90)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_deleted integer;
BEGIN
    IF retention_days IS NULL OR retention_days < 1 THEN
        RAISE EXCEPTION 'retention_days must be at least 1, got %', retention_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM scrapifie.scrape_jobs AS j
    WHERE j.created_at < now() - make_interval(days => cleanup_old_jobs.retention_days)
        AND j.status IN ('completed', 'failed', 'canceled', 'timeout');
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$fn$;
COMMENT ON FUNCTION scrapifie.cleanup_old_jobs(integer) IS
'Deletes finished jobs (completed, failed, canceled, timeout) created more than retention_days '
'(at least 1) ago, with their results and events; returns how many jobs. Maintenance (owner role).';


CREATE OR REPLACE FUNCTION scrapifie.submit_scrape_job(
    p_organization_id uuid,
    p_url text,
    p_idempotency_key text DEFAULT NULL,
    p_options jsonb DEFAULT NULL,
    p_engine text DEFAULT 'auto',
    p_proxy_tier text DEFAULT 'datacenter',
    p_priority integer DEFAULT 5,
    p_queue_name text DEFAULT 'default',
    p_api_key_id uuid DEFAULT NULL,
    p_method text DEFAULT 'GET',
    p_webhook_url text DEFAULT NULL,
    p_client_reference text DEFAULT NULL,
    p_batch_id uuid DEFAULT NULL
)
RETURNS TABLE (job_id uuid, created boolean)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_job scrapifie.scrape_jobs;
BEGIN
    v_job.engine := p_engine;
    v_job.proxy_tier := p_proxy_tier;
    -- the column default of scrape_jobs.options, overridden key by key
    v_job.options := '{"render_js": false, "wait_for": null, "wait_time": 0, "timeout": 30000,
        "screenshot": false, "pdf": false, "extract": null}'::jsonb || coalesce(p_options, '{}'::jsonb);
    LOOP
        INSERT INTO scrapifie.scrape_jobs AS j (
            organization_id, api_key_id, batch_id, url, url_hash, method, engine, options,
            proxy_tier, priority, queue_name, webhook_url, client_reference, idempotency_key,
            credits_estimated
        )
        VALUES (
            p_organization_id, p_api_key_id, p_batch_id, p_url, scrapifie.calculate_url_hash(p_url),
            p_method, p_engine, v_job.options, p_proxy_tier, p_priority, p_queue_name, p_webhook_url,
            p_client_reference, p_idempotency_key, scrapifie.calculate_job_credits(v_job)
        )
        ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING j.id INTO v_job.id;
        IF FOUND THEN
            INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data)
            VALUES (
                v_job.id, p_organization_id, 'job.created',
                jsonb_build_object('queue', p_queue_name, 'priority', p_priority)
            );
            job_id := v_job.id;
            created := TRUE;
            RETURN NEXT;
            RETURN;
        END IF;
        -- the key is taken: ON CONFLICT waited for its transaction to commit, so this
        -- statement's snapshot sees the job
        SELECT j.id INTO v_job.id
        FROM scrapifie.scrape_jobs AS j
        WHERE j.organization_id = p_organization_id AND j.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            job_id := v_job.id;
            created := FALSE;
            RETURN NEXT;
            RETURN;
        END IF;
        -- the job holding the key was deleted meanwhile: try again
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION scrapifie.submit_scrape_job(
    uuid, text, text, jsonb, text, text, integer, text, uuid, text, text, text, uuid
) IS
'Submits a pending scrape job (credits_estimated from calculate_job_credits, a job.created event). '
'With an idempotency key, at most one job per organization and key: submitting again, even '
'concurrently, returns the first job with created = false. Runs as the caller (RLS applies).';


DROP FUNCTION scrapifie.claim_scrape_jobs(text, text, integer);

-- SECURITY DEFINER: workers claim across tenants, while scrapifie_app sees one organization
-- (RLS). The function exposes only the claim itself.
CREATE OR REPLACE FUNCTION scrapifie.claim_scrape_jobs(worker_id text, queue text DEFAULT 'default', batch integer DEFAULT 1)
RETURNS SETOF scrapifie.scrape_jobs
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF claim_scrape_jobs.worker_id IS NULL OR claim_scrape_jobs.worker_id = '' THEN
        RAISE EXCEPTION 'worker_id is required' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF claim_scrape_jobs.batch IS NULL OR claim_scrape_jobs.batch NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'batch must be between 1 and 1000, got %', claim_scrape_jobs.batch
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH picked AS (
        -- idx_jobs_queue in order; rows another worker holds are skipped, not waited for
        SELECT j.id
        FROM scrapifie.scrape_jobs AS j
        WHERE j.status IN ('pending', 'queued')
            AND coalesce(j.queue_name, 'default') = claim_scrape_jobs.queue
        ORDER BY j.priority DESC, j.created_at ASC
        LIMIT claim_scrape_jobs.batch
        FOR UPDATE SKIP LOCKED
    ),

    claimed AS (
        UPDATE scrapifie.scrape_jobs AS j
        SET status = 'running',
            worker_id = claim_scrape_jobs.worker_id,
            started_at = now(),
            completed_at = NULL,
            attempts = j.attempts + 1,
            timeout_at = now() + make_interval(secs => CASE
                WHEN jsonb_typeof(j.options -> 'timeout') = 'number'
                    THEN greatest((j.options ->> 'timeout')::numeric, 1000) / 1000
                ELSE 30
            END)
        FROM picked AS p
        WHERE j.id = p.id
        RETURNING j.*
    ),

    started AS (
        INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data, worker_id)
        SELECT
            c.id,
            c.organization_id,
            'job.started',
            jsonb_build_object('attempt', c.attempts, 'queue', claim_scrape_jobs.queue),
            c.worker_id
        FROM claimed AS c
    )

    SELECT c.* FROM claimed AS c ORDER BY c.priority DESC, c.created_at ASC;
END
$fn$;
COMMENT ON FUNCTION scrapifie.claim_scrape_jobs(text, text, integer) IS
'Claims up to batch pending/queued jobs of a queue (NULL queue_name is ''default''), highest '
'priority then oldest first, with FOR UPDATE SKIP LOCKED: marks them running for worker_id, '
'counts the attempt, sets started_at and timeout_at (options.timeout ms, default 30 s), writes '
'job.started events, returns the jobs. A job is never handed to two workers.';


CREATE OR REPLACE FUNCTION scrapifie.expire_timed_out_jobs()
RETURNS TABLE (job_id uuid, outcome text)
LANGUAGE plpgsql
AS $fn$
BEGIN
    RETURN QUERY
    WITH due AS (
        SELECT j.id, j.worker_id AS old_worker
        FROM scrapifie.scrape_jobs AS j
        WHERE j.status = 'running' AND j.timeout_at IS NOT NULL AND j.timeout_at < now()
        FOR UPDATE SKIP LOCKED
    ),

    changed AS (
        UPDATE scrapifie.scrape_jobs AS j
        SET status = CASE WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'timeout' END,
            queued_at = CASE WHEN j.attempts < j.max_attempts THEN now() ELSE j.queued_at END,
            completed_at = CASE WHEN j.attempts < j.max_attempts THEN NULL ELSE now() END,
            worker_id = CASE WHEN j.attempts < j.max_attempts THEN NULL ELSE j.worker_id END,
            timeout_at = NULL,
            error_code = 'timeout',
            error_message = 'attempt ' || j.attempts || ' of ' || j.max_attempts || ' timed out'
        FROM due AS d
        WHERE j.id = d.id
        RETURNING j.id, j.organization_id, j.status, j.attempts, j.max_attempts, d.old_worker
    ),

    logged AS (
        INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data, worker_id)
        SELECT
            c.id,
            c.organization_id,
            CASE WHEN c.status = 'queued' THEN 'job.retry_scheduled' ELSE 'job.timeout' END,
            jsonb_build_object('attempt', c.attempts, 'max_attempts', c.max_attempts),
            c.old_worker
        FROM changed AS c
    )

    SELECT
        c.id,
        CASE WHEN c.status = 'queued' THEN 'retry' ELSE 'timeout' END
    FROM changed AS c
    ORDER BY c.id;
END
$fn$;
COMMENT ON FUNCTION scrapifie.expire_timed_out_jobs() IS
'Running jobs past timeout_at: queued again for another attempt while attempts < max_attempts '
'(job.retry_scheduled), else marked timeout (job.timeout). Returns each job and its outcome '
'(retry or timeout). Jobs a worker is updating at that moment are left for the next run. '
'Maintenance (owner role, e.g. every minute from cron).';


CREATE OR REPLACE FUNCTION scrapifie.create_api_key(
    p_organization_id uuid,
    p_name text,
    p_scopes jsonb DEFAULT NULL,
    p_environment text DEFAULT 'production',
    p_expires_at timestamptz DEFAULT NULL,
    p_created_by_user_id uuid DEFAULT NULL
)
RETURNS TABLE (api_key_id uuid, raw_key text)
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_prefix text := scrapifie.generate_api_key_prefix();
BEGIN
    -- 2 x 122 random bits (v4 UUIDs, pg_strong_random); only the hash is stored
    raw_key := v_prefix || '_' || replace(gen_random_uuid()::text, '-', '') || replace(gen_random_uuid()::text, '-', '');
    INSERT INTO scrapifie.api_keys AS k (
        organization_id, created_by_user_id, key_prefix, key_hash, name, scopes, environment, expires_at
    )
    VALUES (
        p_organization_id, p_created_by_user_id, v_prefix, encode(sha256(convert_to(raw_key, 'UTF8')), 'hex'),
        p_name, coalesce(p_scopes, '["scrape:read", "scrape:write"]'::jsonb), p_environment, p_expires_at
    )
    RETURNING k.id INTO api_key_id;
    RETURN NEXT;
END
$fn$;
COMMENT ON FUNCTION scrapifie.create_api_key(uuid, text, jsonb, text, timestamptz, uuid) IS
'Creates an API key sk_xxxxxxxx_<64 hex> and returns it once: only its SHA-256 hash and visible '
'prefix are stored. Runs as the caller (RLS applies).';


-- SECURITY DEFINER: a request is authenticated before any organization is known, and
-- scrapifie_app cannot read api_keys outside its organization. It learns only the
-- organization, key and scopes of a valid key, and nothing about why a key is refused.
CREATE OR REPLACE FUNCTION scrapifie.authenticate_api_key(raw_key text, client_ip inet DEFAULT NULL, user_agent text DEFAULT NULL)
RETURNS TABLE (organization_id uuid, api_key_id uuid, scopes jsonb)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE scrapifie.api_keys AS k
    SET
        last_used_at = now(),
        last_used_ip = coalesce(authenticate_api_key.client_ip, k.last_used_ip),
        last_used_user_agent = coalesce(authenticate_api_key.user_agent, k.last_used_user_agent),
        usage_count = coalesce(k.usage_count, 0) + 1
    FROM scrapifie.organizations AS o
    WHERE k.key_hash = encode(sha256(convert_to(authenticate_api_key.raw_key, 'UTF8')), 'hex')
        AND k.is_active = TRUE
        AND k.revoked_at IS NULL
        AND (k.expires_at IS NULL OR k.expires_at > now())
        AND o.id = k.organization_id
        AND o.deleted_at IS NULL
    RETURNING k.organization_id, k.id, k.scopes;
END;
COMMENT ON FUNCTION scrapifie.authenticate_api_key(text, inet, text) IS
'The organization, key id and scopes of an active, unrevoked, unexpired key of a live organization '
'(looked up by SHA-256 of raw_key), recording its use; no row for every other key, whatever the reason.';


-- SECURITY DEFINER: domain intelligence is shared by all tenants and not readable by
-- scrapifie_app; this returns the recommendations for one domain.
CREATE OR REPLACE FUNCTION scrapifie.get_domain_intelligence(p_domain text)
RETURNS TABLE (
    domain varchar(255),
    protection_type varchar(50),
    protection_level varchar(20),
    recommended_engine varchar(20),
    recommended_proxy_tier varchar(20),
    requires_js_rendering boolean,
    requires_captcha_solving boolean,
    recommended_delay_ms integer,
    robots_txt_crawl_delay integer,
    success_rate numeric,
    last_analyzed_at timestamptz
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT
        d.domain,
        d.protection_type,
        d.protection_level,
        d.recommended_engine,
        d.recommended_proxy_tier,
        d.requires_js_rendering,
        d.requires_captcha_solving,
        d.recommended_delay_ms,
        d.robots_txt_crawl_delay,
        d.success_rate,
        d.last_analyzed_at
    FROM scrapifie.domain_intelligence AS d
    WHERE d.domain = lower(p_domain);
END;
COMMENT ON FUNCTION scrapifie.get_domain_intelligence(text) IS
'Recommended scraping settings for a domain (matched in lower case); no row when unknown.';


GRANT EXECUTE ON FUNCTION scrapifie.claim_scrape_jobs(text, text, integer) TO scrapifie_app;

-- Comments ---------------------------------------------------------------------------------------

COMMENT ON COLUMN scrapifie.invoices.invoice_number IS NULL;
COMMENT ON COLUMN scrapifie.users.mfa_backup_codes IS 'One-time use backup codes for MFA';
COMMENT ON COLUMN scrapifie.users.mfa_secret IS NULL;
COMMENT ON COLUMN scrapifie.users.password_hash IS NULL;
COMMENT ON COLUMN scrapifie.scrape_jobs.credits_estimated IS NULL;
COMMENT ON COLUMN scrapifie.scrape_jobs.webhook_secret IS NULL;
COMMENT ON COLUMN scrapifie.scrape_jobs.headers IS 'JSON object of request headers: {"Header-Name": "value"}';
COMMENT ON COLUMN scrapifie.scrape_jobs.options IS
'JSON object: {"render_js": bool, "wait_for": selector|null, "wait_time": ms, "timeout": ms, '
'"screenshot": bool, "pdf": bool, "extract": extraction rules|null}';

-- Tables (children before parents) ----------------------------------------------------------------

CREATE INDEX idx_invoices_subscription ON scrapifie.invoices (subscription_id)
WHERE subscription_id IS NOT NULL;
ALTER TABLE scrapifie.invoices
DROP CONSTRAINT invoices_valid_period,
DROP CONSTRAINT invoices_non_negative_amounts,
DROP CONSTRAINT invoices_subscription_id_fkey,
ADD CONSTRAINT invoices_subscription_id_fkey FOREIGN KEY (subscription_id) REFERENCES scrapifie.subscriptions (id),
ALTER COLUMN invoice_number SET DEFAULT scrapifie.generate_invoice_number();

ALTER TABLE scrapifie.usage_records
DROP CONSTRAINT chk_usage_records_period_start_range,
DROP CONSTRAINT usage_records_non_negative_counts;

ALTER TABLE scrapifie.subscriptions
DROP CONSTRAINT subscriptions_valid_period,
DROP CONSTRAINT subscriptions_non_negative_amounts;

CREATE INDEX idx_webhooks_created_by ON scrapifie.webhooks (created_by_user_id)
WHERE created_by_user_id IS NOT NULL;
ALTER TABLE scrapifie.webhooks
DROP CONSTRAINT webhooks_created_by_user_id_fkey,
ADD CONSTRAINT webhooks_created_by_user_id_fkey FOREIGN KEY (created_by_user_id)
REFERENCES scrapifie.users (id) ON DELETE SET NULL;

ALTER TABLE scrapifie.job_events
DROP CONSTRAINT chk_job_events_created_at_range,
DROP CONSTRAINT job_events_valid_type,
ADD CONSTRAINT job_events_valid_type CHECK (
    event_type IN (
        'job.created', 'job.queued', 'job.started', 'job.engine_selected',
        'job.proxy_assigned', 'job.fingerprint_applied', 'job.request_sent',
        'job.response_received', 'job.content_extracted', 'job.screenshot_taken',
        'job.captcha_detected', 'job.captcha_solving', 'job.captcha_solved',
        'job.captcha_failed', 'job.retry_scheduled', 'job.escalated',
        'job.completed', 'job.failed', 'job.timeout', 'job.canceled',
        'job.result_expired',
        'webhook.queued', 'webhook.sent', 'webhook.failed'
    )
);

CREATE INDEX idx_jobs_api_key ON scrapifie.scrape_jobs (api_key_id) WHERE api_key_id IS NOT NULL;
ALTER TABLE scrapifie.scrape_jobs
DROP CONSTRAINT scrape_jobs_non_negative_credits,
DROP CONSTRAINT scrape_jobs_valid_options,
DROP CONSTRAINT scrape_jobs_valid_method,
DROP CONSTRAINT scrape_jobs_valid_proxy_tier,
DROP CONSTRAINT scrape_jobs_valid_engine,
DROP CONSTRAINT scrape_jobs_valid_status,
DROP CONSTRAINT scrape_jobs_api_key_id_fkey,
ADD CONSTRAINT scrape_jobs_api_key_id_fkey FOREIGN KEY (api_key_id)
REFERENCES scrapifie.api_keys (id) ON DELETE SET NULL,
ADD CONSTRAINT scrape_jobs_valid_status CHECK (
    status IN ('pending', 'queued', 'running', 'completed', 'failed', 'canceled', 'timeout')
),
ADD CONSTRAINT scrape_jobs_valid_engine CHECK (
    engine IN ('auto', 'http', 'browser', 'stealth')
),
ADD CONSTRAINT scrape_jobs_valid_proxy_tier CHECK (
    proxy_tier IN ('datacenter', 'residential', 'mobile', 'isp')
),
ADD CONSTRAINT scrape_jobs_valid_method CHECK (
    method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS')
);

CREATE INDEX idx_api_keys_created_by ON scrapifie.api_keys (created_by_user_id)
WHERE created_by_user_id IS NOT NULL;
CREATE INDEX idx_api_keys_revoked_by ON scrapifie.api_keys (revoked_by_user_id)
WHERE revoked_by_user_id IS NOT NULL;
ALTER TABLE scrapifie.api_keys
DROP CONSTRAINT api_keys_non_negative_limits,
DROP CONSTRAINT api_keys_revoked_by_user_id_fkey,
DROP CONSTRAINT api_keys_created_by_user_id_fkey,
ADD CONSTRAINT api_keys_created_by_user_id_fkey FOREIGN KEY (created_by_user_id)
REFERENCES scrapifie.users (id) ON DELETE SET NULL,
ADD CONSTRAINT api_keys_revoked_by_user_id_fkey FOREIGN KEY (revoked_by_user_id) REFERENCES scrapifie.users (id);

ALTER TABLE scrapifie.organizations
DROP CONSTRAINT organizations_valid_limits,
DROP CONSTRAINT organizations_non_negative_allowance;

-- Functions: validation helpers --------------------------------------------------------------------

DROP FUNCTION scrapifie.is_http_url(text);
DROP FUNCTION scrapifie.repair_job_options(jsonb);
DROP FUNCTION scrapifie.job_options_valid(jsonb);

-- Roles ------------------------------------------------------------------------------------------------

REVOKE USAGE ON SCHEMA scrapifie FROM scrapifie_worker, scrapifie_billing;

RESET ROLE;

SELECT ops.drop_system_role('scrapifie_billing');
SELECT ops.drop_worker_role('scrapifie');
