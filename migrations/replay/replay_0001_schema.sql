-- replay 0001: the DOM Interaction Recording and Replay System's tables (seed
-- 000_27f13e92abca57a5): the 22 enum types, the 19 tables with their named CHECKs,
-- foreign keys and UNIQUEs, every index the seed names, and the comments on tables and
-- JSONB columns. recording_steps is hash-partitioned by recording_id into 4 partitions;
-- analytics_events and audit_logs are monthly range partitions kept by the ops engine
-- (registered at the end, once row level security is on, so their children inherit it).
-- depends: ops_0002_partition_engine
--
-- Later migrations add the functions, triggers and views (0002), tenant isolation with
-- row level security and the grants to replay_app (0003), and the default retention
-- policies (0004). docs/deviations.md (replay) lists every place this differs from the
-- seed, and why.

-- Roles (needs CREATEROLE; before SET LOCAL ROLE) ------------------------------------

SELECT ops.ensure_app_role('replay');

SET LOCAL ROLE schema_tool_owner;

-- Schema -------------------------------------------------------------------------------

CREATE SCHEMA replay;
COMMENT ON SCHEMA replay IS
'The DOM Interaction Recording and Replay System: users, organizations, recordings and their '
'steps, playback sessions and results, analytics, files, webhooks, audit and security events.';
GRANT USAGE ON SCHEMA replay TO replay_app;

-- Types (the seed creates each after the table using it; here they come first) ----------

CREATE TYPE replay.user_role AS ENUM ('admin', 'manager', 'member', 'viewer');
CREATE TYPE replay.organization_plan AS ENUM ('basic', 'pro', 'enterprise');
CREATE TYPE replay.subscription_status AS ENUM ('active', 'inactive', 'suspended', 'cancelled');
CREATE TYPE replay.organization_member_role AS ENUM ('owner', 'admin', 'manager', 'member', 'viewer');
CREATE TYPE replay.recording_status AS ENUM (
    'ready', 'recording', 'processing', 'completed', 'error', 'archived'
);
CREATE TYPE replay.recording_visibility AS ENUM ('private', 'team', 'organization', 'public');
CREATE TYPE replay.interaction_type AS ENUM (
    'page_load', 'navigation', 'click', 'double_click', 'right_click',
    'input', 'change', 'submit', 'focus', 'blur', 'hover',
    'scroll', 'resize', 'key_down', 'key_up', 'key_press',
    'mouse_move', 'mouse_enter', 'mouse_leave', 'drag', 'drop'
);
CREATE TYPE replay.playback_status AS ENUM (
    'created', 'preparing', 'running', 'paused', 'completed', 'failed', 'cancelled', 'timeout'
);
CREATE TYPE replay.step_execution_status AS ENUM (
    'pending', 'running', 'completed', 'failed', 'skipped', 'retrying', 'timeout'
);
CREATE TYPE replay.analytics_event_type AS ENUM (
    'recording_created', 'recording_started', 'recording_completed', 'recording_failed',
    'playback_started', 'playback_completed', 'playback_failed', 'playback_paused',
    'step_executed', 'step_failed', 'element_not_found',
    'user_login', 'user_logout', 'api_request',
    'error_occurred', 'performance_metric'
);
CREATE TYPE replay.analytics_summary_type AS ENUM (
    'recording_stats', 'playback_stats', 'user_activity', 'error_stats', 'performance_stats'
);
CREATE TYPE replay.analytics_time_period AS ENUM ('hourly', 'daily', 'weekly', 'monthly');
CREATE TYPE replay.file_type AS ENUM (
    'recording_data', 'dom_snapshot', 'screenshot', 'video', 'log', 'report', 'export'
);
CREATE TYPE replay.storage_provider AS ENUM ('aws_s3', 'gcs', 'azure_blob', 'local');
CREATE TYPE replay.webhook_delivery_status AS ENUM ('pending', 'delivered', 'failed', 'cancelled');
CREATE TYPE replay.audit_action AS ENUM (
    'create', 'read', 'update', 'delete', 'login', 'logout',
    'upload', 'download', 'share', 'execute', 'cancel'
);
CREATE TYPE replay.audit_status AS ENUM ('success', 'failure', 'partial');
CREATE TYPE replay.security_event_type AS ENUM (
    'failed_login', 'suspicious_activity', 'rate_limit_exceeded',
    'unauthorized_access', 'data_breach_attempt', 'malicious_request'
);
CREATE TYPE replay.security_severity AS ENUM ('low', 'medium', 'high', 'critical');
CREATE TYPE replay.security_status AS ENUM ('open', 'investigating', 'resolved', 'false_positive');
CREATE TYPE replay.backup_type AS ENUM ('full', 'incremental', 'transaction_log');
CREATE TYPE replay.backup_status AS ENUM ('running', 'completed', 'failed', 'cancelled');

-- Tables: users and authentication (3.1) --------------------------------------------------

CREATE TABLE replay.users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    email varchar(255) UNIQUE NOT NULL,
    password_hash varchar(255) NOT NULL,
    name varchar(100) NOT NULL,
    role replay.user_role NOT NULL DEFAULT 'member',
    avatar_url varchar(500),
    is_active boolean DEFAULT TRUE,
    is_verified boolean DEFAULT FALSE,
    last_login_at timestamptz,
    failed_login_attempts integer DEFAULT 0,
    locked_until timestamptz,
    settings jsonb DEFAULT '{}',
    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp,
    deleted_at timestamptz,
    CONSTRAINT chk_users_email_format CHECK (email ~* '^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$'),
    CONSTRAINT chk_users_name_length CHECK (char_length(name) >= 2),
    CONSTRAINT chk_users_failed_attempts CHECK (failed_login_attempts >= 0)
);

