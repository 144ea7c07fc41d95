-- scrapifie 0001: the web scraping API's database (seed 004, Appendix C, SCRX-APP-C).
-- depends: ops_0002_partition_engine
--
-- The six enum types, the thirteen tables of the seed (plus invoice_number_counters,
-- the per-month counter behind gap-free invoice numbers), their indexes, the sixteen
-- seed functions (repaired where the seed is wrong) and the job queue, API key
-- authentication and tenant isolation (RLS) the seed implies. job_events and
-- usage_records are monthly range-partitioned and registered with the ops engine.
-- docs/deviations.md (scrapifie) lists every place this differs from the seed, and why.
--
-- Tenants: the application role scrapifie_app sets the acting organization per
-- transaction (SET LOCAL app.organization_id = '<uuid>') and sees only its rows; unset
-- means no rows. The system tables (proxy_providers, fingerprints, domain_intelligence)
-- are reached only through SECURITY DEFINER functions that expose what the app needs.

-- Roles (needs CREATEROLE; before SET LOCAL ROLE) ------------------------------------

SELECT ops.ensure_app_role('scrapifie');

SET LOCAL ROLE schema_tool_owner;

-- Schema -------------------------------------------------------------------------------

CREATE SCHEMA scrapifie;
COMMENT ON SCHEMA scrapifie IS
'Scrapifie, the web scraping API: tenants, API keys, the scrape job queue, results, billing.';
GRANT USAGE ON SCHEMA scrapifie TO scrapifie_app;

-- Types ----------------------------------------------------------------------------------
-- The seed declares these enums but its tables keep varchar columns with named CHECKs;
-- both are kept (the CHECKs are the contract for the columns).

CREATE TYPE scrapifie.subscription_status AS ENUM (
    'trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused'
);
CREATE TYPE scrapifie.job_status AS ENUM (
    'pending', 'queued', 'running', 'completed', 'failed', 'canceled', 'timeout'
);
CREATE TYPE scrapifie.scrape_engine AS ENUM ('auto', 'http', 'browser', 'stealth');
CREATE TYPE scrapifie.proxy_tier AS ENUM ('datacenter', 'residential', 'mobile', 'isp');
CREATE TYPE scrapifie.user_role AS ENUM ('owner', 'admin', 'member', 'readonly');
CREATE TYPE scrapifie.plan_id AS ENUM ('free', 'starter', 'growth', 'business', 'enterprise');

COMMENT ON TYPE scrapifie.subscription_status IS
'Subscription states (Stripe''s); domain of organizations.subscription_status and subscriptions.status.';
COMMENT ON TYPE scrapifie.job_status IS 'Scrape job states; domain of scrape_jobs.status.';
COMMENT ON TYPE scrapifie.scrape_engine IS 'Scraping engines; domain of scrape_jobs.engine.';
COMMENT ON TYPE scrapifie.proxy_tier IS 'Proxy tiers; domain of scrape_jobs.proxy_tier.';
COMMENT ON TYPE scrapifie.user_role IS 'Roles of a user in an organization; domain of users.role.';
COMMENT ON TYPE scrapifie.plan_id IS 'Plans; domain of organizations.plan_id.';

-- Tables: core domain --------------------------------------------------------------------

CREATE TABLE scrapifie.organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar(255) NOT NULL,
    slug varchar(100) UNIQUE NOT NULL,
    billing_email varchar(255) NOT NULL,
    technical_email varchar(255),
    plan_id varchar(50) NOT NULL DEFAULT 'starter',
    subscription_status varchar(20) NOT NULL DEFAULT 'trialing',
    stripe_customer_id varchar(255) UNIQUE,
    stripe_subscription_id varchar(255) UNIQUE,
    credits_balance bigint NOT NULL DEFAULT 0,
    credits_included_monthly bigint NOT NULL DEFAULT 100000,
    credits_overage_rate decimal(10, 6) DEFAULT 0.000050,
    credits_reset_at timestamptz,
    rate_limit_per_second integer NOT NULL DEFAULT 10,
    max_concurrent_jobs integer NOT NULL DEFAULT 50,
    max_batch_size integer NOT NULL DEFAULT 1000,
    data_retention_days integer NOT NULL DEFAULT 7,
    features jsonb NOT NULL DEFAULT '{
        "js_rendering": true,
        "residential_proxies": false,
        "mobile_proxies": false,
        "captcha_solving": false,
        "webhooks": true,
        "batch_api": true,
        "priority_queue": false,
        "dedicated_support": false
    }',
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT organizations_valid_plan CHECK (
        plan_id IN ('free', 'starter', 'growth', 'business', 'enterprise')
    ),
    CONSTRAINT organizations_valid_status CHECK (
        subscription_status IN ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')
    ),
    CONSTRAINT organizations_positive_credits CHECK (credits_balance >= 0),
    CONSTRAINT organizations_positive_rate_limit CHECK (rate_limit_per_second > 0),
    CONSTRAINT organizations_positive_concurrent CHECK (max_concurrent_jobs > 0)
);

CREATE TABLE scrapifie.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES scrapifie.organizations (id) ON DELETE CASCADE,
    email varchar(255) NOT NULL,
    email_verified_at timestamptz,
    password_hash varchar(255),
    auth_provider varchar(50) DEFAULT 'email',
    auth_provider_id varchar(255),
    first_name varchar(100),
    last_name varchar(100),
    avatar_url varchar(500),
    timezone varchar(50) DEFAULT 'UTC',
    locale varchar(10) DEFAULT 'en-US',
    role varchar(20) NOT NULL DEFAULT 'member',
    permissions jsonb DEFAULT '[]',
    mfa_enabled boolean DEFAULT FALSE,
    mfa_secret varchar(255),
    mfa_backup_codes text[],
    last_login_at timestamptz,
    last_login_ip inet,
    failed_login_attempts integer DEFAULT 0,
    locked_until timestamptz,
    password_changed_at timestamptz,
    session_version integer DEFAULT 1,
    preferences jsonb DEFAULT '{
        "email_notifications": true,
        "usage_alerts": true,
        "marketing_emails": false
    }',
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT users_valid_role CHECK (role IN ('owner', 'admin', 'member', 'readonly')),
    CONSTRAINT users_valid_auth_provider CHECK (
        auth_provider IN ('email', 'google', 'github', 'saml')
    ),
    CONSTRAINT users_unique_email_per_org UNIQUE (organization_id, email)
);

