-- scrapifie 0004: the tenant boundary (issue 11). docs/security.md (scrapifie) is the model:
-- who may call what, which columns the database assigns, which are secrets.
-- depends: scrapifie_0003_tenant_keys ops_0008_pgcrypto
--
-- Roles: scrapifie_worker claims, completes, fails and expires jobs and delivers webhooks,
-- through functions only (no table privilege); scrapifie_billing writes billing and account
-- state (plans, allowances, subscriptions, usage, invoices) for one organization per
-- transaction, as scrapifie_app does; scrapifie_app keeps the tenant's own data and nothing
-- the database assigns.
-- Queue: claim_scrape_jobs returns what a worker needs and no secret; webhook signatures
-- are computed here (HMAC-SHA256 over the built-in sha256()); job options are validated by
-- scrape_jobs_valid_options and clamped by the claim, so no tenant's job can stop it.
-- Foreign keys to users, api_keys and subscriptions carry the organization (composite keys
-- over scrapifie_0003's indexes); references into scrape_jobs and usage_records'
-- subscription are kept inside the tenant by grants and policies.
-- Every new constraint on a table that holds data is added NOT VALID (new rows are checked
-- at once); scrapifie_0005 repairs old rows and validates. The claimable and running jobs
-- are repaired here, under this migration's lock, because the claim rewrites their rows.
-- The seed's IN-list CHECKs of scrape_jobs and job_events are re-added in an equivalent
-- array-constant form (same names and meaning): PostgreSQL prepares every CHECK of a table
-- for each statement that writes it, and the IN lists cost most of a claim's time.

-- Roles (need CREATEROLE; before SET LOCAL ROLE) -----------------------------------------

SELECT ops.ensure_worker_role('scrapifie');

-- ops.ensure_system_role() knows app and worker roles only; the billing role is made the
-- same way (NOLOGIN NOINHERIT, search_path set in this database).
DO $roles$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'scrapifie_billing') THEN
        CREATE ROLE scrapifie_billing NOLOGIN NOINHERIT;
    END IF;
    EXECUTE pg_catalog.format(
        'ALTER ROLE scrapifie_billing IN DATABASE %I SET search_path = scrapifie, public', current_database()
    );
END
$roles$;

SET LOCAL ROLE schema_tool_owner;

-- Locks ------------------------------------------------------------------------------------
-- Every table this migration alters, locked first, in one statement, in the order in which
-- the application reaches them: a job submission writes scrape_jobs first and only then
-- checks its organization (and its key, user, subscription) through the foreign keys.
-- Taken one by one, parents first, as the statements below reached them, the migration held
-- organizations while waiting for scrape_jobs, and every submission in flight held
-- scrape_jobs while waiting for organizations (tests/test_live_migrations.py).
LOCK TABLE
scrapifie.scrape_jobs, scrapifie.job_events, scrapifie.webhooks, scrapifie.usage_records,
scrapifie.invoices, scrapifie.api_keys, scrapifie.subscriptions, scrapifie.users,
scrapifie.organizations
IN ACCESS EXCLUSIVE MODE;

GRANT USAGE ON SCHEMA scrapifie TO scrapifie_worker, scrapifie_billing;

-- Functions: validation helpers (before the constraints and triggers that call them) -----

CREATE FUNCTION scrapifie.job_options_valid(p_options jsonb)
RETURNS boolean
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $fn$
BEGIN
    -- one expression, no query: the CHECK runs on every write of a job, claims included
    -- (a loop over jsonb_each() cost three times as much; an inlined SQL body ten times,
    -- since every statement that writes the table prepares its CHECKs anew)
    RETURN
        jsonb_typeof(p_options) = 'object'
        AND p_options - '{render_js,wait_for,wait_time,timeout,screenshot,pdf,extract}'::text [] = '{}'::jsonb
        AND coalesce(jsonb_typeof(p_options -> 'render_js'), 'boolean') = 'boolean'
        AND coalesce(jsonb_typeof(p_options -> 'screenshot'), 'boolean') = 'boolean'
        AND coalesce(jsonb_typeof(p_options -> 'pdf'), 'boolean') = 'boolean'
        AND coalesce(jsonb_typeof(p_options -> 'extract'), 'null') IN ('null', 'object', 'array')
        AND CASE coalesce(jsonb_typeof(p_options -> 'wait_for'), 'null')
            WHEN 'null' THEN TRUE
            WHEN 'string' THEN length(p_options ->> 'wait_for') <= 1000
            ELSE FALSE
        END
        AND CASE coalesce(jsonb_typeof(p_options -> 'wait_time'), 'absent')
            WHEN 'absent' THEN TRUE
            WHEN 'number' THEN (p_options -> 'wait_time')::numeric BETWEEN 0 AND 60000
            ELSE FALSE
        END
        AND CASE coalesce(jsonb_typeof(p_options -> 'timeout'), 'absent')
            WHEN 'absent' THEN TRUE
            WHEN 'number' THEN (p_options -> 'timeout')::numeric BETWEEN 1000 AND 600000
            ELSE FALSE
        END;
END
$fn$;
COMMENT ON FUNCTION scrapifie.job_options_valid(jsonb) IS
'True when scrape job options are a JSON object of known keys only: render_js, screenshot, pdf '
'(booleans), wait_for (selector string up to 1000 characters, or null), extract (object, array or null), '
'wait_time (number of ms, 0..60000), timeout (number of ms, 1000..600000). The rule of scrape_jobs_valid_options.';

CREATE FUNCTION scrapifie.repair_job_options(p_options jsonb)
RETURNS jsonb
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $fn$
DECLARE
    v_out jsonb := '{"render_js": false, "wait_for": null, "wait_time": 0, "timeout": 30000,
        "screenshot": false, "pdf": false, "extract": null}';
    v_key text;
    v_value jsonb;
    v_type text;
