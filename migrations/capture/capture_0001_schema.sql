-- capture 0001: session replay with content-addressed web states (seed 002_ddadd1f211c3dd8e).
-- depends: ops_0003_roles
--
-- The seed is conceptual (no DDL): users, webstates (captured HTML, deduplicated by its
-- SHA-256), replays, events and monthly_reports, and the indexes it asks for. This is the
-- real schema: named constraints, the event type set, events range-partitioned by month
-- on their absolute timestamp (ops engine, 90-day retention), page HTML stored once per
-- distinct content, lz4-compressed, its hash computed by the database (a generated
-- column: no row can hold a hash that does not match its content).
--
-- Tenants: capture_app acts for one user per transaction (SET LOCAL app.user_id =
-- '<uuid>'); unset or empty means nobody. A user sees and writes only their own row,
-- replays and events. Webstates are shared content: readable through one's own events,
-- written only by record_event()/record_events(), which take the HTML itself (never a
-- hash), so nobody can reference or probe content they do not have. Maintenance
-- (prune_webstates, generate_monthly_report) belongs to the owner role.
-- docs/deviations.md (capture) lists every choice the seed leaves open; docs/security.md
-- (capture) who may call what.

-- Roles (needs CREATEROLE; before SET LOCAL ROLE) ------------------------------------

SELECT ops.ensure_app_role('capture');

SET LOCAL ROLE schema_tool_owner;

-- Schema -------------------------------------------------------------------------------

CREATE SCHEMA capture;
COMMENT ON SCHEMA capture IS
'Session replay: users, their recorded replays and events, the captured page states (webstates, '
'stored once per distinct HTML) and monthly usage reports.';
GRANT USAGE ON SCHEMA capture TO capture_app;

-- Types ----------------------------------------------------------------------------------

CREATE TYPE capture.event_type AS ENUM (
    'page_load', 'navigation', 'click', 'keypress', 'input', 'scroll',
    'mouse_move', 'dom_mutation', 'viewport_resize', 'focus', 'blur', 'custom'
);
COMMENT ON TYPE capture.event_type IS
'What a recorded event is; domain of events.event_type. Includes the seed''s five examples (click, '
'keypress, scroll, dom_mutation, viewport_resize). New types: ALTER TYPE ... ADD VALUE in a migration.';

-- Functions the tables use (a default, a generated column, a CHECK): before the tables --

CREATE FUNCTION capture.current_user_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
RETURN nullif(current_setting('app.user_id', TRUE), '')::uuid;
COMMENT ON FUNCTION capture.current_user_id() IS
'The acting user of this transaction (SET LOCAL app.user_id = ''<uuid>''); NULL when unset or empty.';

-- convert_to() is only STABLE because encoding conversions are catalog objects; from the
-- database encoding to UTF8 the bytes of a given text never change, so this is IMMUTABLE.
CREATE FUNCTION capture.webstate_hash(p_html text)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
RETURN encode(sha256(convert_to(p_html, 'UTF8')), 'hex');
COMMENT ON FUNCTION capture.webstate_hash(text) IS
'Lowercase hex SHA-256 of the UTF-8 bytes of an HTML text: the content address of a webstate.';

CREATE FUNCTION capture.event_data_is_valid(p_event_type capture.event_type, p_event_data jsonb)
RETURNS boolean
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN coalesce(
    jsonb_typeof(p_event_data) = 'object'
    AND CASE
        WHEN p_event_type IN ('page_load', 'navigation')
            THEN jsonb_typeof(p_event_data -> 'url') = 'string'
        WHEN p_event_type IN ('click', 'scroll', 'mouse_move')
            THEN jsonb_typeof(p_event_data -> 'x') = 'number' AND jsonb_typeof(p_event_data -> 'y') = 'number'
        WHEN p_event_type = 'keypress'
            THEN jsonb_typeof(p_event_data -> 'key') = 'string'
        WHEN p_event_type IN ('input', 'focus', 'blur')
            THEN jsonb_typeof(p_event_data -> 'selector') = 'string'
        WHEN p_event_type = 'viewport_resize'
            THEN p_event_data @@ '$.width.type() == "number" && $.width > 0 && $.height.type() == "number" && $.height > 0'
        WHEN p_event_type = 'custom'
            THEN jsonb_typeof(p_event_data -> 'name') = 'string'
        ELSE TRUE
    END,
    FALSE
);
COMMENT ON FUNCTION capture.event_data_is_valid(capture.event_type, jsonb) IS
'True when event_data is a JSON object with the keys its event type requires (see the comment on '
'events.event_data); behind chk_events_event_data_shape.';

-- Tables ---------------------------------------------------------------------------------

CREATE TABLE capture.users (
    user_id uuid NOT NULL DEFAULT gen_random_uuid(),
    email text NOT NULL,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    github_id bigint,
    CONSTRAINT users_pkey PRIMARY KEY (user_id),
    CONSTRAINT users_github_id_key UNIQUE (github_id),
    CONSTRAINT chk_users_email_format CHECK (
        char_length(email) <= 254 AND email ~ '^[^[:space:]@]+@[^[:space:]@]+\.[^[:space:]@]+$'
    ),
    CONSTRAINT chk_users_name_not_blank CHECK (char_length(name) <= 200 AND btrim(name) <> ''),
    CONSTRAINT chk_users_github_id_positive CHECK (github_id > 0)
);