CREATE TABLE scrapifie.api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES scrapifie.organizations (id) ON DELETE CASCADE,
    created_by_user_id uuid REFERENCES scrapifie.users (id) ON DELETE SET NULL,
    key_prefix varchar(12) NOT NULL,  -- DEFAULT scrapifie.generate_api_key_prefix(), set below
    key_hash varchar(64) NOT NULL UNIQUE,
    name varchar(100) NOT NULL,
    description text,
    scopes jsonb NOT NULL DEFAULT '["scrape:read", "scrape:write"]',
    allowed_ips inet[],
    allowed_domains varchar(255)[],
    rate_limit_override integer,
    max_concurrent_override integer,
    credits_limit bigint,
    environment varchar(20) NOT NULL DEFAULT 'production',
    expires_at timestamptz,
    last_used_at timestamptz,
    last_used_ip inet,
    last_used_user_agent text,
    usage_count bigint DEFAULT 0,
    is_active boolean DEFAULT TRUE,
    revoked_at timestamptz,
    revoked_by_user_id uuid REFERENCES scrapifie.users (id),
    revoke_reason varchar(255),
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT api_keys_valid_environment CHECK (
        environment IN ('development', 'staging', 'production')
    ),
    CONSTRAINT api_keys_valid_scopes CHECK (jsonb_typeof(scopes) = 'array')
);

-- Tables: operational ----------------------------------------------------------------------

CREATE TABLE scrapifie.scrape_jobs (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES scrapifie.organizations (id),
    api_key_id uuid REFERENCES scrapifie.api_keys (id) ON DELETE SET NULL,
    batch_id uuid,
    parent_job_id uuid REFERENCES scrapifie.scrape_jobs (id) ON DELETE SET NULL,
    retry_of_job_id uuid REFERENCES scrapifie.scrape_jobs (id) ON DELETE SET NULL,
    url text NOT NULL,
    url_hash varchar(64) NOT NULL,
    method varchar(10) NOT NULL DEFAULT 'GET',
    headers jsonb DEFAULT '{}',
    body text,
    engine varchar(20) NOT NULL DEFAULT 'auto',
    options jsonb NOT NULL DEFAULT '{
        "render_js": false,
        "wait_for": null,
        "wait_time": 0,
        "timeout": 30000,
        "screenshot": false,
        "pdf": false,
        "extract": null
    }',
    proxy_tier varchar(20) DEFAULT 'datacenter',
    proxy_country varchar(2),
    proxy_city varchar(100),
    proxy_provider varchar(50),
    proxy_session_id varchar(100),
    fingerprint_id uuid,
    user_agent text,
    status varchar(20) NOT NULL DEFAULT 'pending',
    priority integer NOT NULL DEFAULT 5,
    attempts integer NOT NULL DEFAULT 0,
    max_attempts integer NOT NULL DEFAULT 3,
    created_at timestamptz NOT NULL DEFAULT now(),
    queued_at timestamptz,
    started_at timestamptz,
    completed_at timestamptz,
    timeout_at timestamptz,
    worker_id varchar(100),
    worker_region varchar(20),
    queue_name varchar(50),
    result_id uuid,
    credits_estimated bigint DEFAULT 1,
    credits_charged bigint DEFAULT 0,
    credit_breakdown jsonb DEFAULT '{}',
    webhook_url text,
    webhook_secret varchar(255),
    webhook_sent_at timestamptz,
    webhook_attempts integer DEFAULT 0,
    webhook_last_error text,
    error_code varchar(50),
    error_message text,
    error_details jsonb,
    client_reference varchar(255),
    idempotency_key varchar(255),
    metadata jsonb DEFAULT '{}',
    CONSTRAINT scrape_jobs_valid_status CHECK (
        status IN ('pending', 'queued', 'running', 'completed', 'failed', 'canceled', 'timeout')
    ),
    CONSTRAINT scrape_jobs_valid_engine CHECK (
        engine IN ('auto', 'http', 'browser', 'stealth')
    ),
    CONSTRAINT scrape_jobs_valid_proxy_tier CHECK (
        proxy_tier IN ('datacenter', 'residential', 'mobile', 'isp')
    ),
    CONSTRAINT scrape_jobs_valid_method CHECK (
        method IN ('GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS')
    ),
    CONSTRAINT scrape_jobs_valid_priority CHECK (priority BETWEEN 1 AND 10),
    CONSTRAINT scrape_jobs_valid_attempts CHECK (attempts >= 0 AND max_attempts >= 1)
);

CREATE TABLE scrapifie.job_results (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    job_id uuid NOT NULL REFERENCES scrapifie.scrape_jobs (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL,
    status_code integer,
    status_text varchar(100),
    headers jsonb,
    cookies jsonb,
    content_type varchar(255),
    content_length bigint,
    content_encoding varchar(50),
    final_url text,
    redirect_count integer DEFAULT 0,
    content_storage_type varchar(20) NOT NULL DEFAULT 'inline',
    content_inline text,
    content_minio_bucket varchar(100),
    content_minio_key varchar(500),
    content_hash varchar(64),
    content_compressed boolean DEFAULT FALSE,
    extracted_title text,
    extracted_text text,
    extracted_links jsonb,
    extracted_images jsonb,
    extracted_data jsonb,
    screenshot_minio_bucket varchar(100),
    screenshot_minio_key varchar(500),
    screenshot_thumbnail_key varchar(500),
    screenshot_width integer,
    screenshot_height integer,
    screenshot_format varchar(10) DEFAULT 'png',
    pdf_minio_bucket varchar(100),
    pdf_minio_key varchar(500),
    pdf_page_count integer,
    dns_time_ms integer,
    connect_time_ms integer,
    tls_time_ms integer,
    ttfb_ms integer,
    download_time_ms integer,
    render_time_ms integer,
    total_time_ms integer,
    detection_score decimal(5, 4),
    protection_detected varchar(50),
    captcha_encountered boolean DEFAULT FALSE,
    captcha_type varchar(50),
    captcha_solved boolean DEFAULT FALSE,
    captcha_solve_time_ms integer,
    proxy_ip inet,
    proxy_country varchar(2),
    proxy_provider varchar(50),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz,
    CONSTRAINT job_results_valid_storage CHECK (
        content_storage_type IN ('inline', 'minio', 'none')
    )
);

-- The seed's primary key (id) omits the partition key, which PostgreSQL refuses.
CREATE TABLE scrapifie.job_events (
    id bigserial,
    job_id uuid NOT NULL REFERENCES scrapifie.scrape_jobs (id) ON DELETE CASCADE,
    organization_id uuid NOT NULL,
    event_type varchar(50) NOT NULL,
    event_data jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    duration_ms integer,
    worker_id varchar(100),
    worker_region varchar(20),
    CONSTRAINT job_events_pkey PRIMARY KEY (id, created_at),
    CONSTRAINT job_events_valid_type CHECK (
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
    )
) PARTITION BY RANGE (created_at);

CREATE TABLE scrapifie.webhooks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES scrapifie.organizations (id) ON DELETE CASCADE,
    created_by_user_id uuid REFERENCES scrapifie.users (id) ON DELETE SET NULL,
    name varchar(100) NOT NULL,
    url text NOT NULL,
    secret varchar(255) NOT NULL,
    events jsonb NOT NULL DEFAULT '["job.completed", "job.failed"]',
    api_key_ids uuid[],
    is_active boolean DEFAULT TRUE,
    timeout_ms integer DEFAULT 30000,
    retry_count integer DEFAULT 3,
    last_triggered_at timestamptz,
    last_success_at timestamptz,
    last_failure_at timestamptz,
    failure_count integer DEFAULT 0,
    consecutive_failures integer DEFAULT 0,
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webhooks_valid_timeout CHECK (timeout_ms BETWEEN 1000 AND 120000),
    CONSTRAINT webhooks_valid_retry CHECK (retry_count BETWEEN 0 AND 10)
);