CREATE TABLE replay.user_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES replay.users (id) ON DELETE CASCADE,
    session_token varchar(255) UNIQUE NOT NULL,
    refresh_token varchar(255) UNIQUE,
    device_info jsonb,
    ip_address inet,
    user_agent text,
    is_active boolean DEFAULT TRUE,
    expires_at timestamptz NOT NULL,
    created_at timestamptz DEFAULT current_timestamp,
    last_activity_at timestamptz DEFAULT current_timestamp,
    CONSTRAINT chk_sessions_expires_future CHECK (expires_at > created_at)
);

CREATE TABLE replay.api_keys (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES replay.users (id) ON DELETE CASCADE,
    name varchar(100) NOT NULL,
    key_hash varchar(255) UNIQUE NOT NULL,
    key_prefix varchar(20) NOT NULL,
    scopes text[] DEFAULT ARRAY[]::text[],
    is_active boolean DEFAULT TRUE,
    last_used_at timestamptz,
    usage_count bigint DEFAULT 0,
    rate_limit_per_hour integer DEFAULT 1000,
    expires_at timestamptz,
    created_at timestamptz DEFAULT current_timestamp,
    CONSTRAINT chk_api_keys_name_length CHECK (char_length(name) >= 3),
    CONSTRAINT chk_api_keys_usage_count CHECK (usage_count >= 0)
);

-- Tables: teams and organizations (3.2) ------------------------------------------------------

CREATE TABLE replay.organizations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar(100) NOT NULL,
    slug varchar(50) UNIQUE NOT NULL,
    description text,
    logo_url varchar(500),
    settings jsonb DEFAULT '{}',
    subscription_plan replay.organization_plan DEFAULT 'basic',
    subscription_status replay.subscription_status DEFAULT 'active',
    subscription_expires_at timestamptz,
    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp,
    -- the seed matches case-insensitively (~*), which lets 'My-Org' through a lowercase pattern
    CONSTRAINT chk_organizations_slug_format CHECK (slug ~ '^[a-z0-9-]+$'),
    CONSTRAINT chk_organizations_name_length CHECK (char_length(name) >= 2)
);

CREATE TABLE replay.organization_members (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES replay.organizations (id) ON DELETE CASCADE,
    user_id uuid NOT NULL REFERENCES replay.users (id) ON DELETE CASCADE,
    role replay.organization_member_role NOT NULL DEFAULT 'member',
    permissions text[] DEFAULT ARRAY[]::text[],
    -- ON DELETE SET NULL (the seed has none): deleting a user must not fail because they invited someone
    invited_by uuid REFERENCES replay.users (id) ON DELETE SET NULL,
    invited_at timestamptz DEFAULT current_timestamp,
    joined_at timestamptz,
    is_active boolean DEFAULT TRUE,
    UNIQUE (organization_id, user_id)
);

-- Tables: recordings (3.3) -------------------------------------------------------------------

CREATE TABLE replay.recordings (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES replay.users (id) ON DELETE CASCADE,
    organization_id uuid REFERENCES replay.organizations (id) ON DELETE CASCADE,
    name varchar(255) NOT NULL,
    description text,
    url varchar(500) NOT NULL,
    status replay.recording_status DEFAULT 'ready',
    visibility replay.recording_visibility DEFAULT 'private',

    -- Metadata
    duration_ms integer,
    step_count integer,
    file_size_bytes bigint,
    compression_ratio decimal(5, 2),
    checksum varchar(64),

    -- Recording settings
    settings jsonb DEFAULT '{}',

    -- Browser and environment info
    environment_info jsonb,

    -- Tags and categorization
    tags text[] DEFAULT ARRAY[]::text[],
    category varchar(50),

    -- Timestamps
    recording_started_at timestamptz,
    recording_completed_at timestamptz,
    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp,
    last_accessed_at timestamptz,
    archived_at timestamptz,
    deleted_at timestamptz,

    CONSTRAINT chk_recordings_name_length CHECK (char_length(name) >= 3),
    CONSTRAINT chk_recordings_url_format CHECK (url ~* '^https?://'),
    CONSTRAINT chk_recordings_duration CHECK (duration_ms IS NULL OR duration_ms >= 0),
    CONSTRAINT chk_recordings_step_count CHECK (step_count IS NULL OR step_count >= 0),
    CONSTRAINT chk_recordings_file_size CHECK (file_size_bytes IS NULL OR file_size_bytes >= 0),
    CONSTRAINT chk_recordings_compression CHECK (
        compression_ratio IS NULL OR (compression_ratio >= 0 AND compression_ratio <= 1)
    )
);

-- Partitioned by hash of recording_id: a recording's steps live in one partition, and the
-- primary key includes the partition key (PostgreSQL requires it).
CREATE TABLE replay.recording_steps (
    id uuid DEFAULT gen_random_uuid(),
    recording_id uuid NOT NULL REFERENCES replay.recordings (id) ON DELETE CASCADE,
    step_number integer NOT NULL,
    timestamp_ms bigint NOT NULL,
    interaction_type replay.interaction_type NOT NULL,

    -- Element selection information
    element_selector jsonb NOT NULL,

    -- Interaction data
    interaction_data jsonb,

    -- DOM state
    dom_snapshot jsonb,
    dom_mutations jsonb,

    -- Performance metrics
    execution_time_ms integer,

    -- Error information
    error_info jsonb,

    -- Screenshots and artifacts
    screenshot_url varchar(500),
    artifacts jsonb,

    created_at timestamptz DEFAULT current_timestamp,

    CONSTRAINT chk_steps_step_number CHECK (step_number >= 1),
    CONSTRAINT chk_steps_timestamp CHECK (timestamp_ms >= 0),
    CONSTRAINT chk_steps_execution_time CHECK (execution_time_ms IS NULL OR execution_time_ms >= 0),
    PRIMARY KEY (recording_id, step_number, id)
) PARTITION BY HASH (recording_id);