CREATE TABLE capture.webstates (
    html_hash text GENERATED ALWAYS AS (capture.webstate_hash(html_content)) STORED NOT NULL,
    html_content text NOT NULL,
    captured_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT webstates_pkey PRIMARY KEY (html_hash),
    CONSTRAINT chk_webstates_html_content_size CHECK (octet_length(html_content) BETWEEN 1 AND 33554432)
);
-- lz4 (PostgreSQL 14+): writes HTML about 3-4x faster than the default pglz, reads it at
-- least as fast, for about 25% more bytes (bench/bench_capture.py). A separate statement: sqlfluff
-- cannot parse the column option; on an empty table it is the same.
ALTER TABLE capture.webstates ALTER COLUMN html_content SET COMPRESSION lz4;

CREATE TABLE capture.replays (
    replay_id uuid NOT NULL DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL DEFAULT capture.current_user_id(),
    start_time timestamptz NOT NULL DEFAULT now(),
    end_time timestamptz,
    initial_url text NOT NULL,
    CONSTRAINT replays_pkey PRIMARY KEY (replay_id),
    CONSTRAINT replays_user_id_fkey FOREIGN KEY (user_id) REFERENCES capture.users (user_id) ON DELETE CASCADE,
    CONSTRAINT chk_replays_end_after_start CHECK (end_time >= start_time),
    CONSTRAINT chk_replays_initial_url_format CHECK (
        char_length(initial_url) <= 8192 AND initial_url ~* '^https?://[^[:space:]/?#]+([/?#][^[:space:]]*)?$'
    )
);

CREATE TABLE capture.events (
    event_id bigint GENERATED ALWAYS AS IDENTITY,
    replay_id uuid NOT NULL,
    timestamp timestamptz NOT NULL,
    event_type capture.event_type NOT NULL,
    event_data jsonb NOT NULL DEFAULT '{}',
    webstate_hash text,
    CONSTRAINT events_pkey PRIMARY KEY (event_id, timestamp),
    CONSTRAINT events_replay_id_fkey FOREIGN KEY (replay_id)
    REFERENCES capture.replays (replay_id) ON DELETE CASCADE,
    CONSTRAINT events_webstate_hash_fkey FOREIGN KEY (webstate_hash) REFERENCES capture.webstates (html_hash),
    CONSTRAINT chk_events_timestamp_range CHECK (
        timestamp >= '2000-01-01 00:00:00+00' AND timestamp < '2100-01-01 00:00:00+00'
    ),
    CONSTRAINT chk_events_event_data_shape CHECK (capture.event_data_is_valid(event_type, event_data))
) PARTITION BY RANGE (timestamp);

CREATE TABLE capture.monthly_reports (
    report_id bigint GENERATED ALWAYS AS IDENTITY,
    report_month_start date NOT NULL,
    new_users_count bigint NOT NULL,
    total_users_end bigint NOT NULL,
    new_replays_count bigint NOT NULL,
    total_replays_end bigint NOT NULL,
    generated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT monthly_reports_pkey PRIMARY KEY (report_id),
    CONSTRAINT monthly_reports_report_month_start_key UNIQUE (report_month_start),
    CONSTRAINT chk_monthly_reports_month_start CHECK (
        extract(DAY FROM report_month_start) = 1
        AND report_month_start >= '2000-01-01' AND report_month_start < '2100-01-01'
    ),
    CONSTRAINT chk_monthly_reports_counts CHECK (
        new_users_count BETWEEN 0 AND total_users_end AND new_replays_count BETWEEN 0 AND total_replays_end
    )
);

-- Indexes --------------------------------------------------------------------------------
-- The seed's strategy: users.email unique (case-insensitively here), replays.start_time,
-- events (replay_id, timestamp), monthly_reports.report_month_start (its UNIQUE), and an
-- index leading every foreign key (replays.user_id, events.replay_id, events.webstate_hash).

CREATE UNIQUE INDEX idx_users_email ON capture.users (lower(email));
CREATE INDEX idx_users_created_at ON capture.users (created_at);
CREATE INDEX idx_replays_user_id_start_time ON capture.replays (user_id, start_time DESC);
CREATE INDEX idx_replays_start_time ON capture.replays (start_time);
CREATE INDEX idx_events_replay_id_timestamp ON capture.events (replay_id, timestamp);
CREATE INDEX idx_events_webstate_hash ON capture.events (webstate_hash) WHERE webstate_hash IS NOT NULL;

-- Comments -------------------------------------------------------------------------------

COMMENT ON TABLE capture.users IS
'Registered users (the tenants). Created by capture.register_user(); a user sees and edits only '
'their own row.';
COMMENT ON COLUMN capture.users.user_id IS 'Assigned by the database (random UUID); the value of app.user_id.';
COMMENT ON COLUMN capture.users.email IS
'Login address, unique case-insensitively (idx_users_email on lower(email)); never readable by '
'schema_tool_readonly.';
COMMENT ON COLUMN capture.users.github_id IS
'GitHub account id of the auth provider, verified by the backend at registration; unique; never '
'readable by schema_tool_readonly.';
COMMENT ON COLUMN capture.users.created_at IS 'When the user registered (database time).';