-- Tables: billing ----------------------------------------------------------------------------

CREATE TABLE scrapifie.subscriptions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES scrapifie.organizations (id) ON DELETE CASCADE,
    plan_id varchar(50) NOT NULL,
    plan_name varchar(100) NOT NULL,
    stripe_subscription_id varchar(255) UNIQUE,
    stripe_price_id varchar(255),
    stripe_product_id varchar(255),
    billing_cycle varchar(20) NOT NULL DEFAULT 'monthly',
    billing_anchor_day integer,
    base_price_cents integer NOT NULL,
    currency varchar(3) NOT NULL DEFAULT 'USD',
    credits_included bigint NOT NULL,
    credits_overage_rate decimal(10, 6),
    status varchar(20) NOT NULL DEFAULT 'active',
    current_period_start timestamptz NOT NULL,
    current_period_end timestamptz NOT NULL,
    trial_start timestamptz,
    trial_end timestamptz,
    canceled_at timestamptz,
    cancel_at_period_end boolean DEFAULT FALSE,
    ended_at timestamptz,
    default_payment_method_id varchar(255),
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT subscriptions_valid_cycle CHECK (billing_cycle IN ('monthly', 'yearly')),
    CONSTRAINT subscriptions_valid_status CHECK (
        status IN ('trialing', 'active', 'past_due', 'canceled', 'unpaid', 'paused')
    ),
    CONSTRAINT subscriptions_valid_anchor CHECK (billing_anchor_day BETWEEN 1 AND 28)
);

-- Partitioned by period_start; the primary key and the per-org/period/granularity
-- uniqueness both include the partition key, so both are kept.
CREATE TABLE scrapifie.usage_records (
    id bigserial,
    organization_id uuid NOT NULL REFERENCES scrapifie.organizations (id),
    subscription_id uuid REFERENCES scrapifie.subscriptions (id) ON DELETE SET NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    granularity varchar(20) NOT NULL DEFAULT 'daily',
    total_requests bigint NOT NULL DEFAULT 0,
    successful_requests bigint NOT NULL DEFAULT 0,
    failed_requests bigint NOT NULL DEFAULT 0,
    credits_used bigint NOT NULL DEFAULT 0,
    credits_included_used bigint NOT NULL DEFAULT 0,
    credits_overage_used bigint NOT NULL DEFAULT 0,
    http_requests bigint DEFAULT 0,
    browser_requests bigint DEFAULT 0,
    stealth_requests bigint DEFAULT 0,
    datacenter_requests bigint DEFAULT 0,
    residential_requests bigint DEFAULT 0,
    mobile_requests bigint DEFAULT 0,
    captcha_solves bigint DEFAULT 0,
    screenshots_taken bigint DEFAULT 0,
    pdfs_generated bigint DEFAULT 0,
    bandwidth_in_bytes bigint DEFAULT 0,
    bandwidth_out_bytes bigint DEFAULT 0,
    proxy_cost_cents integer DEFAULT 0,
    captcha_cost_cents integer DEFAULT 0,
    overage_amount_cents integer DEFAULT 0,
    stripe_usage_record_id varchar(255),
    reported_to_stripe_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT usage_records_pkey PRIMARY KEY (id, period_start),
    CONSTRAINT usage_records_unique_org_period UNIQUE (organization_id, period_start, granularity),
    CONSTRAINT usage_records_valid_granularity CHECK (granularity IN ('hourly', 'daily', 'monthly')),
    CONSTRAINT usage_records_valid_period CHECK (period_end > period_start)
) PARTITION BY RANGE (period_start);

-- The counter behind generate_invoice_number(): one row per month, incremented in the
-- invoice's own transaction (a rolled-back invoice gives its number back: no gaps).
CREATE TABLE scrapifie.invoice_number_counters (
    year_month char(6) PRIMARY KEY,
    last_number integer NOT NULL,
    CONSTRAINT invoice_number_counters_valid_month CHECK (year_month ~ '^[0-9]{4}(0[1-9]|1[0-2])$'),
    CONSTRAINT invoice_number_counters_positive CHECK (last_number >= 1)
);

CREATE TABLE scrapifie.invoices (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES scrapifie.organizations (id),
    subscription_id uuid REFERENCES scrapifie.subscriptions (id),
    stripe_invoice_id varchar(255) UNIQUE,
    stripe_payment_intent_id varchar(255),
    stripe_charge_id varchar(255),
    invoice_number varchar(50) UNIQUE NOT NULL,  -- DEFAULT scrapifie.generate_invoice_number(), set below
    status varchar(20) NOT NULL DEFAULT 'draft',
    subtotal_cents integer NOT NULL,
    tax_cents integer DEFAULT 0,
    tax_rate decimal(5, 4) DEFAULT 0,
    discount_cents integer DEFAULT 0,
    total_cents integer NOT NULL,
    amount_paid_cents integer DEFAULT 0,
    amount_due_cents integer NOT NULL,
    currency varchar(3) NOT NULL DEFAULT 'USD',
    line_items jsonb NOT NULL DEFAULT '[]',
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,
    issued_at timestamptz,
    due_at timestamptz,
    paid_at timestamptz,
    voided_at timestamptz,
    billing_name varchar(255),
    billing_email varchar(255),
    billing_address jsonb,
    tax_id varchar(100),
    pdf_minio_bucket varchar(100),
    pdf_minio_key varchar(500),
    notes text,
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoices_valid_status CHECK (
        status IN ('draft', 'open', 'paid', 'void', 'uncollectible')
    )
);

-- Tables: system ---------------------------------------------------------------------------