CREATE TABLE replay.recording_steps_p0 PARTITION OF replay.recording_steps
FOR VALUES WITH (MODULUS 4, REMAINDER 0);
CREATE TABLE replay.recording_steps_p1 PARTITION OF replay.recording_steps
FOR VALUES WITH (MODULUS 4, REMAINDER 1);
CREATE TABLE replay.recording_steps_p2 PARTITION OF replay.recording_steps
FOR VALUES WITH (MODULUS 4, REMAINDER 2);
CREATE TABLE replay.recording_steps_p3 PARTITION OF replay.recording_steps
FOR VALUES WITH (MODULUS 4, REMAINDER 3);

-- Tables: playback (3.4) ---------------------------------------------------------------------

CREATE TABLE replay.playback_sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    recording_id uuid NOT NULL REFERENCES replay.recordings (id) ON DELETE CASCADE,
    user_id uuid REFERENCES replay.users (id) ON DELETE SET NULL,
    organization_id uuid REFERENCES replay.organizations (id) ON DELETE CASCADE,

    -- Session identification
    session_token varchar(255) UNIQUE,

    -- Status and progress
    status replay.playback_status DEFAULT 'created',
    current_step integer DEFAULT 0,
    total_steps integer NOT NULL,
    progress_percentage decimal(5, 2) DEFAULT 0,

    -- Configuration
    environment jsonb NOT NULL,
    options jsonb DEFAULT '{}',

    -- Results and metrics
    success_rate decimal(5, 2),
    error_count integer DEFAULT 0,
    retry_count integer DEFAULT 0,
    total_duration_ms integer,

    -- Execution details
    browser_session_id varchar(255),
    execution_log jsonb,

    -- Timestamps
    created_at timestamptz DEFAULT current_timestamp,
    started_at timestamptz,
    paused_at timestamptz,
    resumed_at timestamptz,
    completed_at timestamptz,
    cancelled_at timestamptz,
    last_activity_at timestamptz DEFAULT current_timestamp,
    -- (added) the seed puts its updated_at trigger on this table, which has no such column:
    -- every UPDATE would fail
    updated_at timestamptz DEFAULT current_timestamp,

    CONSTRAINT chk_playback_current_step CHECK (current_step >= 0),
    CONSTRAINT chk_playback_total_steps CHECK (total_steps > 0),
    CONSTRAINT chk_playback_progress CHECK (progress_percentage >= 0 AND progress_percentage <= 100),
    CONSTRAINT chk_playback_success_rate CHECK (
        success_rate IS NULL OR (success_rate >= 0 AND success_rate <= 100)
    ),
    CONSTRAINT chk_playback_error_count CHECK (error_count >= 0),
    CONSTRAINT chk_playback_retry_count CHECK (retry_count >= 0)
);

CREATE TABLE replay.playback_step_results (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    session_id uuid NOT NULL REFERENCES replay.playback_sessions (id) ON DELETE CASCADE,
    step_number integer NOT NULL,
    step_id uuid, -- recording_steps.id (no foreign key: its primary key is composite)

    -- Execution results
    status replay.step_execution_status NOT NULL,
    execution_time_ms integer,
    retry_count integer DEFAULT 0,

    -- Element location
    element_found boolean,
    element_selector_used varchar(500),
    element_location_time_ms integer,

    -- Error information
    error_type varchar(100),
    error_message text,
    error_details jsonb,

    -- Evidence
    screenshot_before_url varchar(500),
    screenshot_after_url varchar(500),
    screenshot_error_url varchar(500),

    -- Performance metrics
    dom_ready_time_ms integer,
    network_requests jsonb,
    console_logs jsonb,

    started_at timestamptz DEFAULT current_timestamp,
    completed_at timestamptz,

    CONSTRAINT chk_step_results_step_number CHECK (step_number >= 1),
    CONSTRAINT chk_step_results_execution_time CHECK (execution_time_ms IS NULL OR execution_time_ms >= 0),
    CONSTRAINT chk_step_results_retry_count CHECK (retry_count >= 0),
    UNIQUE (session_id, step_number)
);

-- Tables: analytics (3.5) --------------------------------------------------------------------

-- Monthly range partitions on created_at, kept by the ops engine (DEFAULT partition
-- included, so no insert waits for a partition). created_at must be finite: an infinite
-- timestamp is no event time, and the engine cannot give it a month.
CREATE TABLE replay.analytics_events (
    id uuid DEFAULT gen_random_uuid(),
    event_type replay.analytics_event_type NOT NULL,
    event_category varchar(50) NOT NULL,

    -- Context
    user_id uuid REFERENCES replay.users (id) ON DELETE SET NULL,
    organization_id uuid REFERENCES replay.organizations (id) ON DELETE SET NULL,
    recording_id uuid REFERENCES replay.recordings (id) ON DELETE CASCADE,
    session_id uuid REFERENCES replay.playback_sessions (id) ON DELETE CASCADE,

    -- Event data
    event_data jsonb DEFAULT '{}',
    properties jsonb DEFAULT '{}',

    -- Metrics
    numeric_value decimal(10, 4),
    string_value varchar(255),

    -- Context information
    ip_address inet,
    user_agent text,
    referer varchar(500),

    -- Timestamp (partitioning key)
    created_at timestamptz DEFAULT current_timestamp,

    CONSTRAINT chk_analytics_events_created_at_finite CHECK (isfinite(created_at)),
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);

CREATE TABLE replay.analytics_summaries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    summary_type replay.analytics_summary_type NOT NULL,
    time_period replay.analytics_time_period NOT NULL,
    period_start timestamptz NOT NULL,
    period_end timestamptz NOT NULL,

    -- Dimensions (NULL user_id: an organization-level summary; both NULL: global)
    user_id uuid REFERENCES replay.users (id) ON DELETE CASCADE,
    organization_id uuid REFERENCES replay.organizations (id) ON DELETE CASCADE,

    -- Metrics
    metrics jsonb NOT NULL,

    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp,

    -- NULLS NOT DISTINCT: a second organization-level or global summary of one period is a
    -- duplicate too (with plain UNIQUE, NULL dimensions never collide)
    UNIQUE NULLS NOT DISTINCT (summary_type, time_period, period_start, user_id, organization_id)
);