BEGIN
    IF jsonb_typeof(p_options) IS DISTINCT FROM 'object' THEN
        RETURN v_out;
    END IF;
    FOR v_key, v_value IN SELECT e.key, e.value FROM jsonb_each(p_options) AS e LOOP
        v_type := jsonb_typeof(v_value);
        IF v_key IN ('render_js', 'screenshot', 'pdf') THEN
            IF v_type = 'boolean' THEN
                v_out := v_out || jsonb_build_object(v_key, v_value);
            ELSIF v_type = 'string' AND lower(v_value #>> '{}') IN ('true', 'false') THEN
                v_out := v_out || jsonb_build_object(v_key, lower(v_value #>> '{}')::boolean);
            END IF;
        ELSIF v_key = 'wait_for' AND v_type IN ('null', 'string') THEN
            v_out := v_out || jsonb_build_object(v_key, left(v_value #>> '{}', 1000));
        ELSIF v_key = 'extract' AND v_type IN ('null', 'object', 'array') THEN
            v_out := v_out || jsonb_build_object(v_key, v_value);
        ELSIF v_key = 'wait_time' AND v_type = 'number' THEN
            v_out := v_out || jsonb_build_object(v_key, least(greatest(v_value::numeric, 0), 60000));
        ELSIF v_key = 'timeout' AND v_type = 'number' THEN
            v_out := v_out || jsonb_build_object(v_key, least(greatest(v_value::numeric, 1000), 600000));
        END IF;
    END LOOP;
    RETURN v_out;
END
$fn$;
COMMENT ON FUNCTION scrapifie.repair_job_options(jsonb) IS
'Options that pass job_options_valid(), made from any value: valid keys kept, numbers clamped into '
'their range, "true"/"false" strings made booleans, anything else the column default''s value, '
'unknown keys dropped. Used by migrations to repair rows written before the rule existed.';

CREATE FUNCTION scrapifie.is_http_url(p_url text)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN length(p_url) <= 8192 AND p_url ~* '^https?://[^\s/?#]+([/?#]\S*)?$';
COMMENT ON FUNCTION scrapifie.is_http_url(text) IS
'True for an absolute http(s) URL with a host and no whitespace, at most 8192 characters '
'(no javascript:, data:, file: or relative URLs).';

-- Tables: constraints, foreign keys, defaults (parents before children) ------------------

-- organizations: what billing sets cannot break what others run on it
ALTER TABLE scrapifie.organizations
ADD CONSTRAINT organizations_non_negative_allowance CHECK (
    credits_included_monthly >= 0 AND credits_overage_rate >= 0
) NOT VALID,
ADD CONSTRAINT organizations_valid_limits CHECK (
    max_batch_size > 0 AND data_retention_days BETWEEN 1 AND 3650
) NOT VALID;

-- api_keys: the users a key names are users of its organization; deleting a user clears
-- the reference (revoked_by no longer blocks the delete)
ALTER TABLE scrapifie.api_keys
DROP CONSTRAINT api_keys_created_by_user_id_fkey,
DROP CONSTRAINT api_keys_revoked_by_user_id_fkey,
ADD CONSTRAINT api_keys_created_by_user_id_fkey FOREIGN KEY (organization_id, created_by_user_id)
REFERENCES scrapifie.users (organization_id, id) ON DELETE SET NULL (created_by_user_id) NOT VALID,
ADD CONSTRAINT api_keys_revoked_by_user_id_fkey FOREIGN KEY (organization_id, revoked_by_user_id)
REFERENCES scrapifie.users (organization_id, id) ON DELETE SET NULL (revoked_by_user_id) NOT VALID,
ADD CONSTRAINT api_keys_non_negative_limits CHECK (
    credits_limit >= 0 AND rate_limit_override > 0 AND max_concurrent_override > 0
) NOT VALID;
-- the ALTER TABLE above holds ACCESS EXCLUSIVE already: no lock is added
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX scrapifie.idx_api_keys_created_by;
-- the ALTER TABLE above holds ACCESS EXCLUSIVE already: no lock is added
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX scrapifie.idx_api_keys_revoked_by;

-- scrape_jobs: options a shared claim reads are validated; credits are never negative; the
-- key a job names is a key of its organization; the seed's checks in array-constant form
ALTER TABLE scrapifie.scrape_jobs
DROP CONSTRAINT scrape_jobs_api_key_id_fkey,
DROP CONSTRAINT scrape_jobs_valid_status,
DROP CONSTRAINT scrape_jobs_valid_engine,
DROP CONSTRAINT scrape_jobs_valid_proxy_tier,
DROP CONSTRAINT scrape_jobs_valid_method,
ADD CONSTRAINT scrape_jobs_api_key_id_fkey FOREIGN KEY (organization_id, api_key_id)
REFERENCES scrapifie.api_keys (organization_id, id) ON DELETE SET NULL (api_key_id) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_status CHECK (
    status::text = any('{pending,queued,running,completed,failed,canceled,timeout}'::text[])
) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_engine CHECK (engine::text = any('{auto,http,browser,stealth}'::text[])) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_proxy_tier CHECK (
    proxy_tier::text = any('{datacenter,residential,mobile,isp}'::text[])
) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_method CHECK (
    method::text = any('{GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS}'::text[])
) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_options CHECK (scrapifie.job_options_valid(options)) NOT VALID,
ADD CONSTRAINT scrape_jobs_non_negative_credits CHECK (
    credits_estimated >= 0 AND credits_charged >= 0
) NOT VALID;
-- the ALTER TABLE above holds ACCESS EXCLUSIVE already: no lock is added
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX scrapifie.idx_jobs_api_key;

-- job_events: the partition key within the documented range (PostgreSQL 15 accepts a NOT
-- VALID CHECK on a partitioned table and adds it to every partition, each NOT VALID)
ALTER TABLE scrapifie.job_events
DROP CONSTRAINT job_events_valid_type,
ADD CONSTRAINT job_events_valid_type CHECK (
    event_type::text = any(
        '{job.created,job.queued,job.started,job.engine_selected,job.proxy_assigned,job.fingerprint_applied,'
        'job.request_sent,job.response_received,job.content_extracted,job.screenshot_taken,'
        'job.captcha_detected,job.captcha_solving,job.captcha_solved,job.captcha_failed,'
        'job.retry_scheduled,job.escalated,job.completed,job.failed,job.timeout,job.canceled,'
        'job.result_expired,webhook.queued,webhook.sent,webhook.failed}'::text[]
    )
) NOT VALID,
ADD CONSTRAINT chk_job_events_created_at_range CHECK (
    created_at >= '2000-01-01 00:00:00+00' AND created_at < '2100-01-01 00:00:00+00'
) NOT VALID;

ALTER TABLE scrapifie.webhooks
DROP CONSTRAINT webhooks_created_by_user_id_fkey,
ADD CONSTRAINT webhooks_created_by_user_id_fkey FOREIGN KEY (organization_id, created_by_user_id)
REFERENCES scrapifie.users (organization_id, id) ON DELETE SET NULL (created_by_user_id) NOT VALID;
-- the ALTER TABLE above holds ACCESS EXCLUSIVE already: no lock is added
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX scrapifie.idx_webhooks_created_by;

ALTER TABLE scrapifie.subscriptions
ADD CONSTRAINT subscriptions_non_negative_amounts CHECK (
    base_price_cents >= 0 AND credits_included >= 0 AND credits_overage_rate >= 0
) NOT VALID,
ADD CONSTRAINT subscriptions_valid_period CHECK (
    current_period_end >= current_period_start AND trial_end >= trial_start
) NOT VALID;

ALTER TABLE scrapifie.usage_records
ADD CONSTRAINT usage_records_non_negative_counts CHECK (
    total_requests >= 0 AND successful_requests >= 0 AND failed_requests >= 0 AND credits_used >= 0
    AND credits_included_used >= 0 AND credits_overage_used >= 0 AND http_requests >= 0
    AND browser_requests >= 0 AND stealth_requests >= 0 AND datacenter_requests >= 0
    AND residential_requests >= 0 AND mobile_requests >= 0 AND captcha_solves >= 0
    AND screenshots_taken >= 0 AND pdfs_generated >= 0 AND bandwidth_in_bytes >= 0
    AND bandwidth_out_bytes >= 0 AND proxy_cost_cents >= 0 AND captcha_cost_cents >= 0
    AND overage_amount_cents >= 0
) NOT VALID,
ADD CONSTRAINT chk_usage_records_period_start_range CHECK (
    period_start >= '2000-01-01 00:00:00+00' AND period_start < '2100-01-01 00:00:00+00'
) NOT VALID;

-- invoices: the number is the database's (a trigger, below; no default a caller could
-- evaluate); the subscription is one of the invoice's organization
ALTER TABLE scrapifie.invoices
ALTER COLUMN invoice_number DROP DEFAULT,
DROP CONSTRAINT invoices_subscription_id_fkey,
ADD CONSTRAINT invoices_subscription_id_fkey FOREIGN KEY (organization_id, subscription_id)
REFERENCES scrapifie.subscriptions (organization_id, id) NOT VALID,
ADD CONSTRAINT invoices_non_negative_amounts CHECK (
    subtotal_cents >= 0 AND tax_cents >= 0 AND tax_rate >= 0 AND discount_cents >= 0 AND total_cents >= 0
    AND amount_paid_cents >= 0 AND amount_due_cents >= 0
) NOT VALID,
ADD CONSTRAINT invoices_valid_period CHECK (period_end >= period_start) NOT VALID;
-- the ALTER TABLE above holds ACCESS EXCLUSIVE already: no lock is added
-- squawk-ignore require-concurrent-index-deletion
DROP INDEX scrapifie.idx_invoices_subscription;

-- Data: the live queue ----------------------------------------------------------------------
-- A claim or completion rewrites its job's row, and a rewritten row must pass every CHECK,
-- NOT VALID ones included: repair the jobs claimable or running now (this migration holds
-- scrape_jobs' lock, so no bad row can be added meanwhile). scrapifie_0005 repairs the rest.

UPDATE scrapifie.scrape_jobs AS j
SET
    options = scrapifie.repair_job_options(j.options),
    credits_estimated = greatest(j.credits_estimated, 0),
    credits_charged = greatest(j.credits_charged, 0)
WHERE
    j.status IN ('pending', 'queued', 'running')
    AND (
        NOT scrapifie.job_options_valid(j.options) OR j.credits_estimated < 0 OR j.credits_charged < 0
    );

-- Comments -------------------------------------------------------------------------------------

COMMENT ON COLUMN scrapifie.scrape_jobs.options IS
'JSON object of known keys only (scrape_jobs_valid_options, job_options_valid()): {"render_js": bool, '
'"wait_for": selector|null, "wait_time": ms 0..60000, "timeout": ms 1000..600000, "screenshot": bool, '
'"pdf": bool, "extract": extraction rules (object or array)|null}';
COMMENT ON COLUMN scrapifie.scrape_jobs.headers IS
'JSON object of request headers: {"Header-Name": "value"}; may carry the tenant''s cookies and '
'tokens: returned to the worker that claims the job, never readable by schema_tool_readonly';
COMMENT ON COLUMN scrapifie.scrape_jobs.webhook_secret IS
'Secret the job''s webhook is signed with (job_webhook_signature()); writable by the tenant, readable by nobody';
COMMENT ON COLUMN scrapifie.scrape_jobs.credits_estimated IS
'Credits the job costs (calculate_job_credits(), set by trigger); charged on completion';
COMMENT ON COLUMN scrapifie.users.password_hash IS
'bcrypt hash ($2a$) set by set_user_password(), checked by verify_user_password(); readable by nobody';
COMMENT ON COLUMN scrapifie.users.mfa_secret IS
'Base32 TOTP seed (RFC 6238, SHA-1, 6 digits, 30 s), written by the application, checked by '
'verify_user_mfa_code(); readable by nobody';
COMMENT ON COLUMN scrapifie.users.mfa_backup_codes IS
'One-time use backup codes for MFA, written by the application, spent by use_mfa_backup_code(); readable by nobody';
COMMENT ON COLUMN scrapifie.invoices.invoice_number IS
'INV-YYYYMM-NNNNN, assigned on insert by the trigger invoices_assign_number (generate_invoice_number()); '
'not writable by any application role';

-- Functions: the acting organization --------------------------------------------------------

CREATE FUNCTION scrapifie.acting_organization()
RETURNS uuid
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_org uuid := nullif(current_setting('app.organization_id', TRUE), '')::uuid;
BEGIN
    IF v_org IS NULL THEN
        RAISE EXCEPTION 'no organization is acting (SET LOCAL app.organization_id)'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN v_org;
END
$fn$;
COMMENT ON FUNCTION scrapifie.acting_organization() IS
'The organization named by app.organization_id in this transaction; insufficient_privilege when none '
'is set. SECURITY DEFINER functions that act for a tenant check their argument against it.';

CREATE FUNCTION scrapifie.require_tenant(p_organization_id uuid)
RETURNS void
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    IF p_organization_id IS NULL THEN
        RAISE EXCEPTION 'organization id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_organization_id <> scrapifie.acting_organization() THEN
        RAISE EXCEPTION 'organization % is not the acting organization', p_organization_id
            USING ERRCODE = 'insufficient_privilege';
    END IF;
END
$fn$;
COMMENT ON FUNCTION scrapifie.require_tenant(uuid) IS
'Raises null_value_not_allowed for NULL and insufficient_privilege unless the organization is the acting one.';

-- Functions: signatures (HMAC-SHA256, RFC 2104, over the built-in sha256()) ---------------

-- SECURITY DEFINER: scrape_jobs.webhook_secret is readable by nobody; the worker gets the
-- signature only.
CREATE FUNCTION scrapifie.job_webhook_signature(p_job_id uuid, p_payload text)
RETURNS text
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_secret text;
BEGIN
    IF p_job_id IS NULL OR p_payload IS NULL THEN
        RAISE EXCEPTION 'job id and payload are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT j.webhook_secret INTO v_secret
    FROM scrapifie.scrape_jobs AS j
    WHERE j.id = p_job_id AND j.webhook_url IS NOT NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % has no webhook', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN encode(
        ops.hmac_sha256(convert_to(v_secret, 'UTF8'), convert_to(p_payload, 'UTF8')), 'hex'
    );
END
$fn$;
COMMENT ON FUNCTION scrapifie.job_webhook_signature(uuid, text) IS
'Hex HMAC-SHA256 of a webhook payload (its UTF-8 bytes) with the job''s webhook_secret; NULL when the '
'job has no secret (deliver unsigned), no_data_found when it has no webhook. For scrapifie_worker.';

-- SECURITY DEFINER: webhooks.secret is readable by nobody; the worker gets the signature only.
CREATE FUNCTION scrapifie.webhook_signature(p_webhook_id uuid, p_payload text)
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
        RAISE EXCEPTION 'webhook id and payload are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT w.secret INTO v_secret FROM scrapifie.webhooks AS w WHERE w.id = p_webhook_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook % not found', p_webhook_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN encode(
        ops.hmac_sha256(convert_to(v_secret, 'UTF8'), convert_to(p_payload, 'UTF8')), 'hex'
    );
END
$fn$;
COMMENT ON FUNCTION scrapifie.webhook_signature(uuid, text) IS
'Hex HMAC-SHA256 of a payload (its UTF-8 bytes) with the endpoint''s secret; no_data_found for an '
'unknown endpoint. For scrapifie_worker.';

-- Functions: the job queue (workers) --------------------------------------------------------

-- SECURITY DEFINER: workers claim across tenants and have no table privilege. Returns what
-- a worker needs to run the job, no secret; attempt is the fencing token that
-- complete_scrape_job / fail_scrape_job require.
DROP FUNCTION scrapifie.claim_scrape_jobs(text, text, integer);
CREATE FUNCTION scrapifie.claim_scrape_jobs(worker_id text, queue text DEFAULT 'default', batch integer DEFAULT 1)
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
    IF claim_scrape_jobs.worker_id IS NULL OR claim_scrape_jobs.queue IS NULL OR claim_scrape_jobs.batch IS NULL THEN
        RAISE EXCEPTION 'worker_id, queue and batch are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF claim_scrape_jobs.worker_id = '' OR length(claim_scrape_jobs.worker_id) > 100 THEN
        RAISE EXCEPTION 'worker_id must be 1 to 100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF claim_scrape_jobs.batch NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'batch must be between 1 and 1000, got %', claim_scrape_jobs.batch
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    WITH picked AS (
        -- idx_jobs_queue in order; rows another worker holds are skipped, not waited for
        SELECT j.id
        FROM scrapifie.scrape_jobs AS j
        WHERE
            j.status IN ('pending', 'queued')
            AND coalesce(j.queue_name, 'default') = claim_scrape_jobs.queue
        ORDER BY j.priority DESC, j.created_at ASC
        LIMIT claim_scrape_jobs.batch
        FOR UPDATE SKIP LOCKED
    ),

    claimed AS (
        UPDATE scrapifie.scrape_jobs AS j
        SET
            status = 'running',
            worker_id = claim_scrape_jobs.worker_id,
            started_at = now(),
            completed_at = NULL,
            attempts = j.attempts + 1,
            -- options.timeout (ms) clamped into its documented range whatever the row holds
            timeout_at = now() + make_interval(secs => CASE
                WHEN jsonb_typeof(j.options -> 'timeout') = 'number'
                    THEN least(greatest((j.options ->> 'timeout')::numeric, 1000), 600000) / 1000
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

    SELECT
        c.id, c.organization_id, c.attempts, c.max_attempts, c.url, c.method, c.headers, c.body, c.engine,
        c.options, c.proxy_tier, c.proxy_country, c.proxy_city, c.proxy_session_id, c.user_agent, c.priority,
        c.queue_name, c.webhook_url, c.started_at, c.timeout_at
    FROM claimed AS c
    ORDER BY c.priority DESC, c.created_at ASC;
END
$fn$;
COMMENT ON FUNCTION scrapifie.claim_scrape_jobs(text, text, integer) IS
'For scrapifie_worker: claims up to batch pending/queued jobs of a queue (NULL queue_name is '
'''default''), highest priority then oldest first, with FOR UPDATE SKIP LOCKED: marks them running for '
'worker_id, counts the attempt, sets started_at and timeout_at (options.timeout ms clamped to '
'1000..600000), writes job.started events, returns what the worker needs (request headers and body '
'included, no secret) and attempt, the token complete/fail require. A job is never handed to two workers.';

-- SECURITY DEFINER: workers have no table privilege.
CREATE FUNCTION scrapifie.complete_scrape_job(
    p_job_id uuid,
    p_worker_id text,
    p_attempt integer,
    p_result jsonb DEFAULT NULL
)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_generic_plan
AS $fn$
DECLARE
    v_org uuid;
    v_result_id uuid;
    v_unknown text;
BEGIN
    IF p_job_id IS NULL OR p_worker_id IS NULL OR p_attempt IS NULL THEN
        RAISE EXCEPTION 'job id, worker id and attempt are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_result IS NULL THEN
        -- the common path: one statement
        WITH done AS (
            UPDATE scrapifie.scrape_jobs AS j
            SET
                status = 'completed',
                completed_at = now(),
                timeout_at = NULL,
                credits_charged = j.credits_estimated
            WHERE
                j.id = p_job_id AND j.status = 'running' AND j.worker_id = p_worker_id
                AND j.attempts = p_attempt
            RETURNING j.id, j.organization_id, j.attempts, j.started_at
        ),

        logged AS (
            INSERT INTO scrapifie.job_events (
                job_id, organization_id, event_type, event_data, worker_id, duration_ms
            )
            SELECT
                d.id,
                d.organization_id,
                'job.completed',
                jsonb_build_object('attempt', d.attempts),
                p_worker_id,
                least(extract(EPOCH FROM now() - d.started_at) * 1000, 2147483647)::integer
            FROM done AS d
        )

        SELECT d.organization_id INTO v_org FROM done AS d;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'job % is not running attempt % for worker %', p_job_id, p_attempt, p_worker_id
                USING ERRCODE = 'no_data_found';
        END IF;
        RETURN NULL;
    END IF;

    IF jsonb_typeof(p_result) <> 'object' THEN
        RAISE EXCEPTION 'result must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT k.name INTO v_unknown
    FROM jsonb_object_keys(p_result) AS k (name)
    WHERE k.name IN ('id', 'job_id', 'organization_id', 'created_at', 'expires_at')
        OR NOT EXISTS (
            SELECT FROM pg_catalog.pg_attribute AS a
            WHERE a.attrelid = 'scrapifie.job_results'::regclass AND a.attname = k.name
                AND a.attnum > 0 AND NOT a.attisdropped
        )
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'result key % is not a column the worker may set', v_unknown
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT j.organization_id INTO v_org
    FROM scrapifie.scrape_jobs AS j
    WHERE j.id = p_job_id AND j.status = 'running' AND j.worker_id = p_worker_id AND j.attempts = p_attempt
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is not running attempt % for worker %', p_job_id, p_attempt, p_worker_id
            USING ERRCODE = 'no_data_found';
    END IF;
    DELETE FROM scrapifie.job_results AS r WHERE r.job_id = p_job_id;
    INSERT INTO scrapifie.job_results (
        job_id, organization_id, status_code, status_text, headers, cookies, content_type, content_length,
        content_encoding, final_url, redirect_count, content_storage_type, content_inline, content_minio_bucket,
        content_minio_key, content_hash, content_compressed, extracted_title, extracted_text, extracted_links,
        extracted_images, extracted_data, screenshot_minio_bucket, screenshot_minio_key,
        screenshot_thumbnail_key, screenshot_width, screenshot_height, screenshot_format, pdf_minio_bucket,
        pdf_minio_key, pdf_page_count, dns_time_ms, connect_time_ms, tls_time_ms, ttfb_ms, download_time_ms,
        render_time_ms, total_time_ms, detection_score, protection_detected, captcha_encountered, captcha_type,
        captcha_solved, captcha_solve_time_ms, proxy_ip, proxy_country, proxy_provider
    )
    SELECT
        p_job_id, v_org, r.status_code, r.status_text, r.headers, r.cookies, r.content_type, r.content_length,
        r.content_encoding, r.final_url, coalesce(r.redirect_count, 0), coalesce(r.content_storage_type, 'inline'),
        r.content_inline, r.content_minio_bucket, r.content_minio_key, r.content_hash,
        coalesce(r.content_compressed, FALSE), r.extracted_title, r.extracted_text, r.extracted_links,
        r.extracted_images, r.extracted_data, r.screenshot_minio_bucket, r.screenshot_minio_key,
        r.screenshot_thumbnail_key, r.screenshot_width, r.screenshot_height, coalesce(r.screenshot_format, 'png'),
        r.pdf_minio_bucket, r.pdf_minio_key, r.pdf_page_count, r.dns_time_ms, r.connect_time_ms, r.tls_time_ms,
        r.ttfb_ms, r.download_time_ms, r.render_time_ms, r.total_time_ms, r.detection_score,
        r.protection_detected, coalesce(r.captcha_encountered, FALSE), r.captcha_type,
        coalesce(r.captcha_solved, FALSE), r.captcha_solve_time_ms, r.proxy_ip, r.proxy_country, r.proxy_provider
    FROM jsonb_populate_record(NULL::scrapifie.job_results, p_result) AS r
    RETURNING job_results.id INTO v_result_id;
    UPDATE scrapifie.scrape_jobs AS j
    SET
        status = 'completed',
        completed_at = now(),
        timeout_at = NULL,
        credits_charged = j.credits_estimated,
        result_id = v_result_id
    WHERE j.id = p_job_id;
    INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data, worker_id, duration_ms)
    SELECT
        j.id,
        j.organization_id,
        'job.completed',
        jsonb_build_object('attempt', j.attempts, 'result_id', v_result_id),
        p_worker_id,
        least(extract(EPOCH FROM now() - j.started_at) * 1000, 2147483647)::integer
    FROM scrapifie.scrape_jobs AS j
    WHERE j.id = p_job_id;
    RETURN v_result_id;
END
$fn$;
COMMENT ON FUNCTION scrapifie.complete_scrape_job(uuid, text, integer, jsonb) IS
'For scrapifie_worker: marks a job it holds (running, this worker, this attempt) completed, charges '
'credits_estimated into credits_charged, stores the result (a JSON object keyed by job_results columns, '
'replacing an earlier one; NULL: none) and writes job.completed; returns the result id. no_data_found '
'when the job is not running this attempt for this worker (timed out and requeued, canceled, deleted).';

-- SECURITY DEFINER: workers have no table privilege.
CREATE FUNCTION scrapifie.fail_scrape_job(
    p_job_id uuid,
    p_worker_id text,
    p_attempt integer,
    p_error_code text,
    p_error_message text DEFAULT NULL,
    p_error_details jsonb DEFAULT NULL,
    p_retry boolean DEFAULT TRUE
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_status text;
BEGIN
    IF p_job_id IS NULL OR p_worker_id IS NULL OR p_attempt IS NULL OR p_error_code IS NULL OR p_retry IS NULL THEN
        RAISE EXCEPTION 'job id, worker id, attempt, error code and retry are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_error_code = '' OR length(p_error_code) > 50 THEN
        RAISE EXCEPTION 'error code must be 1 to 50 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_error_details IS NOT NULL AND jsonb_typeof(p_error_details) <> 'object' THEN
        RAISE EXCEPTION 'error details must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    WITH failed AS (
        UPDATE scrapifie.scrape_jobs AS j
        SET
            status = CASE WHEN p_retry AND j.attempts < j.max_attempts THEN 'queued' ELSE 'failed' END,
            queued_at = CASE WHEN p_retry AND j.attempts < j.max_attempts THEN now() ELSE j.queued_at END,
            completed_at = CASE WHEN p_retry AND j.attempts < j.max_attempts THEN NULL ELSE now() END,
            worker_id = CASE WHEN p_retry AND j.attempts < j.max_attempts THEN NULL ELSE j.worker_id END,
            timeout_at = NULL,
            error_code = p_error_code,
            error_message = p_error_message,
            error_details = p_error_details
        WHERE
            j.id = p_job_id AND j.status = 'running' AND j.worker_id = p_worker_id AND j.attempts = p_attempt
        RETURNING j.id, j.organization_id, j.status, j.attempts, j.max_attempts
    ),

    logged AS (
        INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data, worker_id)
        SELECT
            f.id,
            f.organization_id,
            CASE WHEN f.status = 'queued' THEN 'job.retry_scheduled' ELSE 'job.failed' END,
            jsonb_build_object('attempt', f.attempts, 'max_attempts', f.max_attempts, 'error_code', p_error_code),
            p_worker_id
        FROM failed AS f
    )

    SELECT f.status INTO v_status FROM failed AS f;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % is not running attempt % for worker %', p_job_id, p_attempt, p_worker_id
            USING ERRCODE = 'no_data_found';
    END IF;
    RETURN CASE WHEN v_status = 'queued' THEN 'retry' ELSE 'failed' END;
END
$fn$;
COMMENT ON FUNCTION scrapifie.fail_scrape_job(uuid, text, integer, text, text, jsonb, boolean) IS
'For scrapifie_worker: a failed attempt of a job it holds. Queued again (job.retry_scheduled, returns '
'retry) when p_retry and attempts remain, else failed (job.failed, returns failed). no_data_found when '
'the job is not running this attempt for this worker.';

-- SECURITY DEFINER: run by scrapifie_worker (or cron as the owner); workers have no table privilege.
CREATE OR REPLACE FUNCTION scrapifie.expire_timed_out_jobs()
RETURNS TABLE (job_id uuid, outcome text)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
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
        SET
            status = CASE WHEN j.attempts < j.max_attempts THEN 'queued' ELSE 'timeout' END,
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
'(retry or timeout). The worker that lost the job can no longer complete or fail it (its attempt is '
'stale). Jobs locked at that moment are left for the next run. For scrapifie_worker or cron.';

-- SECURITY DEFINER: workers have no table privilege.
CREATE FUNCTION scrapifie.due_job_webhooks(p_limit integer DEFAULT 100)
RETURNS TABLE (job_id uuid, organization_id uuid, webhook_url text, webhook_attempts integer)
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_limit IS NULL THEN
        RAISE EXCEPTION 'limit is required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_limit NOT BETWEEN 1 AND 1000 THEN
        RAISE EXCEPTION 'limit must be between 1 and 1000, got %', p_limit USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT j.id, j.organization_id, j.webhook_url, coalesce(j.webhook_attempts, 0)
    FROM scrapifie.scrape_jobs AS j
    WHERE
        j.status = 'completed' AND j.webhook_url IS NOT NULL AND j.webhook_sent_at IS NULL
        AND coalesce(j.webhook_attempts, 0) < 10
    ORDER BY j.id
    LIMIT p_limit;
END
$fn$;
COMMENT ON FUNCTION scrapifie.due_job_webhooks(integer) IS
'For scrapifie_worker: completed jobs whose webhook was not delivered yet (fewer than 10 attempts), '
'through idx_jobs_webhook_pending. Delivery is at least once: two sweepers may both deliver.';

-- SECURITY DEFINER: workers have no table privilege.
CREATE FUNCTION scrapifie.record_job_webhook_delivery(p_job_id uuid, p_success boolean, p_error text DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_job_id IS NULL OR p_success IS NULL THEN
        RAISE EXCEPTION 'job id and success are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    WITH marked AS (
        UPDATE scrapifie.scrape_jobs AS j
        SET
            webhook_attempts = coalesce(j.webhook_attempts, 0) + 1,
            webhook_sent_at = CASE WHEN p_success THEN now() ELSE j.webhook_sent_at END,
            webhook_last_error = CASE WHEN p_success THEN NULL ELSE left(p_error, 1000) END
        WHERE j.id = p_job_id AND j.webhook_url IS NOT NULL
        RETURNING j.id, j.organization_id, j.webhook_attempts
    )

    INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data)
    SELECT
        m.id,
        m.organization_id,
        CASE WHEN p_success THEN 'webhook.sent' ELSE 'webhook.failed' END,
        jsonb_build_object('attempt', m.webhook_attempts)
    FROM marked AS m;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % has no webhook', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION scrapifie.record_job_webhook_delivery(uuid, boolean, text) IS
'For scrapifie_worker: one delivery attempt of a job''s webhook: counts it, stamps webhook_sent_at on '
'success or keeps the error (first 1000 characters), writes webhook.sent or webhook.failed.';

-- SECURITY DEFINER: workers have no table privilege; the counters are the database's.
CREATE FUNCTION scrapifie.record_webhook_delivery(p_webhook_id uuid, p_success boolean)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_webhook_id IS NULL OR p_success IS NULL THEN
        RAISE EXCEPTION 'webhook id and success are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE scrapifie.webhooks AS w
    SET
        last_triggered_at = now(),
        last_success_at = CASE WHEN p_success THEN now() ELSE w.last_success_at END,
        last_failure_at = CASE WHEN p_success THEN w.last_failure_at ELSE now() END,
        failure_count = coalesce(w.failure_count, 0) + CASE WHEN p_success THEN 0 ELSE 1 END,
        consecutive_failures = CASE WHEN p_success THEN 0 ELSE coalesce(w.consecutive_failures, 0) + 1 END
    WHERE w.id = p_webhook_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'webhook % not found', p_webhook_id USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION scrapifie.record_webhook_delivery(uuid, boolean) IS
'For scrapifie_worker: one delivery to an endpoint of webhooks: stamps last_triggered_at and '
'last_success_at or last_failure_at, counts failures (total and consecutive).';

-- Functions: the job queue (tenants) --------------------------------------------------------

-- SECURITY DEFINER: the queue's one door for tenants (scrapifie_app may not insert jobs or
-- events itself); checks that p_organization_id is the acting organization and that the
-- API key is one of its keys.
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
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_options jsonb;
    v_id uuid;
BEGIN
    PERFORM scrapifie.require_tenant(p_organization_id);
    IF p_url IS NULL OR p_engine IS NULL OR p_proxy_tier IS NULL OR p_priority IS NULL OR p_method IS NULL THEN
        RAISE EXCEPTION 'url, engine, proxy tier, priority and method are required'
            USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT scrapifie.is_http_url(p_url) THEN
        RAISE EXCEPTION 'url must be an absolute http(s) URL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_webhook_url IS NOT NULL AND NOT scrapifie.is_http_url(p_webhook_url) THEN
        RAISE EXCEPTION 'webhook url must be an absolute http(s) URL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_options IS NOT NULL AND jsonb_typeof(p_options) <> 'object' THEN
        RAISE EXCEPTION 'options must be a JSON object' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the column default of scrape_jobs.options, overridden key by key
    v_options := '{"render_js": false, "wait_for": null, "wait_time": 0, "timeout": 30000,
        "screenshot": false, "pdf": false, "extract": null}'::jsonb || coalesce(p_options, '{}'::jsonb);
    IF NOT scrapifie.job_options_valid(v_options) THEN
        RAISE EXCEPTION 'options must hold known keys of valid types and ranges (see job_options_valid)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_queue_name = '' OR length(p_queue_name) > 50 THEN
        RAISE EXCEPTION 'queue name must be 1 to 50 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_idempotency_key = '' OR length(p_idempotency_key) > 255 THEN
        RAISE EXCEPTION 'idempotency key must be 1 to 255 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (
        SELECT FROM scrapifie.organizations AS o WHERE o.id = p_organization_id AND o.deleted_at IS NULL
    ) THEN
        RAISE EXCEPTION 'organization % not found', p_organization_id USING ERRCODE = 'no_data_found';
    END IF;
    IF p_api_key_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM scrapifie.api_keys AS k WHERE k.id = p_api_key_id AND k.organization_id = p_organization_id
    ) THEN
        RAISE EXCEPTION 'api key % not found', p_api_key_id USING ERRCODE = 'no_data_found';
    END IF;
    LOOP
        INSERT INTO scrapifie.scrape_jobs AS j (
            organization_id, api_key_id, batch_id, url, url_hash, method, engine, options,
            proxy_tier, priority, queue_name, webhook_url, client_reference, idempotency_key
        )
        VALUES (
            p_organization_id, p_api_key_id, p_batch_id, p_url, '', p_method, p_engine, v_options,
            p_proxy_tier, p_priority, p_queue_name, p_webhook_url, p_client_reference, p_idempotency_key
        )
        ON CONFLICT (organization_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
        RETURNING j.id INTO v_id;
        IF FOUND THEN
            INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data)
            VALUES (
                v_id, p_organization_id, 'job.created',
                jsonb_build_object('queue', coalesce(p_queue_name, 'default'), 'priority', p_priority)
            );
            job_id := v_id;
            created := TRUE;
            RETURN NEXT;
            RETURN;
        END IF;
        -- the key is taken: ON CONFLICT waited for its transaction to commit, so this
        -- statement's snapshot sees the job
        SELECT j.id INTO v_id
        FROM scrapifie.scrape_jobs AS j
        WHERE j.organization_id = p_organization_id AND j.idempotency_key = p_idempotency_key;
        IF FOUND THEN
            job_id := v_id;
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
'Submits a pending scrape job of the acting organization (insufficient_privilege for another one): '
'validates the URL and webhook URL (http(s)), the options (a JSON object, job_options_valid), queue '
'name, idempotency key and API key (one of the organization''s); a job.created event; credits_estimated '
'by trigger. With an idempotency key, at most one job per organization and key: submitting again, even '
'concurrently, returns the first job with created = false.';

-- SECURITY DEFINER: scrapifie_app may not write status; checks the acting organization.
CREATE FUNCTION scrapifie.cancel_scrape_job(p_job_id uuid)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
    v_status text;
BEGIN
    IF p_job_id IS NULL THEN
        RAISE EXCEPTION 'job id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT j.status INTO v_status
    FROM scrapifie.scrape_jobs AS j
    WHERE j.id = p_job_id AND j.organization_id = v_org
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'job % not found', p_job_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_status NOT IN ('pending', 'queued', 'running') THEN
        RETURN FALSE;
    END IF;
    UPDATE scrapifie.scrape_jobs AS j
    SET status = 'canceled', completed_at = now(), timeout_at = NULL
    WHERE j.id = p_job_id;
    INSERT INTO scrapifie.job_events (job_id, organization_id, event_type, event_data)
    VALUES (p_job_id, v_org, 'job.canceled', jsonb_build_object('was', v_status));
    RETURN TRUE;
END
$fn$;
COMMENT ON FUNCTION scrapifie.cancel_scrape_job(uuid) IS
'Cancels a pending, queued or running job of the acting organization (job.canceled; a worker holding '
'it can no longer complete it); false when it had already finished, no_data_found when it is not one '
'of the organization''s jobs.';

-- Functions: credits --------------------------------------------------------------------------

CREATE OR REPLACE FUNCTION scrapifie.check_organization_credits(org_id uuid, required_credits bigint)
RETURNS boolean
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    IF org_id IS NULL OR required_credits IS NULL THEN
        RAISE EXCEPTION 'organization id and required credits are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF required_credits <= 0 THEN
        RAISE EXCEPTION 'required credits must be positive, got %', required_credits
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN coalesce((
        SELECT o.plan_id = 'enterprise' OR o.credits_balance >= required_credits
        FROM scrapifie.organizations AS o
        WHERE o.id = org_id AND o.deleted_at IS NULL
    ), FALSE);
END
$fn$;
COMMENT ON FUNCTION scrapifie.check_organization_credits(uuid, bigint) IS
'True when the organization can spend required_credits (positive) now: enterprise plans always, others '
'when the balance covers it. False for an unknown, deleted or (under RLS) invisible organization; '
'NULL arguments are null_value_not_allowed.';

-- SECURITY DEFINER: no application role may write credits_balance; checks the acting organization.
CREATE OR REPLACE FUNCTION scrapifie.deduct_credits(org_id uuid, amount bigint)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM scrapifie.require_tenant(org_id);
    IF amount IS NULL THEN
        RAISE EXCEPTION 'amount is required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF amount <= 0 THEN
        RAISE EXCEPTION 'credits to deduct must be positive, got %', amount
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One conditional UPDATE: concurrent deductions queue on the row lock and each
    -- re-checks the balance it would leave, so the balance never goes below zero.
    UPDATE scrapifie.organizations AS o
    SET credits_balance = greatest(o.credits_balance - deduct_credits.amount, 0)
    WHERE
        o.id = deduct_credits.org_id
        AND o.deleted_at IS NULL
        AND (o.credits_balance >= deduct_credits.amount OR o.plan_id = 'enterprise');
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION scrapifie.deduct_credits(uuid, bigint) IS
'Atomically takes amount credits from the acting organization (insufficient_privilege for another); '
'false (nothing taken) when the balance does not cover it or the organization is deleted. Enterprise '
'plans (unlimited, see check_organization_credits) always succeed and use their balance down to zero. '
'amount must be positive; NULL arguments are null_value_not_allowed.';

-- SECURITY DEFINER: scrapifie_billing (the caller) may not write credits_balance directly.
CREATE OR REPLACE FUNCTION scrapifie.add_credits(org_id uuid, amount bigint)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    PERFORM scrapifie.require_tenant(org_id);
    IF amount IS NULL THEN
        RAISE EXCEPTION 'amount is required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF amount <= 0 THEN
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
'For scrapifie_billing: atomically adds amount (positive) credits to the acting organization '
'(insufficient_privilege for another); no_data_found if it does not exist or is deleted.';

CREATE OR REPLACE FUNCTION scrapifie.calculate_job_credits(job scrapifie.scrape_jobs)
RETURNS bigint
LANGUAGE plpgsql
IMMUTABLE
AS $fn$
BEGIN
    IF job IS NULL THEN
        RAISE EXCEPTION 'job is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN (
        CASE job.engine WHEN 'browser' THEN 5 WHEN 'stealth' THEN 10 ELSE 1 END
        + CASE job.proxy_tier WHEN 'residential' THEN 3 WHEN 'mobile' THEN 10 WHEN 'isp' THEN 5 ELSE 0 END
        + CASE WHEN job.options ->> 'screenshot' = 'true' THEN 2 ELSE 0 END
        + CASE WHEN job.options ->> 'pdf' = 'true' THEN 3 ELSE 0 END
    )::bigint;
END
$fn$;
COMMENT ON FUNCTION scrapifie.calculate_job_credits(scrapifie.scrape_jobs) IS
'Credits a job costs: engine (http/auto 1, browser 5, stealth 10) + proxy tier (datacenter 0, '
'residential 3, isp 5, mobile 10) + screenshot 2 + pdf 3. NULL is null_value_not_allowed.';

-- Batch: one organization's bad row is skipped and reported, never fails the run for all.
CREATE OR REPLACE FUNCTION scrapifie.reset_monthly_credits()
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_run uuid := gen_random_uuid();
    v_started timestamptz := clock_timestamp();
    v_due record;
BEGIN
    FOR v_due IN
        SELECT DISTINCT ON (sub.organization_id)
            sub.organization_id,
            sub.credits_included,
            sub.current_period_start
        FROM scrapifie.subscriptions AS sub
        INNER JOIN scrapifie.organizations AS o ON sub.organization_id = o.id
        WHERE
            sub.status = 'active'
            AND sub.current_period_start <= now()
            AND sub.current_period_end > now()
            AND o.deleted_at IS NULL
        ORDER BY sub.organization_id ASC, sub.current_period_start DESC, sub.created_at DESC
    LOOP
        BEGIN
            -- an organization whose row is locked (by a transaction of its own) is left for
            -- the next run rather than waited for
            UPDATE scrapifie.organizations AS o
            SET credits_balance = v_due.credits_included, credits_reset_at = now()
            WHERE
                o.id = (
                    SELECT l.id FROM scrapifie.organizations AS l
                    WHERE
                        l.id = v_due.organization_id
                        AND (l.credits_reset_at IS NULL OR l.credits_reset_at < v_due.current_period_start)
                    FOR UPDATE SKIP LOCKED
                );
        EXCEPTION WHEN OTHERS THEN
            RAISE WARNING 'reset_monthly_credits: organization % skipped (%)', v_due.organization_id, sqlstate;
            PERFORM ops.log_step(
                v_run, 'scrapifie.organizations'::regclass, 'skip', NULL, 0, v_started,
                pg_catalog.format('reset_monthly_credits: organization %s skipped (SQLSTATE %s)',
                    v_due.organization_id, sqlstate)
            );
        END;
    END LOOP;
END
$fn$;
COMMENT ON FUNCTION scrapifie.reset_monthly_credits() IS
'Sets each live organization with an active subscription in its current period to the period''s '
'credits_included, once per period (idempotent: a second run in the same period changes nothing); the '
'latest-starting subscription wins. An organization that cannot be reset (a bad row, its row locked) '
'is skipped with a WARNING and a ''skip'' row in ops.maintenance_log; the others are reset. Maintenance.';

-- Functions: accounts (secrets are checked here, never read by the application) --------------

-- SECURITY DEFINER: password_hash is not writable by scrapifie_app; checks the acting organization.
CREATE FUNCTION scrapifie.set_user_password(p_user_id uuid, p_password text)
RETURNS void
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
BEGIN
    IF p_user_id IS NULL OR p_password IS NULL THEN
        RAISE EXCEPTION 'user id and password are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF length(p_password) < 8 OR octet_length(p_password) > 72 THEN
        RAISE EXCEPTION 'password must be 8 characters to 72 bytes (bcrypt)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    UPDATE scrapifie.users AS u
    SET
        password_hash = ops.crypt(p_password, ops.gen_salt('bf', 10)),
        password_changed_at = now(),
        session_version = coalesce(u.session_version, 0) + 1,
        failed_login_attempts = 0,
        locked_until = NULL
    WHERE u.id = p_user_id AND u.organization_id = v_org AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'no_data_found';
    END IF;
END
$fn$;
COMMENT ON FUNCTION scrapifie.set_user_password(uuid, text) IS
'Sets a user''s password (bcrypt, cost 10, in the database) in the acting organization, stamps '
'password_changed_at, ends the user''s sessions (session_version + 1) and clears a lock-out.';

-- SECURITY DEFINER: password_hash is not readable by scrapifie_app, and the lock-out
-- counters are the database's; checks the acting organization.
CREATE FUNCTION scrapifie.verify_user_password(p_user_id uuid, p_password text, p_client_ip inet DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
    v_user scrapifie.users;
BEGIN
    IF p_user_id IS NULL OR p_password IS NULL THEN
        RAISE EXCEPTION 'user id and password are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    SELECT u.* INTO v_user
    FROM scrapifie.users AS u
    WHERE u.id = p_user_id AND u.organization_id = v_org AND u.deleted_at IS NULL
    FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_user.password_hash IS NULL OR v_user.locked_until > now() THEN
        RETURN FALSE;
    END IF;
    IF v_user.password_hash !~ '^\$2a\$[0-9]{2}\$' THEN
        RAISE EXCEPTION 'password hash of user % is not a bcrypt hash set by set_user_password', p_user_id
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF ops.crypt(p_password, v_user.password_hash) = v_user.password_hash THEN
        UPDATE scrapifie.users AS u
        SET failed_login_attempts = 0, last_login_at = now(), last_login_ip = coalesce(p_client_ip, u.last_login_ip)
        WHERE u.id = p_user_id;
        RETURN TRUE;
    END IF;
    -- ten failures in a row lock the account for 15 minutes
    UPDATE scrapifie.users AS u
    SET
        failed_login_attempts = coalesce(u.failed_login_attempts, 0) + 1,
        locked_until = CASE
            WHEN coalesce(u.failed_login_attempts, 0) + 1 >= 10 THEN now() + interval '15 minutes'
        END
    WHERE u.id = p_user_id;
    RETURN FALSE;
END
$fn$;
COMMENT ON FUNCTION scrapifie.verify_user_password(uuid, text, inet) IS
'True when the password is the user''s (acting organization; no_data_found otherwise), recording the '
'login; false for a wrong password (counted: 10 in a row lock the account for 15 minutes), a locked '
'account or no password.';

CREATE FUNCTION scrapifie.base32_decode(p_text text)
RETURNS bytea
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $fn$
DECLARE
    v_clean text := upper(translate(p_text, ' =-', ''));
    v_buffer bigint := 0;
    v_bits integer := 0;
    v_hex text := '';
BEGIN
    IF v_clean !~ '^[A-Z2-7]*$' THEN
        RAISE EXCEPTION 'not base32 (RFC 4648)' USING ERRCODE = 'invalid_text_representation';
    END IF;
    FOR i IN 1..length(v_clean) LOOP
        v_buffer := ((v_buffer << 5) | (strpos('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567', substr(v_clean, i, 1)) - 1)) & 65535;
        v_bits := v_bits + 5;
        IF v_bits >= 8 THEN
            v_bits := v_bits - 8;
            v_hex := v_hex || lpad(to_hex((v_buffer >> v_bits) & 255), 2, '0');
        END IF;
    END LOOP;
    RETURN decode(v_hex, 'hex');
END
$fn$;
COMMENT ON FUNCTION scrapifie.base32_decode(text) IS
'Bytes of an RFC 4648 base32 text (case, spaces, dashes and padding ignored); invalid_text_representation otherwise.';

CREATE FUNCTION scrapifie.totp(p_key bytea, p_at timestamptz)
RETURNS text
LANGUAGE plpgsql
IMMUTABLE
STRICT
AS $fn$
DECLARE
    v_mac bytea := ops.hmac(int8send(floor(extract(EPOCH FROM p_at) / 30)::bigint), p_key, 'sha1');
    v_offset integer := get_byte(v_mac, 19) & 15;
BEGIN
    RETURN lpad((
        (
            ((get_byte(v_mac, v_offset) & 127)::bigint << 24)
            | (get_byte(v_mac, v_offset + 1) << 16)
            | (get_byte(v_mac, v_offset + 2) << 8)
            | get_byte(v_mac, v_offset + 3)
        ) % 1000000
    )::text, 6, '0');
END
$fn$;
COMMENT ON FUNCTION scrapifie.totp(bytea, timestamptz) IS
'The 6-digit TOTP code (RFC 6238: HMAC-SHA-1, 30-second steps from the Unix epoch) of a key at a time.';

-- SECURITY DEFINER: mfa_secret is not readable by scrapifie_app; checks the acting organization.
CREATE FUNCTION scrapifie.verify_user_mfa_code(p_user_id uuid, p_code text)
RETURNS boolean
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
    v_secret text;
    v_key bytea;
BEGIN
    IF p_user_id IS NULL OR p_code IS NULL THEN
        RAISE EXCEPTION 'user id and code are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_code !~ '^[0-9]{6}$' THEN
        RAISE EXCEPTION 'a code is 6 digits' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT u.mfa_secret INTO v_secret
    FROM scrapifie.users AS u
    WHERE u.id = p_user_id AND u.organization_id = v_org AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_secret IS NULL OR v_secret = '' THEN
        RETURN FALSE;
    END IF;
    v_key := scrapifie.base32_decode(v_secret);
    -- the current step and one either side (clock drift)
    RETURN p_code IN (
        scrapifie.totp(v_key, now() - interval '30 seconds'),
        scrapifie.totp(v_key, now()),
        scrapifie.totp(v_key, now() + interval '30 seconds')
    );
END
$fn$;
COMMENT ON FUNCTION scrapifie.verify_user_mfa_code(uuid, text) IS
'True when a 6-digit code is the user''s TOTP code now (one 30-second step of drift either side); false '
'without an MFA secret. The user must be in the acting organization (no_data_found otherwise).';

-- SECURITY DEFINER: mfa_backup_codes is not readable by scrapifie_app; checks the acting organization.
CREATE FUNCTION scrapifie.use_mfa_backup_code(p_user_id uuid, p_code text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
BEGIN
    IF p_user_id IS NULL OR p_code IS NULL THEN
        RAISE EXCEPTION 'user id and code are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_code = '' THEN
        RAISE EXCEPTION 'code is empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM FROM scrapifie.users AS u
    WHERE u.id = p_user_id AND u.organization_id = v_org AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'no_data_found';
    END IF;
    -- the row lock makes a code good for one use even when two requests race
    UPDATE scrapifie.users AS u
    SET mfa_backup_codes = array_remove(u.mfa_backup_codes, p_code)
    WHERE u.id = p_user_id AND p_code = ANY(u.mfa_backup_codes);
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION scrapifie.use_mfa_backup_code(uuid, text) IS
'Spends one of the user''s MFA backup codes: true (and the code is gone) when it was one, else false. '
'The user must be in the acting organization (no_data_found otherwise).';

-- SECURITY DEFINER: email_verified_at is the database's; checks the acting organization.
CREATE FUNCTION scrapifie.confirm_user_email(p_user_id uuid, p_email text)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
BEGIN
    IF p_user_id IS NULL OR p_email IS NULL THEN
        RAISE EXCEPTION 'user id and email are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM FROM scrapifie.users AS u
    WHERE u.id = p_user_id AND u.organization_id = v_org AND u.deleted_at IS NULL;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE scrapifie.users AS u
    SET email_verified_at = coalesce(u.email_verified_at, now())
    WHERE u.id = p_user_id AND lower(u.email) = lower(p_email);
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION scrapifie.confirm_user_email(uuid, text) IS
'Marks the user''s email verified when p_email is (still) the user''s email, after the application has '
'checked the confirmation link; false when the email has changed since. Changing the email clears it '
'(trigger users_reset_email_verification).';

-- SECURITY DEFINER: session_version is the database's; checks the acting organization.
CREATE FUNCTION scrapifie.invalidate_user_sessions(p_user_id uuid)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
    v_version integer;
BEGIN
    IF p_user_id IS NULL THEN
        RAISE EXCEPTION 'user id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE scrapifie.users AS u
    SET session_version = coalesce(u.session_version, 0) + 1
    WHERE u.id = p_user_id AND u.organization_id = v_org
    RETURNING u.session_version INTO v_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', p_user_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v_version;
END
$fn$;
COMMENT ON FUNCTION scrapifie.invalidate_user_sessions(uuid) IS
'Ends every session of a user of the acting organization (session_version + 1); returns the new version.';

-- Functions: API keys -------------------------------------------------------------------------

-- SECURITY DEFINER: key_hash and key_prefix are the database's (scrapifie_app may not insert
-- keys itself); checks the acting organization and the creating user.
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
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_prefix text := scrapifie.generate_api_key_prefix();
BEGIN
    PERFORM scrapifie.require_tenant(p_organization_id);
    IF p_name IS NULL OR p_environment IS NULL THEN
        RAISE EXCEPTION 'name and environment are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF btrim(p_name) = '' OR length(p_name) > 100 THEN
        RAISE EXCEPTION 'name must be 1 to 100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_scopes IS NOT NULL AND (
        jsonb_typeof(p_scopes) <> 'array'
        OR EXISTS (SELECT FROM jsonb_array_elements(p_scopes) AS s (scope) WHERE jsonb_typeof(s.scope) <> 'string')
    ) THEN
        RAISE EXCEPTION 'scopes must be a JSON array of strings' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_expires_at <= now() THEN
        RAISE EXCEPTION 'expiry % is not in the future', p_expires_at USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (
        SELECT FROM scrapifie.organizations AS o WHERE o.id = p_organization_id AND o.deleted_at IS NULL
    ) THEN
        RAISE EXCEPTION 'organization % not found', p_organization_id USING ERRCODE = 'no_data_found';
    END IF;
    IF p_created_by_user_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM scrapifie.users AS u WHERE u.id = p_created_by_user_id AND u.organization_id = p_organization_id
    ) THEN
        RAISE EXCEPTION 'user % not found', p_created_by_user_id USING ERRCODE = 'no_data_found';
    END IF;
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
'Creates an API key sk_xxxxxxxx_<64 hex> of the acting organization (insufficient_privilege for another) '
'and returns it once: only its SHA-256 hash and visible prefix are stored. Name 1..100 characters, '
'scopes a JSON array of strings, expiry in the future, creator a user of the organization.';

-- SECURITY DEFINER: revocation state is the database's; checks the acting organization.
CREATE FUNCTION scrapifie.revoke_api_key(p_api_key_id uuid, p_revoked_by_user_id uuid DEFAULT NULL, p_reason text DEFAULT NULL)
RETURNS boolean
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_org uuid := scrapifie.acting_organization();
BEGIN
    IF p_api_key_id IS NULL THEN
        RAISE EXCEPTION 'api key id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF length(p_reason) > 255 THEN
        RAISE EXCEPTION 'reason is longer than 255 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM FROM scrapifie.api_keys AS k WHERE k.id = p_api_key_id AND k.organization_id = v_org;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'api key % not found', p_api_key_id USING ERRCODE = 'no_data_found';
    END IF;
    IF p_revoked_by_user_id IS NOT NULL AND NOT EXISTS (
        SELECT FROM scrapifie.users AS u WHERE u.id = p_revoked_by_user_id AND u.organization_id = v_org
    ) THEN
        RAISE EXCEPTION 'user % not found', p_revoked_by_user_id USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE scrapifie.api_keys AS k
    SET is_active = FALSE, revoked_at = now(), revoked_by_user_id = p_revoked_by_user_id, revoke_reason = p_reason
    WHERE k.id = p_api_key_id AND k.revoked_at IS NULL;
    RETURN FOUND;
END
$fn$;
COMMENT ON FUNCTION scrapifie.revoke_api_key(uuid, uuid, text) IS
'Revokes an API key of the acting organization for good (authenticate_api_key refuses it from now on); '
'false when it was already revoked, no_data_found for a key or user outside the organization.';

CREATE OR REPLACE FUNCTION scrapifie.authenticate_api_key(raw_key text, client_ip inet DEFAULT NULL, user_agent text DEFAULT NULL)
RETURNS TABLE (organization_id uuid, api_key_id uuid, scopes jsonb)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
BEGIN
    IF authenticate_api_key.raw_key IS NULL THEN
        RAISE EXCEPTION 'raw key is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN QUERY
    UPDATE scrapifie.api_keys AS k
    SET
        last_used_at = now(),
        last_used_ip = coalesce(authenticate_api_key.client_ip, k.last_used_ip),
        last_used_user_agent = coalesce(left(authenticate_api_key.user_agent, 1000), k.last_used_user_agent),
        usage_count = coalesce(k.usage_count, 0) + 1
    FROM scrapifie.organizations AS o
    WHERE
        k.key_hash = encode(sha256(convert_to(authenticate_api_key.raw_key, 'UTF8')), 'hex')
        AND k.is_active = TRUE
        AND k.revoked_at IS NULL
        AND (k.expires_at IS NULL OR k.expires_at > now())
        AND o.id = k.organization_id
        AND o.deleted_at IS NULL
    RETURNING k.organization_id, k.id, k.scopes;
END
$fn$;
COMMENT ON FUNCTION scrapifie.authenticate_api_key(text, inet, text) IS
'The organization, key id and scopes of an active, unrevoked, unexpired key of a live organization '
'(looked up by SHA-256 of raw_key), recording its use; no row for every other key, whatever the reason. '
'A NULL key is null_value_not_allowed.';

-- Functions: the rest of the seed's, with their arguments checked ----------------------------

CREATE OR REPLACE FUNCTION scrapifie.calculate_url_hash(url text)
RETURNS varchar(64)
LANGUAGE plpgsql
IMMUTABLE
AS $fn$
BEGIN
    IF url IS NULL THEN
        RAISE EXCEPTION 'url is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    RETURN encode(sha256(convert_to(url, 'UTF8')), 'hex');
END
$fn$;
COMMENT ON FUNCTION scrapifie.calculate_url_hash(text) IS
'SHA-256 of a URL (its UTF-8 bytes) as 64 lowercase hex digits; NULL is null_value_not_allowed.';

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
LANGUAGE plpgsql
STABLE
AS $fn$
BEGIN
    IF org_id IS NULL OR start_date IS NULL OR end_date IS NULL THEN
        RAISE EXCEPTION 'organization id, start and end are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF end_date < start_date THEN
        RAISE EXCEPTION 'end % is before start %', end_date, start_date USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
    SELECT
        count(*)::bigint,
        count(*) FILTER (WHERE j.status = 'completed')::bigint,
        count(*) FILTER (WHERE j.status = 'failed')::bigint,
        coalesce(sum(j.credits_charged), 0)::bigint,
        avg(extract(EPOCH FROM (j.completed_at - j.started_at)) * 1000)::numeric,
        (count(*) FILTER (WHERE j.status = 'completed')::numeric / nullif(count(*)::numeric, 0) * 100)::numeric
    FROM scrapifie.scrape_jobs AS j
    WHERE
        j.organization_id = get_usage_summary.org_id
        AND j.created_at >= get_usage_summary.start_date
        AND j.created_at < get_usage_summary.end_date;
END
$fn$;
COMMENT ON FUNCTION scrapifie.get_usage_summary(uuid, timestamptz, timestamptz) IS
'Jobs an organization created in [start_date, end_date): counts, credits charged, mean '
'started-to-completed time (ms) and success rate (percent). Runs as the caller (RLS applies). NULL '
'arguments are null_value_not_allowed, an end before the start invalid_parameter_value.';

CREATE OR REPLACE FUNCTION scrapifie.cleanup_expired_results()
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_deleted integer;
BEGIN
    -- one job.result_expired event per removed result, in the job's organization; results
    -- (or their jobs) locked by someone else's transaction are left for the next run
    WITH doomed AS (
        SELECT r.id
        FROM scrapifie.job_results AS r
        WHERE r.expires_at < now()
        FOR UPDATE SKIP LOCKED
    ),

    gone AS (
        DELETE FROM scrapifie.job_results AS r
        USING doomed AS d
        WHERE r.id = d.id
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
'job.result_expired event per result; returns how many it deleted. Results locked by another '
'transaction are left for the next run. Maintenance (owner role).';

CREATE OR REPLACE FUNCTION scrapifie.cleanup_old_jobs(retention_days integer DEFAULT 90)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_deleted integer;
BEGIN
    IF retention_days IS NULL THEN
        RAISE EXCEPTION 'retention_days is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF retention_days NOT BETWEEN 1 AND 36500 THEN
        RAISE EXCEPTION 'retention_days must be between 1 and 36500, got %', retention_days
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- jobs locked by someone else's transaction are left for the next run
    DELETE FROM scrapifie.scrape_jobs AS j
    WHERE j.id IN (
        SELECT o.id
        FROM scrapifie.scrape_jobs AS o
        WHERE
            o.created_at < now() - make_interval(days => cleanup_old_jobs.retention_days)
            AND o.status IN ('completed', 'failed', 'canceled', 'timeout')
        FOR UPDATE SKIP LOCKED
    );
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$fn$;
COMMENT ON FUNCTION scrapifie.cleanup_old_jobs(integer) IS
'Deletes finished jobs (completed, failed, canceled, timeout) created more than retention_days '
'(1..36500) ago, with their results and events; returns how many jobs. Jobs locked by another '
'transaction are left for the next run. Maintenance (owner role).';

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
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF p_domain IS NULL THEN
        RAISE EXCEPTION 'domain is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF btrim(p_domain) = '' OR length(p_domain) > 255 THEN
        RAISE EXCEPTION 'domain must be 1 to 255 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN QUERY
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
END
$fn$;
COMMENT ON FUNCTION scrapifie.get_domain_intelligence(text) IS
'Recommended scraping settings for a domain (matched in lower case); no row when unknown. SECURITY '
'DEFINER: domain intelligence is shared and not readable by the application or worker roles.';

-- Functions: triggers -------------------------------------------------------------------------

CREATE FUNCTION scrapifie.set_job_credits_estimated()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.credits_estimated := scrapifie.calculate_job_credits(NEW);
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.set_job_credits_estimated() IS
'Trigger function: scrape_jobs.credits_estimated := calculate_job_credits(the row), on insert and when '
'engine, proxy tier or options change (the price is the database''s, never the caller''s).';

CREATE FUNCTION scrapifie.validate_job_urls()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF NOT scrapifie.is_http_url(NEW.url) THEN
        RAISE EXCEPTION 'url must be an absolute http(s) URL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.webhook_url IS NOT NULL AND NOT scrapifie.is_http_url(NEW.webhook_url) THEN
        RAISE EXCEPTION 'webhook url must be an absolute http(s) URL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.validate_job_urls() IS
'Trigger function: a job''s url and webhook_url are absolute http(s) URLs (is_http_url), on insert and '
'when they change; invalid_parameter_value otherwise. A trigger, not a CHECK: the claim and completion '
'rewrite job rows and would evaluate a CHECK each time.';

CREATE FUNCTION scrapifie.validate_webhook_url()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF NOT scrapifie.is_http_url(NEW.url) THEN
        RAISE EXCEPTION 'webhook url must be an absolute http(s) URL' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.validate_webhook_url() IS
'Trigger function: webhooks.url is an absolute http(s) URL (is_http_url), on insert and when it changes.';

CREATE FUNCTION scrapifie.reset_email_verification()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF lower(NEW.email) IS DISTINCT FROM lower(OLD.email) THEN
        NEW.email_verified_at := NULL;
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.reset_email_verification() IS
'Trigger function: a user whose email changes is unverified again (email_verified_at := NULL).';

-- SECURITY DEFINER: the counter table and generate_invoice_number() are the owner's only;
-- this is the one way an invoice gets a number, in the inserting transaction (gap-free).
CREATE FUNCTION scrapifie.assign_invoice_number()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
BEGIN
    IF NEW.invoice_number IS NULL THEN
        NEW.invoice_number := scrapifie.generate_invoice_number();
    END IF;
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.assign_invoice_number() IS
'Trigger function: invoices.invoice_number := generate_invoice_number() on insert. Only the owner can '
'give an explicit number (e.g. importing legacy invoices): no application role may write the column.';

-- Triggers --------------------------------------------------------------------------------------

CREATE TRIGGER users_reset_email_verification
BEFORE UPDATE OF email ON scrapifie.users
FOR EACH ROW EXECUTE FUNCTION scrapifie.reset_email_verification();

CREATE TRIGGER scrape_jobs_set_credits_estimated
BEFORE INSERT OR UPDATE OF engine, proxy_tier, options ON scrapifie.scrape_jobs
FOR EACH ROW EXECUTE FUNCTION scrapifie.set_job_credits_estimated();

CREATE TRIGGER scrape_jobs_validate_urls
BEFORE INSERT OR UPDATE OF url, webhook_url ON scrapifie.scrape_jobs
FOR EACH ROW EXECUTE FUNCTION scrapifie.validate_job_urls();

CREATE TRIGGER webhooks_validate_url
BEFORE INSERT OR UPDATE OF url ON scrapifie.webhooks
FOR EACH ROW EXECUTE FUNCTION scrapifie.validate_webhook_url();

CREATE TRIGGER invoices_assign_number
BEFORE INSERT ON scrapifie.invoices
FOR EACH ROW EXECUTE FUNCTION scrapifie.assign_invoice_number();

-- RLS policies ----------------------------------------------------------------------------------
-- scrapifie_billing acts for one organization per transaction, as scrapifie_app does, on the
-- tables it writes. References other tables check for themselves:
--   usage_records.subscription_id  a subscription of the same organization (the table is
--                                  partitioned: PostgreSQL 15 cannot add a NOT VALID
--                                  foreign key to it, and only billing writes it)
--   webhooks.api_key_ids           keys of the same organization (an array: no foreign key)
-- scrape_jobs.parent_job_id and retry_of_job_id are not writable by any application role.

ALTER POLICY organizations_tenant_isolation ON scrapifie.organizations TO scrapifie_app, scrapifie_billing;
ALTER POLICY subscriptions_tenant_isolation ON scrapifie.subscriptions TO scrapifie_app, scrapifie_billing;
ALTER POLICY invoices_tenant_isolation ON scrapifie.invoices TO scrapifie_app, scrapifie_billing;

ALTER POLICY usage_records_tenant_isolation ON scrapifie.usage_records TO scrapifie_app, scrapifie_billing
WITH CHECK (
    organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid)
    AND (
        subscription_id IS NULL
        OR EXISTS (
            SELECT FROM scrapifie.subscriptions AS s
            WHERE s.id = usage_records.subscription_id AND s.organization_id = usage_records.organization_id
        )
    )
);

ALTER POLICY webhooks_tenant_isolation ON scrapifie.webhooks
WITH CHECK (
    organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid)
    AND NOT EXISTS (
        SELECT FROM unnest(webhooks.api_key_ids) AS w (key_id)
        WHERE NOT EXISTS (
                SELECT FROM scrapifie.api_keys AS k
                WHERE k.id = w.key_id AND k.organization_id = webhooks.organization_id
            )
    )
);

-- Grants ----------------------------------------------------------------------------------------
-- scrapifie_app: the tenant's own data; no column the database assigns, no secret readable.

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
FROM scrapifie_app;
REVOKE USAGE ON SEQUENCE scrapifie.job_events_id_seq, scrapifie.usage_records_id_seq FROM scrapifie_app;

GRANT SELECT ON scrapifie.organizations TO scrapifie_app;
GRANT INSERT (id, name, slug, billing_email, technical_email, metadata) ON scrapifie.organizations TO scrapifie_app;
GRANT UPDATE (name, slug, billing_email, technical_email, metadata) ON scrapifie.organizations TO scrapifie_app;

GRANT SELECT (
    id, organization_id, email, email_verified_at, auth_provider, auth_provider_id, first_name, last_name,
    avatar_url, timezone, locale, role, permissions, mfa_enabled, last_login_at, last_login_ip,
    failed_login_attempts, locked_until, password_changed_at, session_version, preferences, metadata,
    created_at, updated_at, deleted_at
) ON scrapifie.users TO scrapifie_app;
GRANT INSERT (
    organization_id, email, auth_provider, auth_provider_id, first_name, last_name, avatar_url, timezone,
    locale, role, permissions, mfa_enabled, mfa_secret, mfa_backup_codes, preferences, metadata
) ON scrapifie.users TO scrapifie_app;
GRANT UPDATE (
    email, auth_provider, auth_provider_id, first_name, last_name, avatar_url, timezone, locale, role,
    permissions, mfa_enabled, mfa_secret, mfa_backup_codes, preferences, metadata, deleted_at
) ON scrapifie.users TO scrapifie_app;
GRANT DELETE ON scrapifie.users TO scrapifie_app;

GRANT SELECT (
    id, organization_id, created_by_user_id, key_prefix, name, description, scopes, allowed_ips,
    allowed_domains, rate_limit_override, max_concurrent_override, credits_limit, environment, expires_at,
    last_used_at, last_used_ip, last_used_user_agent, usage_count, is_active, revoked_at, revoked_by_user_id,
    revoke_reason, metadata, created_at, updated_at
) ON scrapifie.api_keys TO scrapifie_app;
GRANT UPDATE (
    name, description, scopes, allowed_ips, allowed_domains, credits_limit, environment, expires_at, is_active,
    metadata
) ON scrapifie.api_keys TO scrapifie_app;
GRANT DELETE ON scrapifie.api_keys TO scrapifie_app;

GRANT SELECT (
    id, organization_id, api_key_id, batch_id, parent_job_id, retry_of_job_id, url, url_hash, method, headers,
    body, engine, options, proxy_tier, proxy_country, proxy_city, proxy_provider, proxy_session_id,
    fingerprint_id, user_agent, status, priority, attempts, max_attempts, created_at, queued_at, started_at,
    completed_at, timeout_at, worker_id, worker_region, queue_name, result_id, credits_estimated,
    credits_charged, credit_breakdown, webhook_url, webhook_sent_at, webhook_attempts, webhook_last_error,
    error_code, error_message, error_details, client_reference, idempotency_key, metadata
) ON scrapifie.scrape_jobs TO scrapifie_app;
GRANT UPDATE (priority, client_reference, webhook_url, webhook_secret, metadata) ON scrapifie.scrape_jobs
TO scrapifie_app;
GRANT DELETE ON scrapifie.scrape_jobs TO scrapifie_app;

GRANT SELECT, DELETE ON scrapifie.job_results TO scrapifie_app;
GRANT SELECT ON scrapifie.job_events TO scrapifie_app;

GRANT SELECT (
    id, organization_id, created_by_user_id, name, url, events, api_key_ids, is_active, timeout_ms,
    retry_count, last_triggered_at, last_success_at, last_failure_at, failure_count, consecutive_failures,
    metadata, created_at, updated_at
) ON scrapifie.webhooks TO scrapifie_app;
GRANT INSERT (
    organization_id, created_by_user_id, name, url, secret, events, api_key_ids, is_active, timeout_ms,
    retry_count, metadata
) ON scrapifie.webhooks TO scrapifie_app;
GRANT UPDATE (
    name, url, secret, events, api_key_ids, is_active, timeout_ms, retry_count, metadata
) ON scrapifie.webhooks TO scrapifie_app;
GRANT DELETE ON scrapifie.webhooks TO scrapifie_app;

GRANT SELECT ON scrapifie.subscriptions, scrapifie.usage_records, scrapifie.invoices TO scrapifie_app;

REVOKE EXECUTE ON FUNCTION
scrapifie.generate_invoice_number(),
scrapifie.add_credits(uuid, bigint)
FROM scrapifie_app;

GRANT EXECUTE ON FUNCTION
scrapifie.cancel_scrape_job(uuid),
scrapifie.set_user_password(uuid, text),
scrapifie.verify_user_password(uuid, text, inet),
scrapifie.verify_user_mfa_code(uuid, text),
scrapifie.use_mfa_backup_code(uuid, text),
scrapifie.confirm_user_email(uuid, text),
scrapifie.invalidate_user_sessions(uuid),
scrapifie.revoke_api_key(uuid, uuid, text),
scrapifie.is_http_url(text),
scrapifie.job_options_valid(jsonb)
TO scrapifie_app;

-- scrapifie_billing: plans, allowances and account state of organizations; subscriptions,
-- usage and invoices (never an invoice's number); credits through add_credits().

GRANT SELECT ON scrapifie.organizations TO scrapifie_billing;
GRANT UPDATE (
    plan_id, subscription_status, stripe_customer_id, stripe_subscription_id, credits_included_monthly,
    credits_overage_rate, rate_limit_per_second, max_concurrent_jobs, max_batch_size, data_retention_days,
    features, deleted_at
) ON scrapifie.organizations TO scrapifie_billing;

GRANT SELECT, DELETE ON scrapifie.subscriptions TO scrapifie_billing;
GRANT INSERT (
    organization_id, plan_id, plan_name, stripe_subscription_id, stripe_price_id, stripe_product_id,
    billing_cycle, billing_anchor_day, base_price_cents, currency, credits_included, credits_overage_rate,
    status, current_period_start, current_period_end, trial_start, trial_end, canceled_at,
    cancel_at_period_end, ended_at, default_payment_method_id, metadata
) ON scrapifie.subscriptions TO scrapifie_billing;
GRANT UPDATE (
    plan_id, plan_name, stripe_subscription_id, stripe_price_id, stripe_product_id, billing_cycle,
    billing_anchor_day, base_price_cents, currency, credits_included, credits_overage_rate, status,
    current_period_start, current_period_end, trial_start, trial_end, canceled_at, cancel_at_period_end,
    ended_at, default_payment_method_id, metadata
) ON scrapifie.subscriptions TO scrapifie_billing;

GRANT SELECT, DELETE ON scrapifie.usage_records TO scrapifie_billing;
GRANT INSERT (
    organization_id, subscription_id, period_start, period_end, granularity, total_requests,
    successful_requests, failed_requests, credits_used, credits_included_used, credits_overage_used,
    http_requests, browser_requests, stealth_requests, datacenter_requests, residential_requests,
    mobile_requests, captcha_solves, screenshots_taken, pdfs_generated, bandwidth_in_bytes,
    bandwidth_out_bytes, proxy_cost_cents, captcha_cost_cents, overage_amount_cents, stripe_usage_record_id,
    reported_to_stripe_at
) ON scrapifie.usage_records TO scrapifie_billing;
GRANT UPDATE (
    subscription_id, total_requests, successful_requests, failed_requests, credits_used, credits_included_used,
    credits_overage_used, http_requests, browser_requests, stealth_requests, datacenter_requests,
    residential_requests, mobile_requests, captcha_solves, screenshots_taken, pdfs_generated,
    bandwidth_in_bytes, bandwidth_out_bytes, proxy_cost_cents, captcha_cost_cents, overage_amount_cents,
    stripe_usage_record_id, reported_to_stripe_at
) ON scrapifie.usage_records TO scrapifie_billing;
GRANT USAGE ON SEQUENCE scrapifie.usage_records_id_seq TO scrapifie_billing;

GRANT SELECT ON scrapifie.invoices TO scrapifie_billing;
GRANT INSERT (
    organization_id, subscription_id, stripe_invoice_id, stripe_payment_intent_id, stripe_charge_id, status,
    subtotal_cents, tax_cents, tax_rate, discount_cents, total_cents, amount_paid_cents, amount_due_cents,
    currency, line_items, period_start, period_end, issued_at, due_at, paid_at, voided_at, billing_name,
    billing_email, billing_address, tax_id, pdf_minio_bucket, pdf_minio_key, notes, metadata
) ON scrapifie.invoices TO scrapifie_billing;
GRANT UPDATE (
    subscription_id, stripe_invoice_id, stripe_payment_intent_id, stripe_charge_id, status, subtotal_cents,
    tax_cents, tax_rate, discount_cents, total_cents, amount_paid_cents, amount_due_cents, currency,
    line_items, period_start, period_end, issued_at, due_at, paid_at, voided_at, billing_name, billing_email,
    billing_address, tax_id, pdf_minio_bucket, pdf_minio_key, notes, metadata
) ON scrapifie.invoices TO scrapifie_billing;

GRANT EXECUTE ON FUNCTION
scrapifie.add_credits(uuid, bigint),
scrapifie.deduct_credits(uuid, bigint),
scrapifie.check_organization_credits(uuid, bigint)
TO scrapifie_billing;

-- scrapifie_worker: functions only.

GRANT EXECUTE ON FUNCTION
scrapifie.claim_scrape_jobs(text, text, integer),
scrapifie.complete_scrape_job(uuid, text, integer, jsonb),
scrapifie.fail_scrape_job(uuid, text, integer, text, text, jsonb, boolean),
scrapifie.expire_timed_out_jobs(),
scrapifie.due_job_webhooks(integer),
scrapifie.job_webhook_signature(uuid, text),
scrapifie.record_job_webhook_delivery(uuid, boolean, text),
scrapifie.webhook_signature(uuid, text),
scrapifie.record_webhook_delivery(uuid, boolean),
scrapifie.get_proxy_providers(),
scrapifie.get_fingerprint(text, text, text),
scrapifie.get_domain_intelligence(text)
TO scrapifie_worker;

-- schema_tool_readonly: every row, no secret and no credential-bearing or personal column.
SELECT ops.grant_read_only('scrapifie', ARRAY[
    'users.password_hash',
    'users.mfa_secret',
    'users.mfa_backup_codes',
    'users.last_login_ip',
    'api_keys.key_hash',
    'api_keys.last_used_ip',
    'scrape_jobs.headers',
    'scrape_jobs.body',
    'scrape_jobs.webhook_url',
    'scrape_jobs.webhook_secret',
    'job_results.headers',
    'job_results.cookies',
    'job_results.content_inline',
    'job_results.extracted_title',
    'job_results.extracted_text',
    'job_results.extracted_links',
    'job_results.extracted_images',
    'job_results.extracted_data',
    'webhooks.url',
    'webhooks.secret',
    'proxy_providers.credentials',
    'proxy_providers.datacenter_endpoint',
    'proxy_providers.residential_endpoint',
    'proxy_providers.mobile_endpoint'
]);