CREATE TABLE scrapifie.proxy_providers (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar(100) NOT NULL UNIQUE,
    display_name varchar(100) NOT NULL,
    api_base_url text,
    auth_type varchar(50) DEFAULT 'basic',
    credentials jsonb NOT NULL,
    datacenter_endpoint text,
    residential_endpoint text,
    mobile_endpoint text,
    datacenter_price_cents integer,
    residential_price_cents integer,
    mobile_price_cents integer,
    countries jsonb DEFAULT '[]',
    supports_sessions boolean DEFAULT TRUE,
    supports_city_targeting boolean DEFAULT FALSE,
    supports_asn_targeting boolean DEFAULT FALSE,
    is_active boolean DEFAULT TRUE,
    is_healthy boolean DEFAULT TRUE,
    last_health_check_at timestamptz,
    health_check_error text,
    daily_bandwidth_limit_gb decimal(10, 2),
    monthly_bandwidth_limit_gb decimal(10, 2),
    concurrent_connection_limit integer,
    bandwidth_used_today_gb decimal(10, 4) DEFAULT 0,
    bandwidth_used_month_gb decimal(10, 4) DEFAULT 0,
    priority integer DEFAULT 5,
    metadata jsonb DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE scrapifie.fingerprints (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    fingerprint_hash varchar(64) NOT NULL UNIQUE,
    fingerprint_data jsonb NOT NULL,
    browser_type varchar(50) NOT NULL,
    browser_version varchar(20),
    os_type varchar(50) NOT NULL,
    os_version varchar(20),
    device_type varchar(20) DEFAULT 'desktop',
    screen_width integer,
    screen_height integer,
    device_pixel_ratio decimal(3, 2),
    locale varchar(10),
    timezone varchar(50),
    user_agent text NOT NULL,
    accept_language text,
    is_valid boolean DEFAULT TRUE,
    validation_errors jsonb,
    usage_count bigint DEFAULT 0,
    last_used_at timestamptz,
    success_rate decimal(5, 4),
    source varchar(50) DEFAULT 'generated',
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz
);

CREATE TABLE scrapifie.domain_intelligence (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    domain varchar(255) NOT NULL UNIQUE,
    protection_type varchar(50),
    protection_level varchar(20) DEFAULT 'unknown',
    cloudflare_detected boolean DEFAULT FALSE,
    akamai_detected boolean DEFAULT FALSE,
    datadome_detected boolean DEFAULT FALSE,
    perimeterx_detected boolean DEFAULT FALSE,
    recommended_engine varchar(20) DEFAULT 'auto',
    recommended_proxy_tier varchar(20) DEFAULT 'datacenter',
    requires_js_rendering boolean DEFAULT FALSE,
    requires_captcha_solving boolean DEFAULT FALSE,
    avg_response_time_ms integer,
    success_rate decimal(5, 4),
    total_requests bigint DEFAULT 0,
    successful_requests bigint DEFAULT 0,
    detected_rate_limit integer,
    recommended_delay_ms integer DEFAULT 1000,
    robots_txt_crawl_delay integer,
    robots_txt_cached_at timestamptz,
    last_analyzed_at timestamptz,
    analysis_version integer DEFAULT 1,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT domain_intelligence_valid_protection_level CHECK (
        protection_level IN ('unknown', 'none', 'basic', 'medium', 'high', 'extreme')
    )
);

-- Indexes ------------------------------------------------------------------------------------

CREATE INDEX idx_organizations_slug ON scrapifie.organizations (slug) WHERE deleted_at IS NULL;
CREATE INDEX idx_organizations_stripe_customer ON scrapifie.organizations (stripe_customer_id)
WHERE stripe_customer_id IS NOT NULL;
CREATE INDEX idx_organizations_plan ON scrapifie.organizations (plan_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_organizations_created ON scrapifie.organizations (created_at);
CREATE INDEX idx_organizations_status ON scrapifie.organizations (subscription_status)
WHERE deleted_at IS NULL;

CREATE INDEX idx_users_org ON scrapifie.users (organization_id) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_email ON scrapifie.users (lower(email)) WHERE deleted_at IS NULL;
CREATE INDEX idx_users_auth_provider ON scrapifie.users (auth_provider, auth_provider_id)
WHERE auth_provider_id IS NOT NULL;
CREATE INDEX idx_users_last_login ON scrapifie.users (last_login_at DESC NULLS LAST);

CREATE INDEX idx_api_keys_org ON scrapifie.api_keys (organization_id) WHERE is_active = TRUE;
CREATE INDEX idx_api_keys_prefix ON scrapifie.api_keys (key_prefix);
CREATE UNIQUE INDEX idx_api_keys_hash ON scrapifie.api_keys (key_hash);
CREATE INDEX idx_api_keys_last_used ON scrapifie.api_keys (last_used_at DESC NULLS LAST);
CREATE INDEX idx_api_keys_expires ON scrapifie.api_keys (expires_at)
WHERE expires_at IS NOT NULL AND is_active = TRUE;
-- the seed's predicate also had (expires_at IS NULL OR expires_at > NOW()): an index
-- predicate must be immutable, so expiry is checked by authenticate_api_key() instead
CREATE INDEX idx_api_keys_auth_lookup ON scrapifie.api_keys (key_hash, organization_id)
WHERE is_active = TRUE AND revoked_at IS NULL;
CREATE INDEX idx_api_keys_created_by ON scrapifie.api_keys (created_by_user_id)
WHERE created_by_user_id IS NOT NULL;
CREATE INDEX idx_api_keys_revoked_by ON scrapifie.api_keys (revoked_by_user_id)
WHERE revoked_by_user_id IS NOT NULL;

CREATE INDEX idx_jobs_org_status ON scrapifie.scrape_jobs (organization_id, status);
CREATE INDEX idx_jobs_org_created ON scrapifie.scrape_jobs (organization_id, created_at DESC);
CREATE INDEX idx_jobs_batch ON scrapifie.scrape_jobs (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX idx_jobs_url_hash ON scrapifie.scrape_jobs (url_hash, organization_id);
CREATE INDEX idx_jobs_client_ref ON scrapifie.scrape_jobs (organization_id, client_reference)
WHERE client_reference IS NOT NULL;
-- unique: an idempotency key names one job per organization (submit_scrape_job)
CREATE UNIQUE INDEX idx_jobs_idempotency ON scrapifie.scrape_jobs (organization_id, idempotency_key)
WHERE idempotency_key IS NOT NULL;
-- the claim's access path: one queue, highest priority first, then oldest, read in index
-- order and stopped after the batch (the seed's (status, priority DESC, created_at)
-- needs a sort of the whole backlog, since claimable jobs have two statuses)
CREATE INDEX idx_jobs_queue ON scrapifie.scrape_jobs ((coalesce(queue_name, 'default')), priority DESC, created_at)
WHERE status IN ('pending', 'queued');
CREATE INDEX idx_jobs_webhook_pending ON scrapifie.scrape_jobs (id)
WHERE status = 'completed' AND webhook_url IS NOT NULL AND webhook_sent_at IS NULL;
CREATE INDEX idx_jobs_timeout ON scrapifie.scrape_jobs (timeout_at)
WHERE status = 'running' AND timeout_at IS NOT NULL;
CREATE INDEX idx_jobs_options ON scrapifie.scrape_jobs USING gin (options jsonb_path_ops);
CREATE INDEX idx_jobs_api_key ON scrapifie.scrape_jobs (api_key_id) WHERE api_key_id IS NOT NULL;
CREATE INDEX idx_jobs_parent ON scrapifie.scrape_jobs (parent_job_id) WHERE parent_job_id IS NOT NULL;
CREATE INDEX idx_jobs_retry_of ON scrapifie.scrape_jobs (retry_of_job_id) WHERE retry_of_job_id IS NOT NULL;

CREATE UNIQUE INDEX idx_results_job ON scrapifie.job_results (job_id);
CREATE INDEX idx_results_org_created ON scrapifie.job_results (organization_id, created_at DESC);
CREATE INDEX idx_results_content_hash ON scrapifie.job_results (content_hash)
WHERE content_hash IS NOT NULL;
CREATE INDEX idx_results_expires ON scrapifie.job_results (expires_at)
WHERE expires_at IS NOT NULL;

CREATE INDEX idx_job_events_job_time ON scrapifie.job_events (job_id, created_at);
CREATE INDEX idx_job_events_type ON scrapifie.job_events (event_type, created_at DESC);
CREATE INDEX idx_job_events_created_brin ON scrapifie.job_events USING brin (created_at);
CREATE INDEX idx_job_events_org ON scrapifie.job_events (organization_id, created_at DESC);

CREATE INDEX idx_webhooks_org ON scrapifie.webhooks (organization_id) WHERE is_active = TRUE;
CREATE INDEX idx_webhooks_failures ON scrapifie.webhooks (consecutive_failures DESC)
WHERE is_active = TRUE AND consecutive_failures > 0;
CREATE INDEX idx_webhooks_created_by ON scrapifie.webhooks (created_by_user_id)
WHERE created_by_user_id IS NOT NULL;

CREATE INDEX idx_subscriptions_org ON scrapifie.subscriptions (organization_id);
CREATE UNIQUE INDEX idx_subscriptions_stripe ON scrapifie.subscriptions (stripe_subscription_id)
WHERE stripe_subscription_id IS NOT NULL;
CREATE INDEX idx_subscriptions_period_end ON scrapifie.subscriptions (current_period_end);
CREATE INDEX idx_subscriptions_status ON scrapifie.subscriptions (status) WHERE status = 'active';

CREATE INDEX idx_usage_org_period ON scrapifie.usage_records (organization_id, period_start DESC);
CREATE INDEX idx_usage_subscription ON scrapifie.usage_records (subscription_id, period_start DESC);
CREATE INDEX idx_usage_unreported ON scrapifie.usage_records (organization_id)
WHERE reported_to_stripe_at IS NULL AND credits_overage_used > 0;
CREATE INDEX idx_usage_period_brin ON scrapifie.usage_records USING brin (period_start);

CREATE INDEX idx_invoices_org ON scrapifie.invoices (organization_id, created_at DESC);
CREATE INDEX idx_invoices_stripe ON scrapifie.invoices (stripe_invoice_id)
WHERE stripe_invoice_id IS NOT NULL;
CREATE INDEX idx_invoices_status ON scrapifie.invoices (status, due_at)
WHERE status IN ('open', 'draft');
CREATE INDEX idx_invoices_number ON scrapifie.invoices (invoice_number);
CREATE INDEX idx_invoices_subscription ON scrapifie.invoices (subscription_id)
WHERE subscription_id IS NOT NULL;

CREATE INDEX idx_proxy_providers_active ON scrapifie.proxy_providers (is_active, is_healthy, priority DESC);

CREATE INDEX idx_fingerprints_browser ON scrapifie.fingerprints (browser_type, os_type)
WHERE is_valid = TRUE;
CREATE INDEX idx_fingerprints_locale ON scrapifie.fingerprints (locale)
WHERE is_valid = TRUE;
CREATE INDEX idx_fingerprints_usage ON scrapifie.fingerprints (usage_count, success_rate DESC)
WHERE is_valid = TRUE;

CREATE INDEX idx_domain_intel_protection ON scrapifie.domain_intelligence (protection_type);
CREATE INDEX idx_domain_intel_updated ON scrapifie.domain_intelligence (last_analyzed_at);

-- Comments -------------------------------------------------------------------------------------

COMMENT ON TABLE scrapifie.organizations IS 'Customer organizations/tenants';
COMMENT ON COLUMN scrapifie.organizations.slug IS 'URL-safe unique identifier';
COMMENT ON COLUMN scrapifie.organizations.credits_balance IS
'Current credit balance; never negative (organizations_positive_credits): usage beyond it is '
'refused by deduct_credits(), except on the enterprise plan, whose overage is billed through usage_records';
COMMENT ON COLUMN scrapifie.organizations.credits_reset_at IS
'When reset_monthly_credits() last refilled the balance; it refills once per subscription period';
COMMENT ON COLUMN scrapifie.organizations.features IS
'Feature flags as JSON object: {"js_rendering": bool, "residential_proxies": bool, "mobile_proxies": bool, '
'"captcha_solving": bool, "webhooks": bool, "batch_api": bool, "priority_queue": bool, "dedicated_support": bool}';
COMMENT ON COLUMN scrapifie.organizations.metadata IS 'Free-form JSON object of application data';

COMMENT ON TABLE scrapifie.users IS 'User accounts within organizations';
COMMENT ON COLUMN scrapifie.users.session_version IS 'Increment to invalidate all sessions';
COMMENT ON COLUMN scrapifie.users.mfa_backup_codes IS 'One-time use backup codes for MFA';
COMMENT ON COLUMN scrapifie.users.permissions IS 'JSON array of permission strings granted beyond the role';
COMMENT ON COLUMN scrapifie.users.preferences IS
'JSON object: {"email_notifications": bool, "usage_alerts": bool, "marketing_emails": bool}';
COMMENT ON COLUMN scrapifie.users.metadata IS 'Free-form JSON object of application data';

COMMENT ON TABLE scrapifie.api_keys IS 'API keys for authentication (only the SHA-256 hash of a key is stored)';
COMMENT ON COLUMN scrapifie.api_keys.key_prefix IS 'Visible prefix for key identification (sk_xxxx)';
COMMENT ON COLUMN scrapifie.api_keys.key_hash IS 'SHA-256 hash of the full API key';
COMMENT ON COLUMN scrapifie.api_keys.scopes IS
'Array of permission scopes: JSON array of strings, e.g. ["scrape:read", "scrape:write"]';
COMMENT ON COLUMN scrapifie.api_keys.metadata IS 'Free-form JSON object of application data';

COMMENT ON TABLE scrapifie.scrape_jobs IS 'Scraping job requests and their state; also the job queue';
COMMENT ON COLUMN scrapifie.scrape_jobs.url_hash IS 'SHA-256 hash for deduplication';
COMMENT ON COLUMN scrapifie.scrape_jobs.priority IS 'Queue priority 1-10 (10 highest)';
COMMENT ON COLUMN scrapifie.scrape_jobs.queue_name IS 'Queue the job waits in; NULL is the queue ''default''';
COMMENT ON COLUMN scrapifie.scrape_jobs.headers IS 'JSON object of request headers: {"Header-Name": "value"}';
COMMENT ON COLUMN scrapifie.scrape_jobs.options IS
'JSON object: {"render_js": bool, "wait_for": selector|null, "wait_time": ms, "timeout": ms, '
'"screenshot": bool, "pdf": bool, "extract": extraction rules|null}';
COMMENT ON COLUMN scrapifie.scrape_jobs.credit_breakdown IS
'JSON showing credit calculation: {"engine": n, "proxy": n, "screenshot": n, "pdf": n}';
COMMENT ON COLUMN scrapifie.scrape_jobs.error_details IS 'JSON object with the engine''s error context';
COMMENT ON COLUMN scrapifie.scrape_jobs.metadata IS 'Free-form JSON object of client data';

COMMENT ON TABLE scrapifie.job_results IS 'Scraping job results and captured content';
COMMENT ON COLUMN scrapifie.job_results.content_storage_type IS
'Where content is stored: inline (<1MB) or minio';
COMMENT ON COLUMN scrapifie.job_results.detection_score IS 'Bot detection score 0-1 (lower is better)';
COMMENT ON COLUMN scrapifie.job_results.headers IS 'JSON object of response headers: {"Header-Name": "value"}';
COMMENT ON COLUMN scrapifie.job_results.cookies IS
'JSON array of cookies: [{"name", "value", "domain", "path", "expires", "httpOnly", "secure"}]';
COMMENT ON COLUMN scrapifie.job_results.extracted_links IS 'JSON array of links: [{"href", "text"}]';
COMMENT ON COLUMN scrapifie.job_results.extracted_images IS 'JSON array of images: [{"src", "alt"}]';
COMMENT ON COLUMN scrapifie.job_results.extracted_data IS
'JSON object keyed by the extraction rules of options.extract';

COMMENT ON TABLE scrapifie.job_events IS
'Audit log of job lifecycle events (monthly partitions by created_at, ops engine)';
COMMENT ON COLUMN scrapifie.job_events.event_data IS
'JSON object with the event''s details, e.g. {"attempt": n, "queue": name} for job.started';

COMMENT ON TABLE scrapifie.webhooks IS 'Webhook endpoint configurations';
COMMENT ON COLUMN scrapifie.webhooks.events IS
'JSON array of event types delivered, e.g. ["job.completed", "job.failed"]';
COMMENT ON COLUMN scrapifie.webhooks.metadata IS 'Free-form JSON object of application data';

COMMENT ON TABLE scrapifie.subscriptions IS 'Customer subscription records';
COMMENT ON COLUMN scrapifie.subscriptions.metadata IS 'Free-form JSON object (Stripe metadata)';

COMMENT ON TABLE scrapifie.usage_records IS
'Aggregated usage metrics by time period (monthly partitions by period_start, ops engine)';
COMMENT ON COLUMN scrapifie.usage_records.granularity IS 'Time granularity: hourly, daily, monthly';

COMMENT ON TABLE scrapifie.invoice_number_counters IS
'Last invoice number handed out per month (YYYYMM, UTC), for generate_invoice_number()';

COMMENT ON TABLE scrapifie.invoices IS 'Customer invoices and billing records';
COMMENT ON COLUMN scrapifie.invoices.line_items IS
'JSON array: [{"description", "quantity", "unit_amount_cents", "amount_cents"}]';
COMMENT ON COLUMN scrapifie.invoices.billing_address IS
'JSON object: {"line1", "line2", "city", "state", "postal_code", "country"}';
COMMENT ON COLUMN scrapifie.invoices.metadata IS 'Free-form JSON object (Stripe metadata)';

COMMENT ON TABLE scrapifie.proxy_providers IS 'Proxy provider configurations';
COMMENT ON COLUMN scrapifie.proxy_providers.credentials IS
'Encrypted API credentials (JSON object, provider-specific); readable by the owner role only';
COMMENT ON COLUMN scrapifie.proxy_providers.countries IS 'JSON array of ISO 3166-1 alpha-2 country codes';
COMMENT ON COLUMN scrapifie.proxy_providers.metadata IS 'Free-form JSON object of provider data';

COMMENT ON TABLE scrapifie.fingerprints IS 'Browser fingerprint configurations for anti-detection';
COMMENT ON COLUMN scrapifie.fingerprints.fingerprint_data IS
'JSON object of the fingerprint''s browser properties, e.g. {"browser": "chrome", "version": 120}';
COMMENT ON COLUMN scrapifie.fingerprints.validation_errors IS 'JSON array of validation error strings';

COMMENT ON TABLE scrapifie.domain_intelligence IS 'Cached intelligence about target domains';
COMMENT ON COLUMN scrapifie.domain_intelligence.protection_level IS
'none, basic, medium, high, extreme (unknown until analysed)';

-- Functions: utility --------------------------------------------------------------------------

CREATE FUNCTION scrapifie.update_modified_column()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.update_modified_column() IS
'Trigger function: sets updated_at to now() on every update.';

CREATE FUNCTION scrapifie.generate_api_key_prefix()
RETURNS varchar(12)
LANGUAGE sql
VOLATILE
-- 8 hex digits of a v4 UUID: all random (pg_strong_random), no pgcrypto needed
RETURN 'sk_' || left(replace(gen_random_uuid()::text, '-', ''), 8);
COMMENT ON FUNCTION scrapifie.generate_api_key_prefix() IS
'A random visible key prefix sk_xxxxxxxx (default of api_keys.key_prefix).';

ALTER TABLE scrapifie.api_keys ALTER COLUMN key_prefix SET DEFAULT scrapifie.generate_api_key_prefix();

CREATE FUNCTION scrapifie.calculate_url_hash(url text)
RETURNS varchar(64)
LANGUAGE sql
IMMUTABLE
STRICT
RETURN encode(sha256(convert_to(url, 'UTF8')), 'hex');
COMMENT ON FUNCTION scrapifie.calculate_url_hash(text) IS
'SHA-256 of a URL (its UTF-8 bytes) as 64 lowercase hex digits.';

-- SECURITY DEFINER: the counter table is not the tenants'; scrapifie_app may take the
-- next number (the default of invoices.invoice_number) but never read or set counters.
CREATE FUNCTION scrapifie.generate_invoice_number()
RETURNS varchar(50)
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_month text := to_char(now() AT TIME ZONE 'UTC', 'YYYYMM');
    v_number integer;
BEGIN
    -- The counter row is locked until this transaction ends: concurrent invoices of one
    -- month queue here, and a rolled-back invoice gives its number back.
    INSERT INTO scrapifie.invoice_number_counters AS c (year_month, last_number)
    VALUES (v_month, 1)
    ON CONFLICT (year_month) DO UPDATE SET last_number = c.last_number + 1
    RETURNING c.last_number INTO v_number;
    RETURN 'INV-' || v_month || '-'
        || CASE WHEN v_number < 100000 THEN lpad(v_number::text, 5, '0') ELSE v_number::text END;
END
$fn$;
COMMENT ON FUNCTION scrapifie.generate_invoice_number() IS
'Next invoice number INV-YYYYMM-NNNNN of the current month (UTC): unique and gap-free per month '
'under concurrency (a per-month counter row updated in the caller''s transaction). '
'Default of invoices.invoice_number.';

ALTER TABLE scrapifie.invoices ALTER COLUMN invoice_number SET DEFAULT scrapifie.generate_invoice_number();

-- Functions: credits ---------------------------------------------------------------------------

CREATE FUNCTION scrapifie.check_organization_credits(org_id uuid, required_credits bigint)
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

CREATE FUNCTION scrapifie.deduct_credits(org_id uuid, amount bigint)
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

CREATE FUNCTION scrapifie.add_credits(org_id uuid, amount bigint)
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

CREATE FUNCTION scrapifie.calculate_job_credits(job scrapifie.scrape_jobs)
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

CREATE FUNCTION scrapifie.reset_monthly_credits()
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

-- Functions: statistics -------------------------------------------------------------------------

CREATE FUNCTION scrapifie.get_usage_summary(
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

CREATE FUNCTION scrapifie.get_queue_stats()
RETURNS TABLE (
    queue_name text,
    pending_count bigint,
    running_count bigint,
    avg_wait_time_ms numeric
)
LANGUAGE sql
STABLE
BEGIN ATOMIC
    SELECT
        coalesce(j.queue_name, 'default')::text AS queue_name,
        count(*) FILTER (WHERE j.status IN ('pending', 'queued'))::bigint AS pending_count,
        count(*) FILTER (WHERE j.status = 'running')::bigint AS running_count,
        avg(
            CASE WHEN j.status = 'running'
                    THEN extract(EPOCH FROM (j.started_at - coalesce(j.queued_at, j.created_at))) * 1000
            END
        )::numeric AS avg_wait_time_ms
    FROM scrapifie.scrape_jobs AS j
    WHERE j.status IN ('pending', 'queued', 'running')
    GROUP BY coalesce(j.queue_name, 'default')
    ORDER BY coalesce(j.queue_name, 'default');
END;
COMMENT ON FUNCTION scrapifie.get_queue_stats() IS
'Per queue: jobs waiting (pending or queued), jobs running, and the mean wait of running jobs '
'(queued, else created, to started; ms). Runs as the caller: an organization sees its own jobs.';

-- Functions: cleanup and partitions -------------------------------------------------------------

CREATE FUNCTION scrapifie.cleanup_expired_results()
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

CREATE FUNCTION scrapifie.cleanup_old_jobs(retention_days integer DEFAULT 90)
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

CREATE FUNCTION scrapifie.create_jobs_partition()
RETURNS void
LANGUAGE plpgsql
AS $fn$
BEGIN
    PERFORM ops.ensure_partitions('scrapifie.job_events'::regclass);
    PERFORM ops.ensure_partitions('scrapifie.usage_records'::regclass);
END
$fn$;
COMMENT ON FUNCTION scrapifie.create_jobs_partition() IS
'Seed entry point kept for cron: creates the missing monthly partitions (current month and the '
'registered premake ahead, so next month included) of job_events and usage_records through the '
'ops engine (rows of those months waiting in a DEFAULT partition move in; CALL ops.run_maintenance() '
'also drains older months). Idempotent. Maintenance (owner role).';

-- Functions: the job queue ------------------------------------------------------------------------

CREATE FUNCTION scrapifie.submit_scrape_job(
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

-- SECURITY DEFINER: workers claim across tenants, while scrapifie_app sees one organization
-- (RLS). The function exposes only the claim itself.
CREATE FUNCTION scrapifie.claim_scrape_jobs(worker_id text, queue text DEFAULT 'default', batch integer DEFAULT 1)
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

CREATE FUNCTION scrapifie.expire_timed_out_jobs()
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

-- Functions: API keys -------------------------------------------------------------------------------

CREATE FUNCTION scrapifie.create_api_key(
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
CREATE FUNCTION scrapifie.authenticate_api_key(raw_key text, client_ip inet DEFAULT NULL, user_agent text DEFAULT NULL)
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

-- Functions: system tables for the application ------------------------------------------------------

-- SECURITY DEFINER: scrapifie_app has no access to proxy_providers (credentials); this
-- exposes the routing facts of active providers, never credentials. (This and
-- get_fingerprint have string bodies: pg_dump would print their mixed ORDER BY
-- directions without ASC, which sqlfluff's AM03 refuses in sql/scrapifie.sql.)
CREATE FUNCTION scrapifie.get_proxy_providers()
RETURNS TABLE (
    id uuid,
    name varchar(100),
    display_name varchar(100),
    datacenter_endpoint text,
    residential_endpoint text,
    mobile_endpoint text,
    countries jsonb,
    supports_sessions boolean,
    supports_city_targeting boolean,
    supports_asn_targeting boolean,
    is_healthy boolean,
    priority integer
)
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    SELECT
        p.id,
        p.name,
        p.display_name,
        p.datacenter_endpoint,
        p.residential_endpoint,
        p.mobile_endpoint,
        p.countries,
        p.supports_sessions,
        p.supports_city_targeting,
        p.supports_asn_targeting,
        p.is_healthy,
        p.priority
    FROM scrapifie.proxy_providers AS p
    WHERE p.is_active = TRUE
    ORDER BY p.is_healthy DESC NULLS LAST, p.priority DESC NULLS LAST, p.name ASC;
$fn$;
COMMENT ON FUNCTION scrapifie.get_proxy_providers() IS
'Active proxy providers, healthy and high priority first, without credentials.';

-- SECURITY DEFINER: fingerprints are shared by all tenants and not readable by
-- scrapifie_app; this hands out one valid fingerprint and counts its use.
CREATE FUNCTION scrapifie.get_fingerprint(
    p_browser_type text DEFAULT NULL,
    p_os_type text DEFAULT NULL,
    p_locale text DEFAULT NULL
)
RETURNS TABLE (
    id uuid,
    fingerprint_data jsonb,
    browser_type varchar(50),
    browser_version varchar(20),
    os_type varchar(50),
    os_version varchar(20),
    device_type varchar(20),
    screen_width integer,
    screen_height integer,
    device_pixel_ratio numeric,
    locale varchar(10),
    timezone varchar(50),
    user_agent text,
    accept_language text
)
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
    WITH pick AS (
        SELECT f.id
        FROM scrapifie.fingerprints AS f
        WHERE f.is_valid = TRUE
            AND (f.expires_at IS NULL OR f.expires_at > now())
            AND (p_browser_type IS NULL OR f.browser_type = p_browser_type)
            AND (p_os_type IS NULL OR f.os_type = p_os_type)
            AND (p_locale IS NULL OR f.locale = p_locale)
        ORDER BY f.usage_count ASC NULLS FIRST, f.success_rate DESC NULLS LAST, f.id ASC
        LIMIT 1
    )

    -- not SKIP LOCKED: with few fingerprints, concurrent callers would get none; they
    -- queue briefly on the row instead, and each use is counted

    UPDATE scrapifie.fingerprints AS f
    SET
        usage_count = coalesce(f.usage_count, 0) + 1,
        last_used_at = now()
    FROM pick
    WHERE f.id = pick.id
    RETURNING
        f.id, f.fingerprint_data, f.browser_type, f.browser_version, f.os_type, f.os_version,
        f.device_type, f.screen_width, f.screen_height, f.device_pixel_ratio, f.locale, f.timezone,
        f.user_agent, f.accept_language;
$fn$;
COMMENT ON FUNCTION scrapifie.get_fingerprint(text, text, text) IS
'One valid, unexpired fingerprint matching the filters (NULL: any), least used first, its use '
'counted; no row when none matches.';

-- SECURITY DEFINER: domain intelligence is shared by all tenants and not readable by
-- scrapifie_app; this returns the recommendations for one domain.
CREATE FUNCTION scrapifie.get_domain_intelligence(p_domain text)
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

-- Functions: triggers ---------------------------------------------------------------------------------

CREATE FUNCTION scrapifie.set_url_hash()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    NEW.url_hash := scrapifie.calculate_url_hash(NEW.url);
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.set_url_hash() IS
'Trigger function: scrape_jobs.url_hash := SHA-256 of url, on insert and when url changes.';

CREATE FUNCTION scrapifie.set_result_expiry()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_days integer;
BEGIN
    SELECT o.data_retention_days INTO v_days
    FROM scrapifie.organizations AS o
    WHERE o.id = NEW.organization_id;
    NEW.expires_at := NEW.created_at + make_interval(days => coalesce(v_days, 7));
    RETURN NEW;
END
$fn$;
COMMENT ON FUNCTION scrapifie.set_result_expiry() IS
'Trigger function: job_results.expires_at := created_at + the organization''s data_retention_days '
'(7 when unknown).';

-- Triggers --------------------------------------------------------------------------------------------

CREATE TRIGGER update_organizations_timestamp
BEFORE UPDATE ON scrapifie.organizations
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER update_users_timestamp
BEFORE UPDATE ON scrapifie.users
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER update_api_keys_timestamp
BEFORE UPDATE ON scrapifie.api_keys
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER scrape_jobs_set_url_hash
BEFORE INSERT OR UPDATE OF url ON scrapifie.scrape_jobs
FOR EACH ROW EXECUTE FUNCTION scrapifie.set_url_hash();

CREATE TRIGGER job_results_set_expiry
BEFORE INSERT ON scrapifie.job_results
FOR EACH ROW EXECUTE FUNCTION scrapifie.set_result_expiry();

CREATE TRIGGER update_webhooks_timestamp
BEFORE UPDATE ON scrapifie.webhooks
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER update_subscriptions_timestamp
BEFORE UPDATE ON scrapifie.subscriptions
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER update_usage_records_timestamp
BEFORE UPDATE ON scrapifie.usage_records
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER update_invoices_timestamp
BEFORE UPDATE ON scrapifie.invoices
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER update_proxy_providers_timestamp
BEFORE UPDATE ON scrapifie.proxy_providers
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

CREATE TRIGGER update_domain_intelligence_timestamp
BEFORE UPDATE ON scrapifie.domain_intelligence
FOR EACH ROW EXECUTE FUNCTION scrapifie.update_modified_column();

-- RLS policies ------------------------------------------------------------------------------------------
-- Tenant tables: scrapifie_app sees and writes the rows of the organization named by
-- app.organization_id in this transaction; unset or empty: none. System tables and the
-- invoice counters have RLS and no policy: only the owner (and SECURITY DEFINER
-- functions) reach them.

ALTER TABLE scrapifie.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.scrape_jobs ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.job_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.job_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.subscriptions ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.usage_records ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.invoice_number_counters ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.invoices ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.proxy_providers ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.fingerprints ENABLE ROW LEVEL SECURITY;
ALTER TABLE scrapifie.domain_intelligence ENABLE ROW LEVEL SECURITY;

CREATE POLICY organizations_tenant_isolation ON scrapifie.organizations
FOR ALL TO scrapifie_app
USING (id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

CREATE POLICY users_tenant_isolation ON scrapifie.users
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

CREATE POLICY api_keys_tenant_isolation ON scrapifie.api_keys
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

CREATE POLICY scrape_jobs_tenant_isolation ON scrapifie.scrape_jobs
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

-- results and events also must belong to a job of the same organization (job_id alone
-- would let a tenant attach rows to another tenant's job)
CREATE POLICY job_results_tenant_isolation ON scrapifie.job_results
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (
    organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid)
    AND EXISTS (
        SELECT FROM scrapifie.scrape_jobs AS j
        WHERE j.id = job_results.job_id AND j.organization_id = job_results.organization_id
    )
);

CREATE POLICY job_events_tenant_isolation ON scrapifie.job_events
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (
    organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid)
    AND EXISTS (
        SELECT FROM scrapifie.scrape_jobs AS j
        WHERE j.id = job_events.job_id AND j.organization_id = job_events.organization_id
    )
);

CREATE POLICY webhooks_tenant_isolation ON scrapifie.webhooks
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

CREATE POLICY subscriptions_tenant_isolation ON scrapifie.subscriptions
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

CREATE POLICY usage_records_tenant_isolation ON scrapifie.usage_records
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

CREATE POLICY invoices_tenant_isolation ON scrapifie.invoices
FOR ALL TO scrapifie_app
USING (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid))
WITH CHECK (organization_id = (SELECT nullif(current_setting('app.organization_id', TRUE), '')::uuid));

-- Grants ------------------------------------------------------------------------------------------------

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
-- the audit log is append-only for the application
GRANT SELECT, INSERT ON scrapifie.job_events TO scrapifie_app;
GRANT USAGE ON SEQUENCE scrapifie.job_events_id_seq, scrapifie.usage_records_id_seq TO scrapifie_app;

GRANT EXECUTE ON FUNCTION
scrapifie.generate_api_key_prefix(),
scrapifie.calculate_url_hash(text),
scrapifie.generate_invoice_number(),
scrapifie.check_organization_credits(uuid, bigint),
scrapifie.deduct_credits(uuid, bigint),
scrapifie.add_credits(uuid, bigint),
scrapifie.calculate_job_credits(scrapifie.scrape_jobs),
scrapifie.get_usage_summary(uuid, timestamptz, timestamptz),
scrapifie.get_queue_stats(),
scrapifie.submit_scrape_job(uuid, text, text, jsonb, text, text, integer, text, uuid, text, text, text, uuid),
scrapifie.claim_scrape_jobs(text, text, integer),
scrapifie.create_api_key(uuid, text, jsonb, text, timestamptz, uuid),
scrapifie.authenticate_api_key(text, inet, text),
scrapifie.get_proxy_providers(),
scrapifie.get_fingerprint(text, text, text),
scrapifie.get_domain_intelligence(text)
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

-- Data: monthly partitions -------------------------------------------------------------------------------

SELECT ops.register_partitioned_table(
    'scrapifie.job_events'::regclass, 'created_at',
    p_premake => 3,
    p_start_months_back => 0,
    p_retention => NULL,
    p_retention_mode => 'drop'
);

SELECT ops.register_partitioned_table(
    'scrapifie.usage_records'::regclass, 'period_start',
    p_premake => 3,
    p_start_months_back => 1,
    p_retention => NULL,
    p_retention_mode => 'drop'
);