-- Tables: file storage (3.6) -----------------------------------------------------------------

CREATE TABLE replay.file_storage (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    recording_id uuid REFERENCES replay.recordings (id) ON DELETE CASCADE,
    session_id uuid REFERENCES replay.playback_sessions (id) ON DELETE CASCADE,

    -- File information
    file_type replay.file_type NOT NULL,
    file_name varchar(255) NOT NULL,
    file_path varchar(500) NOT NULL,
    file_size_bytes bigint NOT NULL,
    mime_type varchar(100),
    checksum varchar(64) NOT NULL,

    -- Storage information
    storage_provider replay.storage_provider NOT NULL,
    storage_bucket varchar(100),
    storage_key varchar(500) NOT NULL,
    storage_region varchar(50),

    -- Access information
    is_public boolean DEFAULT FALSE,
    public_url varchar(500),
    signed_url_expires_at timestamptz,

    -- Lifecycle
    compressed boolean DEFAULT FALSE,
    compression_ratio decimal(5, 2),
    archived boolean DEFAULT FALSE,
    archived_at timestamptz,

    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp,

    CONSTRAINT chk_file_storage_size CHECK (file_size_bytes > 0),
    CONSTRAINT chk_file_storage_compression CHECK (
        compression_ratio IS NULL OR (compression_ratio >= 0 AND compression_ratio <= 1)
    )
);

-- Tables: webhooks (3.7) ---------------------------------------------------------------------

CREATE TABLE replay.webhooks (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES replay.users (id) ON DELETE CASCADE,
    organization_id uuid REFERENCES replay.organizations (id) ON DELETE CASCADE,

    -- Webhook configuration
    name varchar(100) NOT NULL,
    url varchar(500) NOT NULL,
    secret_key varchar(255),

    -- Events to listen for
    events text[] NOT NULL,

    -- Status and health
    is_active boolean DEFAULT TRUE,
    last_triggered_at timestamptz,
    success_count bigint DEFAULT 0,
    failure_count bigint DEFAULT 0,

    -- Retry configuration
    retry_policy jsonb DEFAULT '{"maxRetries": 3, "retryDelay": 5000}',

    -- Custom headers
    headers jsonb DEFAULT '{}',

    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp,

    CONSTRAINT chk_webhooks_url_format CHECK (url ~* '^https?://'),
    CONSTRAINT chk_webhooks_name_length CHECK (char_length(name) >= 3),
    -- the seed's array_length(events, 1) > 0 is NULL (so passes) for an empty array
    CONSTRAINT chk_webhooks_events_not_empty CHECK (cardinality(events) > 0)
);

CREATE TABLE replay.webhook_deliveries (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    webhook_id uuid NOT NULL REFERENCES replay.webhooks (id) ON DELETE CASCADE,

    -- Delivery information
    event_type varchar(50) NOT NULL,
    payload jsonb NOT NULL,

    -- HTTP details
    http_method varchar(10) DEFAULT 'POST',
    headers jsonb,

    -- Response details
    status_code integer,
    response_body text,
    response_headers jsonb,

    -- Timing
    duration_ms integer,

    -- Status
    status replay.webhook_delivery_status NOT NULL DEFAULT 'pending',
    attempt_count integer DEFAULT 0,
    max_attempts integer DEFAULT 3,

    -- Error information
    error_message text,

    -- Timestamps
    scheduled_at timestamptz DEFAULT current_timestamp,
    delivered_at timestamptz,
    next_retry_at timestamptz,

    CONSTRAINT chk_webhook_deliveries_attempt_count CHECK (attempt_count >= 0),
    CONSTRAINT chk_webhook_deliveries_max_attempts CHECK (max_attempts > 0),
    CONSTRAINT chk_webhook_deliveries_status_code CHECK (
        status_code IS NULL OR (status_code >= 100 AND status_code <= 599)
    )
);

-- Tables: audit and security (3.8) -----------------------------------------------------------

-- Monthly range partitions on created_at, kept by the ops engine (see analytics_events).
CREATE TABLE replay.audit_logs (
    id uuid DEFAULT gen_random_uuid(),

    -- Actor information
    user_id uuid REFERENCES replay.users (id) ON DELETE SET NULL,
    api_key_id uuid REFERENCES replay.api_keys (id) ON DELETE SET NULL,
    session_id varchar(255),

    -- Action information
    action replay.audit_action NOT NULL,
    resource_type varchar(50) NOT NULL,
    resource_id uuid,

    -- Details
    details jsonb,
    old_values jsonb,
    new_values jsonb,

    -- Request context
    ip_address inet,
    user_agent text,
    request_id varchar(255),

    -- Result
    status replay.audit_status NOT NULL,
    error_message text,

    created_at timestamptz DEFAULT current_timestamp,

    CONSTRAINT chk_audit_logs_created_at_finite CHECK (isfinite(created_at)),
    PRIMARY KEY (created_at, id)
) PARTITION BY RANGE (created_at);

CREATE TABLE replay.security_events (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),

    -- Event information
    event_type replay.security_event_type NOT NULL,
    severity replay.security_severity NOT NULL,

    -- Actor information
    user_id uuid REFERENCES replay.users (id) ON DELETE SET NULL,
    ip_address inet,
    user_agent text,

    -- Details
    description text NOT NULL,
    details jsonb,

    -- Status
    status replay.security_status DEFAULT 'open',
    resolved_at timestamptz,
    resolved_by uuid REFERENCES replay.users (id) ON DELETE SET NULL,

    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp
);