COMMENT ON TABLE capture.webstates IS
'Captured page states (DOM snapshots), stored once per distinct HTML and shared by every event that '
'shows it. Written only by record_event()/record_events()/store_webstate(); removed by '
'prune_webstates() once no event references them.';
COMMENT ON COLUMN capture.webstates.html_hash IS
'Lowercase hex SHA-256 of html_content (UTF-8), computed by the database (generated column): it '
'cannot disagree with the content.';
COMMENT ON COLUMN capture.webstates.html_content IS
'Full HTML source of the page state, lz4-compressed (TOAST). Never readable by schema_tool_readonly.';
COMMENT ON COLUMN capture.webstates.captured_at IS
'First time this content was stored; a later sighting never moves it. Not readable by capture_app '
'(it would tell a tenant when another tenant first captured the same page).';

COMMENT ON TABLE capture.replays IS
'One recording session of a user. Ended once with capture.end_replay(); events are recorded only '
'while it is open.';
COMMENT ON COLUMN capture.replays.user_id IS 'Owner; defaults to the acting user (app.user_id).';
COMMENT ON COLUMN capture.replays.start_time IS 'When the recording started (database time, on insert).';
COMMENT ON COLUMN capture.replays.end_time IS
'When the recording ended (set once by end_replay()); NULL while ongoing or if abruptly terminated.';
COMMENT ON COLUMN capture.replays.initial_url IS 'The http(s) URL where the recording began.';

COMMENT ON TABLE capture.events IS
'Events recorded during a replay, range-partitioned by month on timestamp (ops engine; DEFAULT '
'partition; dropped by partition after 90 days). Written by capture.record_event()/record_events(). '
'Fetch one replay in order: WHERE replay_id = $1 [AND timestamp >= $2 AND timestamp < $3] '
'ORDER BY timestamp (idx_events_replay_id_timestamp, partitions pruned by the time range).';
COMMENT ON COLUMN capture.events.event_id IS 'Assigned by the database (identity); unique with timestamp.';
COMMENT ON COLUMN capture.events.timestamp IS
'Absolute time of the event (the browser''s clock, as an instant); record functions accept it from '
'one day before the replay started to one day ahead of the server''s clock.';
COMMENT ON COLUMN capture.events.event_data IS
'JSON object; keys by event_type (required ones checked by chk_events_event_data_shape, others free): '
'page_load {"url": text, "title"?: text}; navigation {"url": text, "from"?: text}; '
'click {"x": number, "y": number, "selector"?: text, "button"?: number}; '
'keypress {"key": text, "code"?: text, "selector"?: text, "modifiers"?: [text]}; '
'input {"selector": text, "value"?: text, "masked"?: bool}; '
'scroll {"x": number, "y": number, "selector"?: text}; mouse_move {"x": number, "y": number}; '
'dom_mutation {"adds"?: [{"parent": text, "html": text}], "removes"?: [text], '
'"attributes"?: [{"selector": text, "name": text, "value": text|null}], '
'"texts"?: [{"selector": text, "value": text}]}; '
'viewport_resize {"width": number > 0, "height": number > 0}; focus and blur {"selector": text}; '
'custom {"name": text, ...}. Never readable by schema_tool_readonly (typed keys and form values).';
COMMENT ON COLUMN capture.events.webstate_hash IS
'The page state shown at this event (webstates.html_hash), or NULL. Set only from the HTML itself '
'by the record functions.';

COMMENT ON TABLE capture.monthly_reports IS
'One row per UTC month of user and replay counts, computed from the data by '
'capture.generate_monthly_report() (maintenance); regenerating a month updates its row.';
COMMENT ON COLUMN capture.monthly_reports.report_month_start IS 'First day of the UTC month reported.';
COMMENT ON COLUMN capture.monthly_reports.new_users_count IS 'Users created during the month.';
COMMENT ON COLUMN capture.monthly_reports.total_users_end IS 'Users created before the month''s end (existing now).';
COMMENT ON COLUMN capture.monthly_reports.new_replays_count IS 'Replays started during the month.';
COMMENT ON COLUMN capture.monthly_reports.total_replays_end IS
'Replays started before the month''s end (existing now).';

-- Functions: the acting user ------------------------------------------------------------

CREATE FUNCTION capture.require_user_id()
RETURNS uuid
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_user uuid := capture.current_user_id();
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'no acting user: SET LOCAL app.user_id first' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN v_user;
END
$fn$;
COMMENT ON FUNCTION capture.require_user_id() IS
'The acting user (app.user_id), or insufficient_privilege (42501) when none is set.';

-- Runs as the caller (invoked by the SECURITY DEFINER functions below).
CREATE FUNCTION capture.lock_open_replay(p_replay_id uuid)
RETURNS capture.replays
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_user uuid := capture.require_user_id();
    v_replay capture.replays;
BEGIN
    IF p_replay_id IS NULL THEN
        RAISE EXCEPTION 'replay_id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- FOR SHARE: end_replay() (an UPDATE) waits for events being recorded, and a replay
    -- ended meanwhile is seen ended here
    SELECT r.* INTO v_replay
    FROM capture.replays AS r
    WHERE r.replay_id = p_replay_id AND r.user_id = v_user
    FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'replay % not found', p_replay_id USING ERRCODE = 'no_data_found';
    END IF;
    IF v_replay.end_time IS NOT NULL THEN
        RAISE EXCEPTION 'replay % has ended', p_replay_id USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN v_replay;