-- Tables: retention (7.1), backup and recovery (9.1) ----------------------------------------

CREATE TABLE replay.retention_policies (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    table_name varchar(50) NOT NULL UNIQUE,
    retention_days integer NOT NULL,
    archive_before_delete boolean DEFAULT TRUE,
    is_active boolean DEFAULT TRUE,
    created_at timestamptz DEFAULT current_timestamp,
    updated_at timestamptz DEFAULT current_timestamp,
    CONSTRAINT chk_retention_days CHECK (retention_days > 0),
    -- the tables replay.archive_old_data() knows how to age (added: a row for any other
    -- table would be a policy nothing applies)
    CONSTRAINT chk_retention_policies_table_name CHECK (
        table_name IN (
            'audit_logs', 'analytics_events', 'webhook_deliveries', 'user_sessions', 'playback_step_results',
            'file_storage', 'recordings', 'playback_sessions'
        )
    )
);

CREATE TABLE replay.backup_metadata (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    backup_type replay.backup_type NOT NULL,
    backup_name varchar(100) NOT NULL,
    backup_path varchar(500) NOT NULL,
    backup_size_bytes bigint,
    compression_type varchar(20),
    start_time timestamptz NOT NULL,
    end_time timestamptz,
    status replay.backup_status DEFAULT 'running',
    error_message text,
    retention_until timestamptz,
    created_at timestamptz DEFAULT current_timestamp
);

CREATE TABLE replay.recovery_points (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name varchar(100) NOT NULL,
    description text,
    recovery_time timestamptz NOT NULL,
    lsn_position text, -- LSN (Log Sequence Number) for PostgreSQL
    backup_files jsonb, -- Array of backup files needed for recovery
    created_at timestamptz DEFAULT current_timestamp
);

-- Indexes ----------------------------------------------------------------------------------
-- The seed's names. Indexes it creates on single partitions (recording_steps_p0,
-- analytics_events_2024_01, audit_logs_2024_01) are declared once on the parent here, so
-- every partition, present and future, has them. Indexes marked "(added)" are not in the
-- seed: foreign key columns that would otherwise lead no index.

CREATE INDEX idx_users_email ON replay.users (email);
CREATE INDEX idx_users_role ON replay.users (role);
CREATE INDEX idx_users_active ON replay.users (is_active) WHERE is_active = TRUE;
CREATE INDEX idx_users_created_at ON replay.users (created_at);
CREATE INDEX idx_users_deleted_at ON replay.users (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX idx_users_active_email ON replay.users (email) WHERE is_active = TRUE AND deleted_at IS NULL;

CREATE INDEX idx_user_sessions_user_id ON replay.user_sessions (user_id);
CREATE INDEX idx_user_sessions_token ON replay.user_sessions (session_token);
CREATE INDEX idx_user_sessions_active ON replay.user_sessions (is_active) WHERE is_active = TRUE;
CREATE INDEX idx_user_sessions_expires_at ON replay.user_sessions (expires_at);

CREATE INDEX idx_api_keys_user_id ON replay.api_keys (user_id);
CREATE INDEX idx_api_keys_key_hash ON replay.api_keys (key_hash);
CREATE INDEX idx_api_keys_prefix ON replay.api_keys (key_prefix);
CREATE INDEX idx_api_keys_active ON replay.api_keys (is_active) WHERE is_active = TRUE;

CREATE INDEX idx_organizations_slug ON replay.organizations (slug);
CREATE UNIQUE INDEX idx_organizations_name_lower ON replay.organizations (lower(name));

CREATE INDEX idx_org_members_organization_id ON replay.organization_members (organization_id);
CREATE INDEX idx_org_members_user_id ON replay.organization_members (user_id);
CREATE INDEX idx_org_members_role ON replay.organization_members (role);
CREATE INDEX idx_org_members_invited_by ON replay.organization_members (invited_by); -- (added)

CREATE INDEX idx_recordings_user_id ON replay.recordings (user_id);
CREATE INDEX idx_recordings_organization_id ON replay.recordings (organization_id);
CREATE INDEX idx_recordings_status ON replay.recordings (status);
CREATE INDEX idx_recordings_visibility ON replay.recordings (visibility);
CREATE INDEX idx_recordings_tags ON replay.recordings USING gin (tags);
CREATE INDEX idx_recordings_category ON replay.recordings (category);
CREATE INDEX idx_recordings_url ON replay.recordings (url);
CREATE INDEX idx_recordings_created_at ON replay.recordings (created_at);
CREATE INDEX idx_recordings_last_accessed_at ON replay.recordings (last_accessed_at);
CREATE INDEX idx_recordings_deleted_at ON replay.recordings (deleted_at) WHERE deleted_at IS NOT NULL;
CREATE INDEX idx_recordings_user_status_created ON replay.recordings (user_id, status, created_at DESC)
WHERE deleted_at IS NULL;
CREATE INDEX idx_recordings_public ON replay.recordings (visibility, created_at DESC)
WHERE visibility = 'public' AND deleted_at IS NULL;
-- pg_trgm's operator class lives in the schema the extension was created in (public on
-- plain PostgreSQL, extensions on Supabase): read from the catalog, never assumed. Built
-- as the migrating role, which may use that schema (on Supabase schema_tool_owner may not);
-- an index belongs to its table's owner whoever builds it.
SET LOCAL ROLE NONE;

DO $trgm$
DECLARE
    v_opclass text := (
        SELECT pg_catalog.quote_ident(n.nspname) || '.gin_trgm_ops'
        FROM pg_catalog.pg_extension AS e
        INNER JOIN pg_catalog.pg_namespace AS n ON e.extnamespace = n.oid
        WHERE e.extname = 'pg_trgm'
    );
BEGIN
    IF v_opclass IS NULL THEN
        RAISE EXCEPTION 'replay needs the pg_trgm extension (ops_0001 creates it)'
        USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE pg_catalog.format(
        'CREATE INDEX idx_recordings_name_trgm ON replay.recordings USING gin (name %s)', v_opclass
    );
    EXECUTE pg_catalog.format(
        'CREATE INDEX idx_recordings_description_trgm ON replay.recordings USING gin (description %s)', v_opclass
    );
END
$trgm$;

SET LOCAL ROLE schema_tool_owner;
-- idx_recordings_search (full text) needs replay.recording_search_vector(): created with it in 0002.

CREATE INDEX idx_recording_steps_recording_id ON replay.recording_steps (recording_id);
CREATE INDEX idx_recording_steps_step_number ON replay.recording_steps (recording_id, step_number);
CREATE INDEX idx_recording_steps_timestamp ON replay.recording_steps (timestamp_ms);
CREATE INDEX idx_recording_steps_interaction_type ON replay.recording_steps (interaction_type);
CREATE INDEX idx_recording_steps_recording_timestamp ON replay.recording_steps (recording_id, timestamp_ms);

CREATE INDEX idx_playback_sessions_recording_id ON replay.playback_sessions (recording_id);
CREATE INDEX idx_playback_sessions_user_id ON replay.playback_sessions (user_id);
CREATE INDEX idx_playback_sessions_organization_id ON replay.playback_sessions (organization_id); -- (added)
CREATE INDEX idx_playback_sessions_status ON replay.playback_sessions (status);
CREATE INDEX idx_playback_sessions_created_at ON replay.playback_sessions (created_at);
CREATE INDEX idx_playback_sessions_completed_at ON replay.playback_sessions (completed_at);
CREATE INDEX idx_playback_sessions_token ON replay.playback_sessions (session_token);
CREATE INDEX idx_playback_sessions_recording_status ON replay.playback_sessions (
    recording_id, status, completed_at DESC
);

CREATE INDEX idx_step_results_session_id ON replay.playback_step_results (session_id);
CREATE INDEX idx_step_results_step_number ON replay.playback_step_results (session_id, step_number);
CREATE INDEX idx_step_results_status ON replay.playback_step_results (status);
CREATE INDEX idx_step_results_error_type ON replay.playback_step_results (error_type) WHERE error_type IS NOT NULL;
CREATE INDEX idx_step_results_completed_at ON replay.playback_step_results (completed_at);

CREATE INDEX idx_analytics_events_type ON replay.analytics_events (event_type);
CREATE INDEX idx_analytics_events_user_id ON replay.analytics_events (user_id);
CREATE INDEX idx_analytics_events_organization_id ON replay.analytics_events (organization_id); -- (added)
CREATE INDEX idx_analytics_events_recording_id ON replay.analytics_events (recording_id);
CREATE INDEX idx_analytics_events_session_id ON replay.analytics_events (session_id);

CREATE INDEX idx_analytics_summaries_type_period ON replay.analytics_summaries (summary_type, time_period);
CREATE INDEX idx_analytics_summaries_period_start ON replay.analytics_summaries (period_start);
CREATE INDEX idx_analytics_summaries_user_id ON replay.analytics_summaries (user_id);
CREATE INDEX idx_analytics_summaries_org_id ON replay.analytics_summaries (organization_id);

CREATE INDEX idx_file_storage_recording_id ON replay.file_storage (recording_id);
CREATE INDEX idx_file_storage_session_id ON replay.file_storage (session_id);
CREATE INDEX idx_file_storage_file_type ON replay.file_storage (file_type);
CREATE INDEX idx_file_storage_created_at ON replay.file_storage (created_at);
CREATE INDEX idx_file_storage_checksum ON replay.file_storage (checksum);
CREATE INDEX idx_file_storage_archived ON replay.file_storage (archived) WHERE archived = TRUE;

CREATE INDEX idx_webhooks_user_id ON replay.webhooks (user_id);
CREATE INDEX idx_webhooks_organization_id ON replay.webhooks (organization_id);
CREATE INDEX idx_webhooks_active ON replay.webhooks (is_active) WHERE is_active = TRUE;
CREATE INDEX idx_webhooks_events ON replay.webhooks USING gin (events);

CREATE INDEX idx_webhook_deliveries_webhook_id ON replay.webhook_deliveries (webhook_id);
CREATE INDEX idx_webhook_deliveries_status ON replay.webhook_deliveries (status);
CREATE INDEX idx_webhook_deliveries_scheduled_at ON replay.webhook_deliveries (scheduled_at);
CREATE INDEX idx_webhook_deliveries_event_type ON replay.webhook_deliveries (event_type);
CREATE INDEX idx_webhook_deliveries_retry ON replay.webhook_deliveries (next_retry_at)
WHERE status = 'pending' AND next_retry_at IS NOT NULL;

CREATE INDEX idx_audit_logs_user_id ON replay.audit_logs (user_id);
CREATE INDEX idx_audit_logs_api_key_id ON replay.audit_logs (api_key_id); -- (added)
CREATE INDEX idx_audit_logs_action ON replay.audit_logs (action);
CREATE INDEX idx_audit_logs_resource ON replay.audit_logs (resource_type, resource_id);
CREATE INDEX idx_audit_logs_ip_address ON replay.audit_logs (ip_address);

CREATE INDEX idx_security_events_type ON replay.security_events (event_type);
CREATE INDEX idx_security_events_severity ON replay.security_events (severity);
CREATE INDEX idx_security_events_status ON replay.security_events (status);
CREATE INDEX idx_security_events_user_id ON replay.security_events (user_id);
CREATE INDEX idx_security_events_resolved_by ON replay.security_events (resolved_by); -- (added)
CREATE INDEX idx_security_events_ip_address ON replay.security_events (ip_address);
CREATE INDEX idx_security_events_created_at ON replay.security_events (created_at);