END
$fn$;
COMMENT ON FUNCTION capture.lock_open_replay(uuid) IS
'The acting user''s open replay, share-locked until commit: 22004 NULL id, 42501 no acting user, '
'P0002 unknown or another user''s, 55000 already ended.';

-- Functions: users ------------------------------------------------------------------------

-- SECURITY DEFINER: registration happens before the user exists, so no row level security
-- policy could admit the insert; capture_app has no INSERT on users.
CREATE FUNCTION capture.register_user(p_email text, p_name text, p_github_id bigint DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_user uuid;
BEGIN
    IF p_email IS NULL OR p_name IS NULL THEN
        RAISE EXCEPTION 'email and name are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    INSERT INTO capture.users (email, name, github_id)
    VALUES (p_email, p_name, p_github_id)
    RETURNING user_id INTO v_user;
    RETURN v_user;
END
$fn$;
COMMENT ON FUNCTION capture.register_user(text, text, bigint) IS
'Creates a user and returns the user_id the database assigned. A taken email (any case) or '
'github_id: unique_violation; a malformed one: check_violation.';

-- SECURITY DEFINER: sign-in happens before app.user_id is set, and users' policies show a
-- session only its own row.
CREATE FUNCTION capture.find_user_id(p_email text DEFAULT NULL, p_github_id bigint DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_user uuid;
BEGIN
    IF p_email IS NULL AND p_github_id IS NULL THEN
        RAISE EXCEPTION 'give an email or a github_id' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_email IS NOT NULL AND p_github_id IS NOT NULL THEN
        RAISE EXCEPTION 'give an email or a github_id, not both' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_email IS NOT NULL THEN
        SELECT u.user_id INTO v_user FROM capture.users AS u WHERE lower(u.email) = lower(p_email);
    ELSE
        SELECT u.user_id INTO v_user FROM capture.users AS u WHERE u.github_id = p_github_id;
    END IF;
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'no such user' USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v_user;
END
$fn$;
COMMENT ON FUNCTION capture.find_user_id(text, bigint) IS
'Sign-in lookup for the backend: the user_id of an email (any case) or of a github_id; no_data_found '
'when there is none.';

-- Functions: webstates ----------------------------------------------------------------------

-- Locking protocol against prune_webstates() (store_webstate and ensure_webstates): on
-- return, every webstate returned was either inserted by this transaction or is held FOR
-- KEY SHARE by it (the lock a foreign key check takes; writers never block each other),
-- so it cannot be deleted before this transaction's events referencing it commit.
-- prune_webstates() locks its candidates FOR UPDATE SKIP LOCKED, so it never waits for a
-- writer; a writer that meets a row being pruned waits, finds it gone and inserts it
-- again. Both run as the caller (the owner, or the SECURITY DEFINER record functions).

CREATE FUNCTION capture.store_webstate(p_html text)
RETURNS text
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_hash text;
    v_attempt integer := 0;
BEGIN
    IF p_html IS NULL THEN
        RAISE EXCEPTION 'html is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_hash := capture.webstate_hash(p_html);
    LOOP
        PERFORM FROM capture.webstates AS w WHERE w.html_hash = v_hash FOR KEY SHARE;
        EXIT WHEN FOUND;
        INSERT INTO capture.webstates (html_content) VALUES (p_html) ON CONFLICT (html_hash) DO NOTHING;
        EXIT WHEN FOUND;
        -- inserted meanwhile by another transaction (now committed): lock it, next round
        v_attempt := v_attempt + 1;
        IF v_attempt > 10 THEN
            RAISE EXCEPTION 'webstate kept disappearing while being recorded; retry the transaction'
            USING ERRCODE = 'serialization_failure';
        END IF;
    END LOOP;
    RETURN v_hash;
END
$fn$;
COMMENT ON FUNCTION capture.store_webstate(text) IS
'Stores a page state once and returns its hash; storing the same HTML again (or from many '
'connections at once) returns the same hash and keeps the first captured_at. The page is safe from '
'prune_webstates() until this transaction ends. Owner only: applications record pages with their '
'events (record_event).';

-- New pages are inserted in hash order, so two writers inserting the same new pages in
-- different orders cannot deadlock each other.
CREATE FUNCTION capture.ensure_webstates(p_pages text[])
RETURNS text[]
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_hashes text [];
    v_missing text [];
    v_found text [];
    v_attempt integer := 0;
BEGIN
    IF p_pages IS NULL THEN
        RAISE EXCEPTION 'pages is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_hashes := ARRAY(
        SELECT capture.webstate_hash(p.html) FROM unnest(p_pages) WITH ORDINALITY AS p (html, ord) ORDER BY p.ord
    );
    v_missing := ARRAY(SELECT DISTINCT h.hash FROM unnest(v_hashes) AS h (hash) WHERE h.hash IS NOT NULL);
    WHILE cardinality(v_missing) > 0 LOOP
        v_attempt := v_attempt + 1;
        IF v_attempt > 10 THEN
            RAISE EXCEPTION 'webstates kept disappearing while being recorded; retry the transaction'
            USING ERRCODE = 'serialization_failure';
        END IF;
        -- the pages that exist: lock them against prune_webstates()
        v_found := ARRAY(
            SELECT w.html_hash FROM capture.webstates AS w
            WHERE w.html_hash = any(v_missing)
            ORDER BY w.html_hash
            FOR KEY SHARE
        );
        IF cardinality(v_found) > 0 THEN
            v_missing := ARRAY(SELECT unnest(v_missing) EXCEPT SELECT unnest(v_found));
            EXIT WHEN cardinality(v_missing) = 0;
        END IF;
        -- the others: insert them (a concurrent writer may insert some first: next round)
        WITH inserted AS (
            INSERT INTO capture.webstates AS w (html_content)
            SELECT DISTINCT ON (p.hash) p.html
            FROM unnest(p_pages, v_hashes) AS p (html, hash)
            WHERE p.hash = any(v_missing)
            ORDER BY p.hash
            ON CONFLICT (html_hash) DO NOTHING
            RETURNING w.html_hash
        )

        SELECT coalesce(array_agg(i.html_hash), '{}') INTO v_found FROM inserted AS i;
        v_missing := ARRAY(SELECT unnest(v_missing) EXCEPT SELECT unnest(v_found));
    END LOOP;
    RETURN v_hashes;
END
$fn$;
COMMENT ON FUNCTION capture.ensure_webstates(text[]) IS
'store_webstate for many pages: stores each distinct page once (existing ones are reused, never '
'rewritten) and returns their hashes in input order (NULL for a NULL page), each safe from '
'prune_webstates() until this transaction ends.';

-- Functions: recording ------------------------------------------------------------------------

CREATE FUNCTION capture.json_timestamp(p_value jsonb)
RETURNS timestamptz
LANGUAGE sql
STABLE
PARALLEL SAFE
RETURN CASE jsonb_typeof(p_value)
    WHEN 'number' THEN to_timestamp((p_value::numeric / 1000)::double precision)
    WHEN 'string' THEN
        CASE
            WHEN (p_value #>> '{}') ~ '([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)$' THEN (p_value #>> '{}')::timestamptz
        END
END;
COMMENT ON FUNCTION capture.json_timestamp(jsonb) IS
'An event time from JSON: a number of milliseconds since the Unix epoch, or an ISO 8601 string with '
'an explicit offset (Z or +hh:mm). NULL for anything else (a time without a zone would depend on the '
'session''s TimeZone).';

-- SECURITY DEFINER: capture_app may not write events or webstates directly (a hash it could
-- name would let it probe for, and read, other tenants' pages); this checks that the replay
-- is the acting user's and open, and takes the page as HTML.
CREATE FUNCTION capture.record_event(
    p_replay_id uuid,
    p_timestamp timestamptz,
    p_event_type text,
    p_event_data jsonb DEFAULT '{}',
    p_html text DEFAULT NULL
)
RETURNS bigint
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_replay capture.replays := capture.lock_open_replay(p_replay_id);
    v_hash text;
    v_event_id bigint;
BEGIN
    IF p_timestamp IS NULL OR p_event_type IS NULL OR p_event_data IS NULL THEN
        RAISE EXCEPTION 'timestamp, event_type and event_data are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF NOT p_event_type = any(enum_range(NULL::capture.event_type)::text []) THEN
        RAISE EXCEPTION 'unknown event type %', p_event_type USING ERRCODE = 'invalid_parameter_value',
        HINT = pg_catalog.format('one of %s', enum_range(NULL::capture.event_type));
    END IF;
    IF NOT capture.event_data_is_valid(p_event_type::capture.event_type, p_event_data) THEN
        RAISE EXCEPTION 'event_data does not fit a % event', p_event_type USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_timestamp < v_replay.start_time - interval '1 day' OR p_timestamp > now() + interval '1 day' THEN
        RAISE EXCEPTION 'timestamp % is outside the replay''s time', p_timestamp
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_html IS NOT NULL THEN
        v_hash := capture.store_webstate(p_html);
    END IF;
    INSERT INTO capture.events (replay_id, timestamp, event_type, event_data, webstate_hash)
    VALUES (p_replay_id, p_timestamp, p_event_type::capture.event_type, p_event_data, v_hash)
    RETURNING event_id INTO v_event_id;
    RETURN v_event_id;
END
$fn$;
COMMENT ON FUNCTION capture.record_event(uuid, timestamptz, text, jsonb, text) IS
'Records one event of the acting user''s open replay, with the page state it shows (HTML stored once '
'per distinct content). Returns event_id. 22004 NULL argument, 22023 bad type/data/time, 42501 no '
'acting user, P0002 unknown replay, 55000 replay ended.';

-- SECURITY DEFINER: as record_event.
CREATE FUNCTION capture.record_events(
    p_replay_id uuid,
    p_timestamps timestamptz[],
    p_event_types text[],
    p_event_data jsonb[] DEFAULT NULL,
    p_pages text[] DEFAULT NULL
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_replay capture.replays := capture.lock_open_replay(p_replay_id);
    v_count integer := cardinality(p_timestamps);
    v_bad record;
    v_hashes text [];
BEGIN
    IF p_timestamps IS NULL OR p_event_types IS NULL THEN
        RAISE EXCEPTION 'timestamps and event_types are required' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF v_count NOT BETWEEN 1 AND 10000
        OR array_ndims(p_timestamps) <> 1 OR array_ndims(p_event_types) <> 1
        OR cardinality(p_event_types) <> v_count
        OR (p_event_data IS NOT NULL AND (array_ndims(p_event_data) <> 1 OR cardinality(p_event_data) <> v_count))
        OR (p_pages IS NOT NULL AND (array_ndims(p_pages) <> 1 OR cardinality(p_pages) <> v_count))
        THEN
        RAISE EXCEPTION 'one-dimensional arrays of 1 to 10000 events, all of the same length'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;

    -- the first bad event, if any, with what is wrong with it
    SELECT b.ord, b.problem INTO v_bad
    FROM (
        SELECT
            e.ord,
            CASE
                WHEN e.ts IS NULL OR e.kind IS NULL THEN 'lacks timestamp or event_type'
                WHEN NOT e.kind = any(enum_range(NULL::capture.event_type)::text [])
                    THEN 'has an unknown event_type'
                WHEN NOT capture.event_data_is_valid(e.kind::capture.event_type, coalesce(e.data, '{}'))
                    THEN 'has event_data that does not fit its event_type'
                WHEN e.ts < v_replay.start_time - interval '1 day' OR e.ts > now() + interval '1 day'
                    THEN 'has a timestamp outside the replay''s time'
            END AS problem
        FROM unnest(p_timestamps, p_event_types, p_event_data) WITH ORDINALITY AS e (ts, kind, data, ord)
    ) AS b
    WHERE b.problem IS NOT NULL
    ORDER BY b.ord
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'event % %', v_bad.ord, v_bad.problem
        USING ERRCODE = CASE WHEN v_bad.problem LIKE 'lacks%' THEN 'null_value_not_allowed'
            ELSE 'invalid_parameter_value' END;
    END IF;

    IF p_pages IS NOT NULL THEN
        v_hashes := capture.ensure_webstates(p_pages);
    END IF;
    INSERT INTO capture.events (replay_id, timestamp, event_type, event_data, webstate_hash)
    SELECT p_replay_id, e.ts, e.kind::capture.event_type, coalesce(e.data, '{}'), e.hash
    FROM unnest(p_timestamps, p_event_types, p_event_data, v_hashes) WITH ORDINALITY AS e (ts, kind, data, hash, ord)
    ORDER BY e.ord;
    RETURN v_count;
END
$fn$;
COMMENT ON FUNCTION capture.record_events(uuid, timestamptz[], text[], jsonb[], text[]) IS
'Batch ingest: records events of the acting user''s open replay from parallel arrays (element i of '
'each is event i; event_data and pages may be NULL, or NULL per event), in order, all or none; each '
'distinct page stored once. 1 to 10000 events. Returns the number recorded. Errors as record_event, '
'naming the first bad event.';

-- SECURITY DEFINER: as record_event (and it calls the array form, which checks the replay).
CREATE FUNCTION capture.record_events(p_replay_id uuid, p_events jsonb)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_replay capture.replays := capture.lock_open_replay(p_replay_id);
    v_kinds text [];
    v_keys_ok boolean [];
    v_times jsonb [];
    v_types text [];
    v_data jsonb [];
    v_page_kinds text [];
    v_pages text [];
    v_bad record;
BEGIN
    IF p_events IS NULL THEN
        RAISE EXCEPTION 'events is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF jsonb_typeof(p_events) <> 'array' OR jsonb_array_length(p_events) NOT BETWEEN 1 AND 10000 THEN
        RAISE EXCEPTION 'events must be a JSON array of 1 to 10000 event objects'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- one pass over the elements: each field taken out once
    SELECT
        array_agg(jsonb_typeof(e.elem) ORDER BY e.ord),
        array_agg(
            CASE WHEN jsonb_typeof(e.elem) = 'object' THEN NOT EXISTS (
                SELECT FROM jsonb_object_keys(e.elem) AS k (name)
                WHERE k.name NOT IN ('timestamp', 'event_type', 'event_data', 'html')
            ) END ORDER BY e.ord
        ),
        array_agg(e.elem -> 'timestamp' ORDER BY e.ord),
        array_agg(e.elem ->> 'event_type' ORDER BY e.ord),
        array_agg(e.elem -> 'event_data' ORDER BY e.ord),
        array_agg(jsonb_typeof(e.elem -> 'html') ORDER BY e.ord),
        array_agg(e.elem ->> 'html' ORDER BY e.ord)
    INTO v_kinds, v_keys_ok, v_times, v_types, v_data, v_page_kinds, v_pages
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS e (elem, ord);

    -- what only JSON can get wrong; the array form checks the rest
    SELECT b.ord, b.problem INTO v_bad
    FROM (
        SELECT
            e.ord,
            CASE
                WHEN e.kind <> 'object' THEN 'is not an object'
                WHEN NOT e.keys_ok THEN 'has unknown keys'
                WHEN coalesce(jsonb_typeof(e.ts), 'null') = 'null' OR e.type IS NULL
                    THEN 'lacks timestamp or event_type'
                WHEN e.page_kind NOT IN ('null', 'string') THEN 'has an html that is not a string'
                WHEN capture.json_timestamp(e.ts) IS NULL
                    THEN 'has a timestamp that is neither epoch milliseconds nor ISO 8601 with an offset'
            END AS problem
        FROM unnest(v_kinds, v_keys_ok, v_times, v_types, v_page_kinds)
            WITH ORDINALITY AS e (kind, keys_ok, ts, type, page_kind, ord)
    ) AS b
    WHERE b.problem IS NOT NULL
    ORDER BY b.ord
    LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'event % %', v_bad.ord, v_bad.problem
        USING ERRCODE = CASE WHEN v_bad.problem LIKE 'lacks%' THEN 'null_value_not_allowed'
            ELSE 'invalid_parameter_value' END;
    END IF;

    RETURN capture.record_events(
        p_replay_id,
        ARRAY(SELECT capture.json_timestamp(t.value) FROM unnest(v_times) WITH ORDINALITY AS t (value, ord)
            ORDER BY t.ord),
        v_types,
        v_data,
        v_pages
    );
END
$fn$;
COMMENT ON FUNCTION capture.record_events(uuid, jsonb) IS
'Batch ingest from JSON: an array of 1 to 10000 events {"timestamp": epoch milliseconds | ISO 8601 '
'with an offset, "event_type": text, "event_data"?: object, "html"?: text} of the acting user''s '
'open replay, recorded as the array form does. Returns the number recorded.';

-- SECURITY DEFINER: capture_app has no UPDATE on replays; end_time is set here, once.
CREATE FUNCTION capture.end_replay(p_replay_id uuid)
RETURNS timestamptz
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_user uuid := capture.require_user_id();
    v_end timestamptz;
BEGIN
    IF p_replay_id IS NULL THEN
        RAISE EXCEPTION 'replay_id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    UPDATE capture.replays AS r
    SET end_time = greatest(now(), r.start_time)
    WHERE r.replay_id = p_replay_id AND r.user_id = v_user AND r.end_time IS NULL
    RETURNING r.end_time INTO v_end;
    IF FOUND THEN
        RETURN v_end;
    END IF;
    IF EXISTS (SELECT FROM capture.replays AS r WHERE r.replay_id = p_replay_id AND r.user_id = v_user) THEN
        RAISE EXCEPTION 'replay % has already ended', p_replay_id
        USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RAISE EXCEPTION 'replay % not found', p_replay_id USING ERRCODE = 'no_data_found';
END
$fn$;
COMMENT ON FUNCTION capture.end_replay(uuid) IS
'Ends the acting user''s replay once and returns its end_time. 55000 (object_not_in_prerequisite_state) '
'when it has already ended, P0002 when it does not exist or is another user''s, 22004 NULL, 42501 no '
'acting user.';

-- Functions: maintenance (owner only) ---------------------------------------------------------

CREATE FUNCTION capture.generate_monthly_report(p_month date)
RETURNS capture.monthly_reports
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_month date;
    v_from timestamptz;
    v_to timestamptz;
    v_report capture.monthly_reports;
BEGIN
    IF p_month IS NULL THEN
        RAISE EXCEPTION 'month is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    v_month := date_trunc('month', p_month::timestamp)::date;
    IF v_month < date '2000-01-01' OR v_month > date_trunc('month', now() AT TIME ZONE 'UTC')::date THEN
        RAISE EXCEPTION 'no report for month %: from 2000-01 to the current month', to_char(v_month, 'YYYY-MM')
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- the UTC month, whatever the session's TimeZone
    v_from := v_month::timestamp AT TIME ZONE 'UTC';
    v_to := (v_month + interval '1 month')::timestamp AT TIME ZONE 'UTC';
    INSERT INTO capture.monthly_reports AS m (
        report_month_start, new_users_count, total_users_end, new_replays_count, total_replays_end
    )
    SELECT
        v_month,
        (SELECT count(*) FROM capture.users AS u WHERE u.created_at >= v_from AND u.created_at < v_to),
        (SELECT count(*) FROM capture.users AS u WHERE u.created_at < v_to),
        (SELECT count(*) FROM capture.replays AS r WHERE r.start_time >= v_from AND r.start_time < v_to),
        (SELECT count(*) FROM capture.replays AS r WHERE r.start_time < v_to)
    ON CONFLICT (report_month_start) DO UPDATE
    SET new_users_count = excluded.new_users_count,
        total_users_end = excluded.total_users_end,
        new_replays_count = excluded.new_replays_count,
        total_replays_end = excluded.total_replays_end,
        generated_at = now()
    RETURNING m.* INTO v_report;
    RETURN v_report;
END
$fn$;
COMMENT ON FUNCTION capture.generate_monthly_report(date) IS
'Computes the report of the UTC month containing p_month (2000-01 to the current month) from users '
'and replays and stores it; running it again updates the same row. Maintenance: owner only.';

CREATE FUNCTION capture.prune_webstates(p_grace interval DEFAULT interval '1 hour')
RETURNS bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_locked text [];
    v_deleted bigint;
BEGIN
    IF p_grace IS NULL THEN
        RAISE EXCEPTION 'grace is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_grace < interval '0' THEN
        RAISE EXCEPTION 'grace % is negative', p_grace USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- 1. Lock the candidates. SKIP LOCKED: a row a writer holds (FOR KEY SHARE, taken by
    -- ensure_webstates() and by the foreign key check) is in use, and we never wait.
    SELECT coalesce(array_agg(c.html_hash), '{}') INTO v_locked
    FROM (
        SELECT w.html_hash
        FROM capture.webstates AS w
        WHERE
            w.captured_at < now() - p_grace
            AND NOT EXISTS (SELECT FROM capture.events AS e WHERE e.webstate_hash = w.html_hash)
        FOR UPDATE OF w SKIP LOCKED
    ) AS c;
    -- 2. A new statement, a new snapshot (READ COMMITTED): it sees every event committed
    -- before our locks were taken; an event not yet committed belongs to a writer that
    -- waits on our lock and will insert the page again.
    DELETE FROM capture.webstates AS w
    WHERE
        w.html_hash = any(v_locked)
        AND NOT EXISTS (SELECT FROM capture.events AS e WHERE e.webstate_hash = w.html_hash);
    GET DIAGNOSTICS v_deleted = ROW_COUNT;
    RETURN v_deleted;
END
$fn$;
COMMENT ON FUNCTION capture.prune_webstates(interval) IS
'Deletes the webstates no event references any more (after events partitions are dropped, or events '
'and replays deleted), except those stored within p_grace. Safe against concurrent recording: never '
'deletes a page a writer is referencing, never makes a writer fail. Run in READ COMMITTED, as the '
'owner (maintenance). Returns the number deleted.';

-- RLS policies -----------------------------------------------------------------------------
-- capture_app acts for app.user_id. users, replays: own rows. events: those of own replays
-- (read, delete; written by the record functions). webstates: read through own events.
-- monthly_reports: no policy (maintenance and reporting only).

ALTER TABLE capture.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE capture.webstates ENABLE ROW LEVEL SECURITY;
ALTER TABLE capture.replays ENABLE ROW LEVEL SECURITY;
ALTER TABLE capture.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE capture.monthly_reports ENABLE ROW LEVEL SECURITY;

CREATE POLICY users_select_own ON capture.users
FOR SELECT TO capture_app
USING (user_id = (SELECT capture.current_user_id()));
CREATE POLICY users_update_own ON capture.users
FOR UPDATE TO capture_app
USING (user_id = (SELECT capture.current_user_id()))
WITH CHECK (user_id = (SELECT capture.current_user_id()));
CREATE POLICY users_delete_own ON capture.users
FOR DELETE TO capture_app
USING (user_id = (SELECT capture.current_user_id()));

CREATE POLICY replays_select_own ON capture.replays
FOR SELECT TO capture_app
USING (user_id = (SELECT capture.current_user_id()));
CREATE POLICY replays_insert_own ON capture.replays
FOR INSERT TO capture_app
WITH CHECK (user_id = (SELECT capture.current_user_id()));
CREATE POLICY replays_delete_own ON capture.replays
FOR DELETE TO capture_app
USING (user_id = (SELECT capture.current_user_id()));

CREATE POLICY events_select_own ON capture.events
FOR SELECT TO capture_app
USING (EXISTS (
    SELECT FROM capture.replays AS r
    WHERE r.replay_id = events.replay_id AND r.user_id = (SELECT capture.current_user_id())
));
CREATE POLICY events_delete_own ON capture.events
FOR DELETE TO capture_app
USING (EXISTS (
    SELECT FROM capture.replays AS r
    WHERE r.replay_id = events.replay_id AND r.user_id = (SELECT capture.current_user_id())
));

CREATE POLICY webstates_select_referenced ON capture.webstates
FOR SELECT TO capture_app
USING (EXISTS (
    SELECT FROM capture.events AS e
    INNER JOIN capture.replays AS r ON e.replay_id = r.replay_id
    WHERE e.webstate_hash = webstates.html_hash AND r.user_id = (SELECT capture.current_user_id())
));

-- Grants ----------------------------------------------------------------------------------------
-- Values the database assigns (ids, created_at, start_time, end_time, html_hash, captured_at,
-- report figures) are not writable by capture_app; captured_at is not even readable.

GRANT SELECT, DELETE ON capture.users TO capture_app;
GRANT UPDATE (email, name) ON capture.users TO capture_app;
GRANT SELECT, DELETE ON capture.replays TO capture_app;
GRANT INSERT (initial_url) ON capture.replays TO capture_app;
GRANT SELECT, DELETE ON capture.events TO capture_app;
GRANT SELECT (html_hash, html_content) ON capture.webstates TO capture_app;

GRANT EXECUTE ON FUNCTION
capture.current_user_id(),
capture.register_user(text, text, bigint),
capture.find_user_id(text, bigint),
capture.record_event(uuid, timestamptz, text, jsonb, text),
capture.record_events(uuid, jsonb),
capture.record_events(uuid, timestamptz[], text[], jsonb[], text[]),
capture.end_replay(uuid)
TO capture_app;

SELECT ops.grant_read_only('capture', ARRAY[
    'users.email',
    'users.github_id',
    'webstates.html_content',
    'events.event_data'
]);

-- Data: monthly partitions -----------------------------------------------------------------------

SELECT ops.register_partitioned_table(
    'capture.events'::regclass, 'timestamp',
    p_premake => 3,
    p_start_months_back => 0,
    p_retention => interval '90 days',
    p_retention_mode => 'drop'
);