-- Comments ---------------------------------------------------------------------------------

COMMENT ON TABLE replay.users IS
'Accounts. password_hash is a secret: replay_app may write it but never read it.';
COMMENT ON COLUMN replay.users.settings IS 'JSONB structure: {
  "theme": "light|dark",
  "notifications": {
    "email": boolean,
    "push": boolean,
    "slack": boolean
  },
  "defaultPlaybackSpeed": number,
  "autoSaveRecordings": boolean,
  "timezone": "string",
  "locale": "string"
}';

COMMENT ON TABLE replay.user_sessions IS
'User sessions for authentication tracking. session_token and refresh_token are secrets '
'(replay.authenticate_session() looks a token up without revealing it).';
COMMENT ON COLUMN replay.user_sessions.device_info IS 'JSONB structure: {
  "deviceType": "desktop|mobile|tablet",
  "os": "string",
  "browser": "string",
  "browserVersion": "string"
} (the seed does not document it; free-form device facts)';

COMMENT ON TABLE replay.api_keys IS
'API keys. Only a hash of the key is stored (key_hash, a secret) with a displayable prefix.';

COMMENT ON TABLE replay.organizations IS 'Organizations (teams): the unit recordings are shared in.';
COMMENT ON COLUMN replay.organizations.settings IS 'JSONB structure: free-form organization settings '
'(the seed does not document it), e.g. {"defaultVisibility": "private|team|organization|public"}';

COMMENT ON TABLE replay.organization_members IS
'Membership of users in organizations with their role. An active member (is_active) reads the '
'organization''s team/organization recordings; owner, admin and manager also write them.';

COMMENT ON TABLE replay.recordings IS
'Recorded browser sessions (the interaction scripts that playback replays).';
COMMENT ON COLUMN replay.recordings.settings IS 'JSONB structure: {
  "captureConsole": boolean,
  "captureNetwork": boolean,
  "maskSensitiveData": boolean,
  "maxDuration": number,
  "customSelectors": ["string"],
  "frameworkHints": ["string"],
  "quality": "high|medium|low"
}';
COMMENT ON COLUMN replay.recordings.environment_info IS 'JSONB structure: {
  "userAgent": "string",
  "platform": "string",
  "browserName": "string",
  "browserVersion": "string",
  "viewport": {"width": number, "height": number},
  "screenResolution": {"width": number, "height": number},
  "timezone": "string",
  "locale": "string"
}';

COMMENT ON TABLE replay.recording_steps IS
'The steps of a recording, hash-partitioned by recording_id into 4 partitions.';
COMMENT ON COLUMN replay.recording_steps.element_selector IS 'JSONB structure: {
  "primarySelector": "string",
  "fallbackSelectors": ["string"],
  "xpath": "string",
  "cssPath": "string",
  "attributes": {"key": "value"},
  "textContent": "string",
  "position": {"x": number, "y": number, "width": number, "height": number},
  "dataTestId": "string",
  "ariaLabel": "string"
}';
COMMENT ON COLUMN replay.recording_steps.interaction_data IS 'JSONB structure: {
  "value": "any",
  "oldValue": "any",
  "keyCode": number,
  "charCode": number,
  "key": "string",
  "shiftKey": boolean,
  "ctrlKey": boolean,
  "altKey": boolean,
  "metaKey": boolean,
  "button": number,
  "buttons": number,
  "coordinates": {"x": number, "y": number},
  "deltaX": number,
  "deltaY": number,
  "target": "string",
  "currentTarget": "string"
}';
COMMENT ON COLUMN replay.recording_steps.dom_snapshot IS
'JSONB structure: a serialized DOM snapshot taken at the step (the seed does not document it).';
COMMENT ON COLUMN replay.recording_steps.dom_mutations IS
'JSONB structure: array of DOM mutation records observed since the previous step '
'(the seed does not document it).';
COMMENT ON COLUMN replay.recording_steps.error_info IS
'JSONB structure: {"message": "string", "stack": "string", ...} when recording the step failed '
'(the seed does not document it).';
COMMENT ON COLUMN replay.recording_steps.artifacts IS
'JSONB structure: screenshots and other artifacts of the step, e.g. [{"type": "string", "url": "string"}] '
'(the seed does not document it).';

COMMENT ON TABLE replay.playback_sessions IS
'Replays of a recording: status, progress, configuration and results.';
COMMENT ON COLUMN replay.playback_sessions.environment IS 'JSONB structure: {
  "browser": "chrome|firefox|safari|edge",
  "browserVersion": "string",
  "platform": "windows|macos|linux",
  "viewport": {"width": number, "height": number},
  "userAgent": "string",
  "locale": "string",
  "timezone": "string",
  "headless": boolean
}';
COMMENT ON COLUMN replay.playback_sessions.options IS 'JSONB structure: {
  "speed": number,
  "skipInactivity": boolean,
  "maxInactivityTime": number,
  "autoWait": boolean,
  "debugMode": boolean,
  "strictMode": boolean,
  "stopOnError": boolean,
  "maxRetries": number,
  "retryDelay": number,
  "screenshotOnError": boolean,
  "videoRecording": boolean
}';
COMMENT ON COLUMN replay.playback_sessions.execution_log IS
'JSONB structure: array of log entries of the run, e.g. [{"at": "timestamp", "level": "string", '
'"message": "string"}] (the seed does not document it).';

COMMENT ON TABLE replay.playback_step_results IS 'The result of each step of a playback session.';
COMMENT ON COLUMN replay.playback_step_results.error_details IS 'JSONB structure: {
  "originalSelector": "string",
  "fallbacksAttempted": ["string"],
  "suggestedSelectors": ["string"],
  "pageUrl": "string",
  "elementVisible": boolean,
  "elementEnabled": boolean,
  "waitTime": number,
  "stackTrace": "string",
  "domSnapshot": "string"
}';
COMMENT ON COLUMN replay.playback_step_results.network_requests IS
'JSONB structure: array of requests made during the step, e.g. [{"url": "string", "method": "string", '
'"status": number, "durationMs": number}] (the seed does not document it).';
COMMENT ON COLUMN replay.playback_step_results.console_logs IS
'JSONB structure: array of console messages during the step, e.g. [{"level": "string", "message": "string"}] '
'(the seed does not document it).';

COMMENT ON TABLE replay.analytics_events IS
'Analytics events (time series): monthly range partitions on created_at kept by the ops engine, '
'with a DEFAULT partition; retention from replay.retention_policies.';
COMMENT ON COLUMN replay.analytics_events.event_data IS
'JSONB structure: event-specific data (the seed does not document it), e.g. {"stepNumber": number}';
COMMENT ON COLUMN replay.analytics_events.properties IS
'JSONB structure: free-form event properties {"key": "value"} (the seed does not document it).';

COMMENT ON TABLE replay.analytics_summaries IS
'Aggregated analytics per period: per user, per organization (user_id NULL) or global (both NULL).';
COMMENT ON COLUMN replay.analytics_summaries.metrics IS 'JSONB structure examples:
recording_stats: {
  "count": number,
  "totalDuration": number,
  "averageDuration": number,
  "totalSteps": number,
  "averageSteps": number,
  "successRate": number
}
playback_stats: {
  "sessionsCount": number,
  "successRate": number,
  "averageDuration": number,
  "errorRate": number,
  "retryRate": number
}';

COMMENT ON TABLE replay.file_storage IS
'Files of recordings and playback sessions (recording data, snapshots, screenshots, videos...) and '
'where they are stored.';

COMMENT ON TABLE replay.webhooks IS
'Webhooks of a user (or of an organization). secret_key is a secret: replay.webhook_signature() '
'signs with it without revealing it.';
COMMENT ON COLUMN replay.webhooks.retry_policy IS 'JSONB structure: {"maxRetries": number, "retryDelay": number}';
COMMENT ON COLUMN replay.webhooks.headers IS 'JSONB structure: custom HTTP headers {"Header-Name": "value"}';

COMMENT ON TABLE replay.webhook_deliveries IS 'Each delivery (attempt series) of an event to a webhook.';
COMMENT ON COLUMN replay.webhook_deliveries.payload IS 'JSONB structure: the event body sent to the webhook.';
COMMENT ON COLUMN replay.webhook_deliveries.headers IS
'JSONB structure: the HTTP request headers sent {"Header-Name": "value"}';
COMMENT ON COLUMN replay.webhook_deliveries.response_headers IS
'JSONB structure: the HTTP response headers received {"Header-Name": "value"}';

COMMENT ON TABLE replay.audit_logs IS
'Audit trail: monthly range partitions on created_at kept by the ops engine, with a DEFAULT '
'partition; retention from replay.retention_policies. Written by replay.audit_trigger_function() '
'with secrets redacted.';
COMMENT ON COLUMN replay.audit_logs.details IS
'JSONB structure: {"changedColumns": ["string"]} for updates written by the audit trigger; '
'free-form context otherwise.';
COMMENT ON COLUMN replay.audit_logs.old_values IS
'JSONB structure: the row before the change (to_jsonb), secret columns replaced by "[REDACTED]".';
COMMENT ON COLUMN replay.audit_logs.new_values IS
'JSONB structure: the row after the change (to_jsonb), secret columns replaced by "[REDACTED]".';

COMMENT ON TABLE replay.security_events IS 'Security events (failed logins, rate limits, ...) and their triage.';
COMMENT ON COLUMN replay.security_events.details IS
'JSONB structure: free-form event context {"key": "value"} (the seed does not document it).';

COMMENT ON TABLE replay.retention_policies IS
'How long each table keeps its data: the one source of truth. For the partitioned tables '
'(audit_logs, analytics_events) a trigger passes each change to the ops engine '
'(archive_before_delete: detach into replay_archive, else drop); replay.archive_old_data() '
'applies the others.';

COMMENT ON TABLE replay.backup_metadata IS 'Backups taken, with their location and status.';
COMMENT ON TABLE replay.recovery_points IS 'Point-in-time recovery information.';
COMMENT ON COLUMN replay.recovery_points.backup_files IS
'JSONB structure: array of backup files needed for recovery, e.g. ["string"]';

-- RLS: on for every table (policies in replay_0003); before the partitions are made, so
-- the engine gives the monthly children the parent's setting ------------------------------

ALTER TABLE replay.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.user_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.api_keys ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.organizations ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.organization_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.recordings ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.recording_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.recording_steps_p0 ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.recording_steps_p1 ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.recording_steps_p2 ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.recording_steps_p3 ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.playback_sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.playback_step_results ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.analytics_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.analytics_summaries ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.file_storage ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.webhooks ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.webhook_deliveries ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.audit_logs ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.security_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.retention_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.backup_metadata ENABLE ROW LEVEL SECURITY;
ALTER TABLE replay.recovery_points ENABLE ROW LEVEL SECURITY;

-- Grants: read-only role (the application role's grants come with the policies in 0003) ----

SELECT ops.grant_read_only('replay', ARRAY[
    'users.password_hash',
    'user_sessions.session_token',
    'user_sessions.refresh_token',
    'api_keys.key_hash',
    'webhooks.secret_key',
    'playback_sessions.session_token'
]);

-- Data: monthly partitions (the DEFAULT one, this month and 3 ahead). Retention is set by
-- the retention_policies rows of replay_0004, through the trigger of replay_0002. --------

SELECT ops.register_partitioned_table('replay.analytics_events'::regclass, 'created_at', p_premake => 3);
SELECT ops.register_partitioned_table('replay.audit_logs'::regclass, 'created_at', p_premake => 3);
