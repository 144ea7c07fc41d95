-- insights 0001: UX analytics (seed 003_9534d0a5d0db4095): users, sessions, events, heatmaps,
-- rage clicks, journeys, API latency, emotions, experience scores, replay chunks, errors.
-- depends: ops_0009_referenced_parents
--
-- The seed sketches storage only; this is the real schema: the eleven tables under the
-- seed's names, columns, foreign keys (ON DELETE rules) and indexes, plus a projects table
-- (the tenant the seed leaves out), the constraints the seed forgot (named), monthly
-- partitions of the time series (ops engine, with retention) and the stored logic the
-- product needs: detect_rage_clicks, build_journey, heatmap, calculate_experience_score,
-- erase_user, and sessions.duration_ms maintained by the database (a generated column).
--
-- Tenants: insights_app acts for one project per transaction (SET LOCAL app.project_id =
-- '<uuid>'); unset or empty means nobody. Every table carries project_id, every reference
-- to a project's row is a composite foreign key with project_id, and RLS keeps each
-- project to its rows. Derived rows (rage clicks, journey steps, scores) are written only
-- by the SECURITY DEFINER analysis functions, which check the acting project.
-- docs/deviations.md (insights) lists every choice the seed leaves open; docs/security.md
-- (insights) who may call what.

-- Roles (needs CREATEROLE; before SET LOCAL ROLE) ------------------------------------

SELECT ops.ensure_app_role('insights');

SET LOCAL ROLE schema_tool_owner;

-- Schema -------------------------------------------------------------------------------

CREATE SCHEMA insights;
COMMENT ON SCHEMA insights IS
'UX analytics: projects and their end users, sessions, events, heatmap points, API latency, '
'errors, emotion predictions, replay chunks, and what the database derives from them (rage '
'clicks, journeys, experience scores).';
GRANT USAGE ON SCHEMA insights TO insights_app;

-- Types ----------------------------------------------------------------------------------

-- The state of the running rage-click aggregate (insights.rage_burst), one per click.
CREATE TYPE insights.rage_burst_state AS (
    burst integer,
    first_x integer,
    first_y integer,
    last_at timestamptz,
    screen text
);
COMMENT ON TYPE insights.rage_burst_state IS
'Running state of insights.rage_burst(): the burst number of the current click, where the '
'burst''s first click was, when the previous click was, and the burst''s screen.';

-- Functions the tables use (defaults) -----------------------------------------------------

CREATE FUNCTION insights.current_project_id()
RETURNS uuid
LANGUAGE sql
STABLE
PARALLEL SAFE
RETURN nullif(current_setting('app.project_id', TRUE), '')::uuid;
COMMENT ON FUNCTION insights.current_project_id() IS
'The acting project of this transaction (SET LOCAL app.project_id = ''<uuid>''); NULL when unset or empty.';

-- Tables ---------------------------------------------------------------------------------

CREATE TABLE insights.projects (
    project_id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT projects_pkey PRIMARY KEY (project_id),
    CONSTRAINT chk_projects_name_not_blank CHECK (char_length(name) <= 200 AND btrim(name) <> '')
);

CREATE TABLE insights.users (
    user_id uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    external_user_id varchar(255),
    email varchar(255),
    locale varchar(50),
    device_type varchar(50),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_pkey PRIMARY KEY (user_id),
    CONSTRAINT uq_users_project_user UNIQUE (project_id, user_id),
    CONSTRAINT users_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES insights.projects (project_id) ON DELETE CASCADE,
    CONSTRAINT chk_users_email_format CHECK (email ~ '^[^[:space:]@]+@[^[:space:]@]+\.[^[:space:]@]+$')
);

CREATE TABLE insights.sessions (
    session_id uuid NOT NULL DEFAULT gen_random_uuid(),
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    user_id uuid,
    device_id varchar(255),
    ip_address varchar(50),
    user_agent text,
    screen_resolution varchar(20),
    app_version varchar(20),
    started_at timestamptz NOT NULL DEFAULT now(),
    ended_at timestamptz,
    duration_ms bigint GENERATED ALWAYS AS (
        floor(extract(EPOCH FROM ended_at - started_at) * 1000)::bigint
    ) STORED,
    CONSTRAINT sessions_pkey PRIMARY KEY (session_id),
    CONSTRAINT uq_sessions_project_session UNIQUE (project_id, session_id),
    CONSTRAINT sessions_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES insights.projects (project_id) ON DELETE CASCADE,
    CONSTRAINT sessions_user_id_fkey FOREIGN KEY (project_id, user_id)
    REFERENCES insights.users (project_id, user_id) ON DELETE SET NULL (user_id),
    CONSTRAINT chk_sessions_ended_after_started CHECK (ended_at >= started_at)
);

CREATE TABLE insights.events (
    event_id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    session_id uuid NOT NULL,
    event_type varchar(64) NOT NULL,
    screen varchar(255),
    element_id varchar(255),
    x integer,
    y integer,
    scroll integer,
    metadata jsonb,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_pkey PRIMARY KEY (event_id, occurred_at, project_id),
    CONSTRAINT events_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    CONSTRAINT chk_events_occurred_at_range CHECK (
        occurred_at >= '2000-01-01 00:00:00+00' AND occurred_at < '2100-01-01 00:00:00+00'
    ),
    CONSTRAINT chk_events_event_type CHECK (event_type IN (
        'screen_view', 'click', 'tap', 'double_click', 'long_press', 'scroll', 'swipe', 'input',
        'focus', 'blur', 'app_foreground', 'app_background', 'custom'
    )),
    CONSTRAINT chk_events_coordinates_non_negative CHECK (x >= 0 AND y >= 0),
    CONSTRAINT chk_events_scroll_non_negative CHECK (scroll >= 0),
    CONSTRAINT chk_events_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
) PARTITION BY RANGE (occurred_at);

CREATE TABLE insights.rage_click_events (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL,
    session_id uuid NOT NULL,
    element_id varchar(255),
    screen varchar(255),
    click_count integer NOT NULL,
    first_click_at timestamptz NOT NULL,
    last_click_at timestamptz NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT rage_click_events_pkey PRIMARY KEY (id),
    CONSTRAINT rage_click_events_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    CONSTRAINT chk_rage_click_events_click_count CHECK (click_count >= 2),
    CONSTRAINT chk_rage_click_events_last_after_first CHECK (last_click_at >= first_click_at)
);

CREATE TABLE insights.heatmap_points (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    session_id uuid NOT NULL,
    screen varchar(255) NOT NULL,
    x integer NOT NULL,
    y integer NOT NULL,
    weight double precision NOT NULL DEFAULT 1,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT heatmap_points_pkey PRIMARY KEY (id, occurred_at),
    CONSTRAINT heatmap_points_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    CONSTRAINT chk_heatmap_points_occurred_at_range CHECK (
        occurred_at >= '2000-01-01 00:00:00+00' AND occurred_at < '2100-01-01 00:00:00+00'
    ),
    CONSTRAINT chk_heatmap_points_coordinates_non_negative CHECK (x >= 0 AND y >= 0),
    -- NaN sorts above infinity, so this refuses NaN too
    CONSTRAINT chk_heatmap_points_weight CHECK (weight > 0 AND weight < 'Infinity')
) PARTITION BY RANGE (occurred_at);

CREATE TABLE insights.journey_steps (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL,
    session_id uuid NOT NULL,
    step_num integer NOT NULL,
    screen varchar(255) NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT journey_steps_pkey PRIMARY KEY (id),
    CONSTRAINT journey_steps_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    CONSTRAINT chk_journey_steps_step_num_positive CHECK (step_num >= 1)
);

CREATE TABLE insights.latency_metrics (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    session_id uuid NOT NULL,
    api text NOT NULL,
    latency_ms integer NOT NULL,
    status integer,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT latency_metrics_pkey PRIMARY KEY (id, occurred_at),
    CONSTRAINT latency_metrics_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    CONSTRAINT chk_latency_metrics_occurred_at_range CHECK (
        occurred_at >= '2000-01-01 00:00:00+00' AND occurred_at < '2100-01-01 00:00:00+00'
    ),
    CONSTRAINT chk_latency_metrics_latency_non_negative CHECK (latency_ms >= 0),
    CONSTRAINT chk_latency_metrics_status CHECK (status BETWEEN 100 AND 599),
    CONSTRAINT chk_latency_metrics_api_not_blank CHECK (char_length(api) <= 2048 AND btrim(api) <> '')
) PARTITION BY RANGE (occurred_at);

CREATE TABLE insights.emotion_predictions (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    session_id uuid NOT NULL,
    event_id bigint,
    event_occurred_at timestamptz,
    emotion varchar(64) NOT NULL,
    confidence double precision NOT NULL,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT emotion_predictions_pkey PRIMARY KEY (id),
    CONSTRAINT emotion_predictions_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    -- events is partitioned: its key includes the partition key, so the reference carries the
    -- event's time; deleting the event clears both (the seed's SET NULL), never project_id
    CONSTRAINT emotion_predictions_event_id_fkey FOREIGN KEY (project_id, event_id, event_occurred_at)
    REFERENCES insights.events (project_id, event_id, occurred_at) ON DELETE SET NULL (event_id, event_occurred_at),
    CONSTRAINT chk_emotion_predictions_event_pair CHECK ((event_id IS NULL) = (event_occurred_at IS NULL)),
    CONSTRAINT chk_emotion_predictions_emotion CHECK (emotion IN (
        'neutral', 'joy', 'satisfaction', 'surprise', 'confusion', 'frustration', 'anger', 'boredom', 'sadness'
    )),
    -- NaN sorts above 1, so this refuses NaN too
    CONSTRAINT chk_emotion_predictions_confidence CHECK (confidence >= 0 AND confidence <= 1)
);

CREATE TABLE insights.experience_scores (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL,
    session_id uuid NOT NULL,
    score integer NOT NULL,
    issues jsonb NOT NULL DEFAULT '[]',
    calculated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT experience_scores_pkey PRIMARY KEY (id),
    CONSTRAINT experience_scores_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    CONSTRAINT chk_experience_scores_score CHECK (score BETWEEN 0 AND 100),
    CONSTRAINT chk_experience_scores_issues_array CHECK (jsonb_typeof(issues) = 'array')
);

CREATE TABLE insights.replay_chunks (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    session_id uuid NOT NULL,
    chunk_index integer NOT NULL,
    chunk_data jsonb NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT replay_chunks_pkey PRIMARY KEY (id),
    CONSTRAINT replay_chunks_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE CASCADE,
    CONSTRAINT chk_replay_chunks_chunk_index CHECK (chunk_index >= 0),
    CONSTRAINT chk_replay_chunks_chunk_data CHECK (jsonb_typeof(chunk_data) IN ('array', 'object'))
);

CREATE TABLE insights.error_logs (
    id bigint GENERATED ALWAYS AS IDENTITY,
    project_id uuid NOT NULL DEFAULT insights.current_project_id(),
    session_id uuid,
    screen varchar(255),
    message text,
    stack text,
    occurred_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT error_logs_pkey PRIMARY KEY (id, occurred_at),
    CONSTRAINT error_logs_project_id_fkey FOREIGN KEY (project_id)
    REFERENCES insights.projects (project_id) ON DELETE CASCADE,
    CONSTRAINT error_logs_session_id_fkey FOREIGN KEY (project_id, session_id)
    REFERENCES insights.sessions (project_id, session_id) ON DELETE SET NULL (session_id),
    CONSTRAINT chk_error_logs_occurred_at_range CHECK (
        occurred_at >= '2000-01-01 00:00:00+00' AND occurred_at < '2100-01-01 00:00:00+00'
    )
) PARTITION BY RANGE (occurred_at);

-- Indexes --------------------------------------------------------------------------------
-- The seed's, under its names, each led by project_id (every policy filters on it) and
-- covering the composite foreign keys; plus what the functions read.

CREATE UNIQUE INDEX idx_users_external ON insights.users (project_id, external_user_id)
WHERE external_user_id IS NOT NULL;
CREATE INDEX idx_sessions_user ON insights.sessions (project_id, user_id) WHERE user_id IS NOT NULL;
CREATE INDEX idx_sessions_started ON insights.sessions (project_id, started_at);
CREATE INDEX idx_events_session ON insights.events (project_id, session_id, occurred_at);
CREATE INDEX idx_events_type ON insights.events (project_id, event_type);
CREATE INDEX idx_events_screen ON insights.events (project_id, screen);
CREATE INDEX idx_rage_session ON insights.rage_click_events (project_id, session_id, first_click_at);
CREATE INDEX idx_heatmap_screen ON insights.heatmap_points (project_id, screen, occurred_at);
CREATE INDEX idx_heatmap_session ON insights.heatmap_points (project_id, session_id);
-- one step per number, one chunk per index, one score per session (the seed's indexes, made unique)
CREATE UNIQUE INDEX idx_journey_session ON insights.journey_steps (project_id, session_id, step_num);
CREATE INDEX idx_latency_session ON insights.latency_metrics (project_id, session_id);
CREATE INDEX idx_emotion_session ON insights.emotion_predictions (project_id, session_id);
-- the event reference: serves the foreign key's actions and retention's range on the event time
CREATE INDEX idx_emotion_event ON insights.emotion_predictions (event_occurred_at, event_id, project_id)
WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX idx_score_session ON insights.experience_scores (project_id, session_id);
CREATE UNIQUE INDEX idx_replay_session ON insights.replay_chunks (project_id, session_id, chunk_index);
CREATE INDEX idx_error_logs_session ON insights.error_logs (project_id, session_id);

-- Comments -------------------------------------------------------------------------------

COMMENT ON TABLE insights.projects IS
'The tenants: one row per analysed application. Created by the back office (owner role); '
'insights_app sees its acting project only.';
COMMENT ON TABLE insights.users IS
'End users of a project''s application. email is personal data: never readable by '
'schema_tool_readonly; insights.erase_user() removes it and keeps the anonymous sessions.';
COMMENT ON COLUMN insights.users.email IS 'Personal data: never readable by schema_tool_readonly.';
COMMENT ON TABLE insights.sessions IS
'One visit of a user (or an anonymous device). duration_ms is computed by the database from '
'started_at and ended_at. Deleting the user keeps the session (user_id set NULL).';
COMMENT ON COLUMN insights.sessions.ip_address IS 'Personal data: never readable by schema_tool_readonly.';
COMMENT ON COLUMN insights.sessions.user_agent IS 'Personal data: never readable by schema_tool_readonly.';
COMMENT ON COLUMN insights.sessions.duration_ms IS
'Generated: floor((ended_at - started_at) in milliseconds); NULL while the session is open.';
COMMENT ON TABLE insights.events IS
'Interaction events of a session, range-partitioned by month on occurred_at (ops engine; DEFAULT '
'partition; partitions dropped after 365 days). Event types: see chk_events_event_type. '
'Read a session in order: WHERE project_id = $1 AND session_id = $2 ORDER BY occurred_at '
'(idx_events_session).';
COMMENT ON COLUMN insights.events.event_id IS
'Assigned by the database (identity); unique with occurred_at and project_id (events_pkey).';
COMMENT ON COLUMN insights.events.metadata IS
'Free JSON object of the event''s extra properties (NULL when none), e.g. {"text": "Buy", '
'"href": "/cart", "value_length": 3, "direction": "down", "custom_name": "signup"}; keys are the '
'SDK''s. No key is read by the database.';
COMMENT ON TABLE insights.rage_click_events IS
'Rage-click bursts found by insights.detect_rage_clicks(): at least min_clicks clicks (or taps) '
'on one screen, each within max_gap of the previous one and within radius_px of the burst''s '
'first click. Written by the database only.';
COMMENT ON TABLE insights.heatmap_points IS
'Fine-grain interaction points for heatmaps, range-partitioned by month on occurred_at (ops '
'engine; dropped after 180 days). Aggregated by insights.heatmap().';
COMMENT ON TABLE insights.journey_steps IS
'The sequence of screens of a session (consecutive repeats collapsed, step_num from 1), rebuilt '
'from events by insights.build_journey(). Written by the database only.';
COMMENT ON TABLE insights.latency_metrics IS
'API calls made during a session: latency and HTTP status, range-partitioned by month on '
'occurred_at (ops engine; dropped after 90 days).';
COMMENT ON TABLE insights.emotion_predictions IS
'Emotions predicted for a session, optionally for one event: (event_id, event_occurred_at) '
'reference events (the time is filled from the event when omitted); deleting the event sets '
'both NULL (the seed''s ON DELETE SET NULL).';
COMMENT ON COLUMN insights.emotion_predictions.event_occurred_at IS
'The referenced event''s occurred_at (part of the reference to the partitioned events); set by '
'the database from event_id when omitted.';
COMMENT ON TABLE insights.experience_scores IS
'One experience score per session (0..100, 100 = no trouble), computed by '
'insights.calculate_experience_score(). Written by the database only.';
COMMENT ON COLUMN insights.experience_scores.issues IS
'Why the score is below 100: a JSON array, in this order, of the kinds found (count > 0): '
'[{"kind": "rage_clicks" | "errors" | "failed_api_calls" | "slow_api_calls" | "negative_emotions", '
'"count": integer, "penalty": integer}]; the penalties add up to 100 - score (unless the score is 0). '
'[] when nothing was found.';
COMMENT ON TABLE insights.replay_chunks IS
'Session replay data in small chunks, one per (session_id, chunk_index), chunk_index from 0. '
'Kept with its session (not partitioned: the uniqueness of a chunk index needs no time).';
COMMENT ON COLUMN insights.replay_chunks.chunk_data IS
'The recorder''s payload for this chunk: a JSON array of replay events (e.g. rrweb''s '
'[{"type": integer, "timestamp": epoch ms, "data": {...}}]) or an object wrapping them. '
'Recorded DOM and input: never readable by schema_tool_readonly.';
COMMENT ON TABLE insights.error_logs IS
'Client errors, range-partitioned by month on occurred_at (ops engine; dropped after 180 days). '
'Deleting the session keeps its errors (session_id set NULL).';

-- Functions: the acting project ---------------------------------------------------------

CREATE FUNCTION insights.require_project_id()
RETURNS uuid
LANGUAGE plpgsql
STABLE
AS $fn$
DECLARE
    v_project uuid := insights.current_project_id();
BEGIN
    IF v_project IS NULL THEN
        RAISE EXCEPTION 'no acting project: SET LOCAL app.project_id first' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN v_project;
END
$fn$;
COMMENT ON FUNCTION insights.require_project_id() IS
'The acting project (app.project_id), or insufficient_privilege (42501) when none is set.';

-- Runs as the caller (called by the SECURITY DEFINER analysis functions).
CREATE FUNCTION insights.lock_session(p_session_id uuid)
RETURNS uuid
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_project uuid := insights.require_project_id();
BEGIN
    IF p_session_id IS NULL THEN
        RAISE EXCEPTION 'session_id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    -- FOR NO KEY UPDATE: one analysis of a session at a time; inserts of its events (which
    -- take FOR KEY SHARE through their foreign key) go on
    PERFORM FROM insights.sessions AS s
    WHERE s.project_id = v_project AND s.session_id = p_session_id
    FOR NO KEY UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'session % not found', p_session_id USING ERRCODE = 'no_data_found';
    END IF;
    RETURN v_project;
END
$fn$;
COMMENT ON FUNCTION insights.lock_session(uuid) IS
'Locks a session of the acting project for analysis and returns the project. 22004 NULL, P0002 '
'unknown or another project''s, 42501 no acting project.';

-- Functions: rage clicks -------------------------------------------------------------------

CREATE FUNCTION insights.rage_burst_step(
    p_state insights.rage_burst_state,
    p_screen varchar,
    p_x integer,
    p_y integer,
    p_at timestamptz,
    p_max_gap interval,
    p_radius_px integer
)
RETURNS insights.rage_burst_state
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $fn$
BEGIN
    IF p_state.burst IS NOT NULL
        AND p_state.screen IS NOT DISTINCT FROM p_screen
        AND p_at - p_state.last_at <= p_max_gap
        AND (p_x - p_state.first_x)::bigint * (p_x - p_state.first_x)
        + (p_y - p_state.first_y)::bigint * (p_y - p_state.first_y)
        <= p_radius_px::bigint * p_radius_px THEN
        p_state.last_at := p_at;  -- same burst
        RETURN p_state;
    END IF;
    RETURN ROW(coalesce(p_state.burst, 0) + 1, p_x, p_y, p_at, p_screen)::insights.rage_burst_state;
END
$fn$;
COMMENT ON FUNCTION insights.rage_burst_step(
    insights.rage_burst_state, varchar, integer, integer, timestamptz, interval, integer
) IS
'Transition of insights.rage_burst(): a click continues the burst when it is on the same screen, '
'within p_max_gap of the previous click and within p_radius_px (Euclidean) of the burst''s first '
'click; otherwise it starts the next burst. A click without coordinates never continues one.';

-- the linter reads CREATE AGGREGATE's argument list as a table name (hence LT01 below)
CREATE AGGREGATE insights.rage_burst(varchar, integer, integer, timestamptz, interval, integer) (  -- noqa: LT01
    sfunc = insights.rage_burst_step,
    stype = insights.rage_burst_state
);
COMMENT ON AGGREGATE insights.rage_burst(varchar, integer, integer, timestamptz, interval, integer) IS  -- noqa: LT01
'Used as a running window aggregate over a session''s clicks in time order (ROWS UNBOUNDED '
'PRECEDING): its .burst numbers the bursts, one pass, O(n).';

-- SECURITY DEFINER: rage_click_events is written by the database only; the session must be the
-- acting project's (lock_session).
CREATE FUNCTION insights.detect_rage_clicks(
    session_id uuid,
    min_clicks integer DEFAULT 3,
    max_gap interval DEFAULT interval '1 second',
    radius_px integer DEFAULT 30
)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_session uuid := detect_rage_clicks.session_id;
    v_project uuid;
    v_bursts integer;
BEGIN
    IF min_clicks IS NULL OR max_gap IS NULL OR radius_px IS NULL THEN
        RAISE EXCEPTION 'min_clicks, max_gap and radius_px must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF min_clicks NOT BETWEEN 2 AND 1000 OR max_gap <= interval '0' OR max_gap > interval '1 hour'
        OR radius_px NOT BETWEEN 0 AND 100000 THEN
        RAISE EXCEPTION 'min_clicks 2..1000, max_gap (0, 1 hour], radius_px 0..100000'
        USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_project := insights.lock_session(v_session);

    WITH clicks AS (
        SELECT
            e.screen,
            e.element_id,
            e.occurred_at,
            (insights.rage_burst(e.screen, e.x, e.y, e.occurred_at, max_gap, radius_px) OVER (
                ORDER BY e.occurred_at, e.event_id ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
            )).burst AS burst
        FROM insights.events AS e
        WHERE e.project_id = v_project AND e.session_id = v_session AND e.event_type IN ('click', 'tap')
    ),

    found AS (
        SELECT
            min(c.screen) AS screen,
            CASE WHEN count(DISTINCT c.element_id) = 1 AND count(c.element_id) = count(*) THEN min(c.element_id) END
            AS element_id,
            count(*)::integer AS click_count,
            min(c.occurred_at) AS first_click_at,
            max(c.occurred_at) AS last_click_at
        FROM clicks AS c
        GROUP BY c.burst
        HAVING count(*) >= min_clicks
    ),

    -- a burst is the same burst as a stored row when both start with the same click (screen and
    -- time; the n-th of equal keys pairs with the n-th): extended, not duplicated
    wanted AS (
        SELECT
            f.*,
            row_number() OVER (PARTITION BY f.screen, f.first_click_at ORDER BY f.last_click_at) AS nth
        FROM found AS f
    ),

    stored AS (
        SELECT
            r.id,
            r.screen,
            r.element_id,
            r.click_count,
            r.first_click_at,
            r.last_click_at,
            row_number() OVER (PARTITION BY r.screen, r.first_click_at ORDER BY r.id) AS nth
        FROM insights.rage_click_events AS r
        WHERE r.project_id = v_project AND r.session_id = v_session
    ),

    paired AS (
        SELECT
            s.id,
            w.screen,
            w.element_id,
            w.click_count,
            w.first_click_at,
            w.last_click_at,
            w.nth IS NOT NULL AS is_wanted,
            s.id IS NOT NULL
            AND (s.element_id, s.click_count, s.last_click_at)
            IS DISTINCT FROM (w.element_id, w.click_count, w.last_click_at) AS changed
        FROM wanted AS w
        FULL JOIN stored AS s
            ON
                w.screen IS NOT DISTINCT FROM s.screen
                AND w.first_click_at = s.first_click_at
                AND w.nth = s.nth
    ),

    updated AS (
        UPDATE insights.rage_click_events AS r
        SET element_id = p.element_id, click_count = p.click_count, last_click_at = p.last_click_at
        FROM paired AS p
        WHERE r.id = p.id AND p.is_wanted AND p.changed
        RETURNING 1
    ),

    deleted AS (
        DELETE FROM insights.rage_click_events AS r
        USING paired AS p
        WHERE r.id = p.id AND NOT p.is_wanted
        RETURNING 1
    ),

    inserted AS (
        INSERT INTO insights.rage_click_events (
            project_id, session_id, element_id, screen, click_count, first_click_at, last_click_at
        )
        SELECT v_project, v_session, p.element_id, p.screen, p.click_count, p.first_click_at, p.last_click_at
        FROM paired AS p
        WHERE p.id IS NULL
        RETURNING 1
    )

    SELECT count(*) FILTER (WHERE p.is_wanted)::integer INTO v_bursts
    FROM paired AS p
    WHERE
        (SELECT count(*) FROM updated) >= 0
        AND (SELECT count(*) FROM deleted) >= 0
        AND (SELECT count(*) FROM inserted) >= 0;
    RETURN v_bursts;
END
$fn$;
COMMENT ON FUNCTION insights.detect_rage_clicks(uuid, integer, interval, integer) IS
'Finds the rage-click bursts of a session of the acting project (PostHog''s definition: at least '
'min_clicks clicks or taps on one screen, each within max_gap of the previous one (inclusive) '
'and within radius_px of the burst''s first click (Euclidean, inclusive); element_id recorded '
'when every click has the same one) and stores one rage_click_events row per burst. Idempotent: '
'unchanged bursts are not written again; a burst that grew is updated in place; a stored burst '
'that no longer exists is removed. One pass of window functions over the session''s clicks. '
'Returns the number of bursts. 22004 NULL, 22023 min_clicks outside 2..1000, max_gap outside '
'(0, 1 hour] or radius_px outside 0..100000, P0002 unknown session or another project''s, 42501 '
'no acting project.';

-- Functions: journeys ------------------------------------------------------------------------

-- SECURITY DEFINER: journey_steps is written by the database only; lock_session checks the project.
CREATE FUNCTION insights.build_journey(session_id uuid)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_session uuid := build_journey.session_id;
    v_project uuid := insights.lock_session(v_session);
    v_steps integer;
BEGIN
    WITH seen AS (
        SELECT
            e.event_id,
            e.screen,
            e.occurred_at,
            lag(e.screen) OVER (ORDER BY e.occurred_at, e.event_id) AS previous
        FROM insights.events AS e
        WHERE e.project_id = v_project AND e.session_id = v_session AND e.screen IS NOT NULL
    ),

    wanted AS (
        SELECT
            s.screen,
            s.occurred_at,
            row_number() OVER (ORDER BY s.occurred_at, s.event_id)::integer AS step_num
        FROM seen AS s
        WHERE s.previous IS DISTINCT FROM s.screen
    ),

    stored AS (
        SELECT
            j.id,
            j.step_num,
            j.screen,
            j.occurred_at
        FROM insights.journey_steps AS j
        WHERE j.project_id = v_project AND j.session_id = v_session
    ),

    paired AS (
        SELECT
            s.id,
            w.step_num,
            w.screen,
            w.occurred_at,
            w.step_num IS NOT NULL AS is_wanted,
            (s.screen, s.occurred_at) IS DISTINCT FROM (w.screen, w.occurred_at) AS changed
        FROM wanted AS w
        FULL JOIN stored AS s ON w.step_num = s.step_num
    ),

    updated AS (
        UPDATE insights.journey_steps AS j
        SET screen = p.screen, occurred_at = p.occurred_at
        FROM paired AS p
        WHERE j.id = p.id AND p.is_wanted AND p.changed
        RETURNING 1
    ),

    deleted AS (
        DELETE FROM insights.journey_steps AS j
        USING paired AS p
        WHERE j.id = p.id AND NOT p.is_wanted
        RETURNING 1
    ),

    inserted AS (
        INSERT INTO insights.journey_steps (project_id, session_id, step_num, screen, occurred_at)
        SELECT v_project, v_session, p.step_num, p.screen, p.occurred_at
        FROM paired AS p
        WHERE p.id IS NULL
        RETURNING 1
    )

    SELECT count(*) FILTER (WHERE p.is_wanted)::integer INTO v_steps
    FROM paired AS p
    WHERE
        (SELECT count(*) FROM updated) >= 0
        AND (SELECT count(*) FROM deleted) >= 0
        AND (SELECT count(*) FROM inserted) >= 0;
    RETURN v_steps;
END
$fn$;
COMMENT ON FUNCTION insights.build_journey(uuid) IS
'Rebuilds journey_steps of a session of the acting project from the screens of its events in '
'time order (events without a screen skipped, consecutive repeats collapsed, step_num from 1, '
'occurred_at = the first event of the step). Idempotent: unchanged steps are not written again. '
'Returns the number of steps (0 for a session without screens). 22004 NULL, P0002 unknown '
'session or another project''s, 42501 no acting project.';

-- Functions: heatmaps --------------------------------------------------------------------------

CREATE FUNCTION insights.heatmap_cell(p_cell integer, p_from timestamptz, p_to timestamptz)
RETURNS integer
LANGUAGE plpgsql
IMMUTABLE
PARALLEL SAFE
AS $fn$
BEGIN
    IF p_cell IS NULL THEN
        RAISE EXCEPTION 'cell is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_cell <= 0 OR p_cell > 100000 THEN
        RAISE EXCEPTION 'cell % is outside 1..100000 pixels', p_cell USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_from > p_to THEN
        RAISE EXCEPTION 'from % is after to %', p_from, p_to USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN p_cell;
END
$fn$;
COMMENT ON FUNCTION insights.heatmap_cell(integer, timestamptz, timestamptz) IS
'Checks heatmap()''s arguments (22004 for a NULL cell, 22023 for a cell outside 1..100000 or from '
'after to; NULL bounds pass) and returns the cell size. IMMUTABLE: with constant arguments it runs '
'once, when the query is planned.';

-- LANGUAGE sql, not STRICT, no SET: PostgreSQL inlines it, so the range reaches the planner and
-- only the partitions of [from, to) are scanned. Parameters are qualified by the function's name
-- (an unqualified screen would be the column), which sqlfluff takes for a missing table (RF01).
-- noqa: disable=RF01
CREATE FUNCTION insights.heatmap(
    screen text, from_at timestamptz, to_at timestamptz, cell integer DEFAULT 10
)
RETURNS TABLE (cell_x integer, cell_y integer, weight double precision, points bigint)
LANGUAGE sql
STABLE
BEGIN ATOMIC
    SELECT
        h.x / insights.heatmap_cell(heatmap.cell, heatmap.from_at, heatmap.to_at) AS cell_x,
        h.y / insights.heatmap_cell(heatmap.cell, heatmap.from_at, heatmap.to_at) AS cell_y,
        sum(h.weight) AS weight,
        count(*) AS points
    FROM insights.heatmap_points AS h
    WHERE
        h.screen = heatmap.screen
        AND h.occurred_at >= heatmap.from_at
        AND h.occurred_at < heatmap.to_at
        AND h.project_id = (SELECT insights.current_project_id())
    GROUP BY 1, 2;
END;
-- noqa: enable=RF01
COMMENT ON FUNCTION insights.heatmap(text, timestamptz, timestamptz, integer) IS
'Heatmap of one screen of the acting project over [from_at, to_at): total weight and number of '
'points per grid cell of cell x cell pixels (cell_x = x / cell, cell_y = y / cell), in no '
'particular order. Runs as the caller (RLS). Scans only the partitions of the range. A NULL screen, from_at or '
'to_at gives no rows; 22004 for a NULL cell, 22023 for a cell outside 1..100000 or from_at after to_at.';

-- Functions: experience score -----------------------------------------------------------------

-- SECURITY DEFINER: experience_scores (and the rage clicks it refreshes) are written by the
-- database only; lock_session checks the project.
CREATE FUNCTION insights.calculate_experience_score(session_id uuid)
RETURNS integer
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
#variable_conflict use_column
DECLARE
    v_session uuid := calculate_experience_score.session_id;
    v_project uuid := insights.lock_session(v_session);
    v_issues jsonb;
    v_penalty integer;
    v_score integer;
BEGIN
    PERFORM insights.detect_rage_clicks(v_session);
    WITH counts AS (
        SELECT 1 AS ord, 'rage_clicks' AS kind, 15 AS each, 45 AS cap, (
            SELECT count(*) FROM insights.rage_click_events AS r
            WHERE r.project_id = v_project AND r.session_id = v_session
        ) AS n
        UNION ALL
        SELECT 2, 'errors', 10, 30, (
            SELECT count(*) FROM insights.error_logs AS l
            WHERE l.project_id = v_project AND l.session_id = v_session
        )
        UNION ALL
        SELECT 3, 'failed_api_calls', 10, 30, (
            SELECT count(*) FROM insights.latency_metrics AS m
            WHERE m.project_id = v_project AND m.session_id = v_session AND m.status >= 500
        )
        UNION ALL
        SELECT 4, 'slow_api_calls', 5, 20, (
            SELECT count(*) FROM insights.latency_metrics AS m
            WHERE m.project_id = v_project AND m.session_id = v_session AND m.latency_ms > 1000
        )
        UNION ALL
        SELECT 5, 'negative_emotions', 5, 20, (
            SELECT count(*) FROM insights.emotion_predictions AS p
            WHERE
                p.project_id = v_project AND p.session_id = v_session
                AND p.emotion IN ('confusion', 'frustration', 'anger', 'boredom', 'sadness')
                AND p.confidence >= 0.7
        )
    )

    SELECT
        coalesce(jsonb_agg(
            jsonb_build_object('kind', c.kind, 'count', c.n, 'penalty', least(c.n * c.each, c.cap)) ORDER BY c.ord
        ) FILTER (WHERE c.n > 0), '[]'),
        sum(least(c.n * c.each, c.cap))::integer
    INTO v_issues, v_penalty
    FROM counts AS c;
    v_score := greatest(0, 100 - v_penalty);

    INSERT INTO insights.experience_scores AS s (project_id, session_id, score, issues)
    VALUES (v_project, v_session, v_score, v_issues)
    ON CONFLICT (project_id, session_id) DO UPDATE
    SET score = excluded.score, issues = excluded.issues, calculated_at = now()
    WHERE (s.score, s.issues) IS DISTINCT FROM (excluded.score, excluded.issues);
    RETURN v_score;
END
$fn$;
COMMENT ON FUNCTION insights.calculate_experience_score(uuid) IS
'Scores a session of the acting project, 0..100 (100 = no trouble), and stores it (one row per '
'session; rewritten only when it changes). Refreshes the rage clicks first (detect_rage_clicks '
'with its defaults). score = max(0, 100 - penalties), each min(count x per-item, cap): rage-click '
'bursts 15 (cap 45), error_logs rows 10 (cap 30), API calls with status >= 500 10 (cap 30), API '
'calls slower than 1000 ms 5 (cap 20), negative emotions (confusion, frustration, anger, boredom, '
'sadness) with confidence >= 0.7 5 (cap 20). issues lists them (see the column comment). Returns '
'the score. 22004 NULL, P0002 unknown session or another project''s, 42501 no acting project.';

-- Functions: personal data ----------------------------------------------------------------------

-- Runs as the caller: insights_app may update the personal columns and delete users of its project.
CREATE FUNCTION insights.erase_user(user_id uuid)
RETURNS integer
LANGUAGE plpgsql
AS $fn$
DECLARE
    v_user uuid := erase_user.user_id;
    v_project uuid := insights.require_project_id();
    v_sessions integer;
BEGIN
    IF v_user IS NULL THEN
        RAISE EXCEPTION 'user_id is NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    PERFORM FROM insights.users AS u WHERE u.project_id = v_project AND u.user_id = v_user FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'user % not found', v_user USING ERRCODE = 'no_data_found';
    END IF;
    UPDATE insights.sessions AS s
    SET ip_address = NULL, user_agent = NULL, device_id = NULL
    WHERE s.project_id = v_project AND s.user_id = v_user;
    GET DIAGNOSTICS v_sessions = ROW_COUNT;
    -- the sessions stay, anonymous (sessions_user_id_fkey: ON DELETE SET NULL (user_id))
    DELETE FROM insights.users AS u WHERE u.project_id = v_project AND u.user_id = v_user;
    RETURN v_sessions;
END
$fn$;
COMMENT ON FUNCTION insights.erase_user(uuid) IS
'Erases an end user of the acting project: their sessions lose ip_address, user_agent and '
'device_id and then their user (user_id set NULL by the foreign key), the user row (email, '
'external id) is deleted; events and every other analytics row stay, anonymous. Returns the number '
'of sessions anonymised. 22004 NULL, P0002 unknown user or another project''s, 42501 no acting '
'project.';

-- Triggers -------------------------------------------------------------------------------------

CREATE FUNCTION insights.tg__emotion_event_time()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
    IF new.event_id IS NOT NULL AND new.event_occurred_at IS NULL THEN
        SELECT e.occurred_at INTO new.event_occurred_at
        FROM insights.events AS e
        WHERE e.event_id = new.event_id AND e.project_id = new.project_id;
    END IF;
    RETURN new;
END
$fn$;
COMMENT ON FUNCTION insights.tg__emotion_event_time() IS
'Fills emotion_predictions.event_occurred_at from the event (of the same project) when only '
'event_id is given; an unknown event leaves it NULL, which chk_emotion_predictions_event_pair refuses.';

CREATE TRIGGER emotion_predictions_100_event_time
BEFORE INSERT OR UPDATE OF event_id ON insights.emotion_predictions
FOR EACH ROW EXECUTE FUNCTION insights.tg__emotion_event_time();

-- RLS policies -----------------------------------------------------------------------------------
-- insights_app acts for app.project_id: every table, its project's rows only.

ALTER TABLE insights.projects ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.users ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.events ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.rage_click_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.heatmap_points ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.journey_steps ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.latency_metrics ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.emotion_predictions ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.experience_scores ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.replay_chunks ENABLE ROW LEVEL SECURITY;
ALTER TABLE insights.error_logs ENABLE ROW LEVEL SECURITY;

CREATE POLICY projects_select_own ON insights.projects
FOR SELECT TO insights_app
USING (project_id = (SELECT insights.current_project_id()));
CREATE POLICY projects_update_own ON insights.projects
FOR UPDATE TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));

CREATE POLICY users_project ON insights.users
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
CREATE POLICY sessions_project ON insights.sessions
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
CREATE POLICY events_project ON insights.events
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
CREATE POLICY heatmap_points_project ON insights.heatmap_points
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
CREATE POLICY latency_metrics_project ON insights.latency_metrics
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
CREATE POLICY emotion_predictions_project ON insights.emotion_predictions
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
CREATE POLICY replay_chunks_project ON insights.replay_chunks
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
CREATE POLICY error_logs_project ON insights.error_logs
FOR ALL TO insights_app
USING (project_id = (SELECT insights.current_project_id()))
WITH CHECK (project_id = (SELECT insights.current_project_id()));
-- derived rows: read only (written by the analysis functions)
CREATE POLICY rage_click_events_select_own ON insights.rage_click_events
FOR SELECT TO insights_app
USING (project_id = (SELECT insights.current_project_id()));
CREATE POLICY journey_steps_select_own ON insights.journey_steps
FOR SELECT TO insights_app
USING (project_id = (SELECT insights.current_project_id()));
CREATE POLICY experience_scores_select_own ON insights.experience_scores
FOR SELECT TO insights_app
USING (project_id = (SELECT insights.current_project_id()));

-- Grants --------------------------------------------------------------------------------------------
-- Values the database assigns (ids, project_id, created_at, duration_ms, recorded_at, the derived
-- tables) are not writable by insights_app.

GRANT SELECT ON insights.projects TO insights_app;
GRANT UPDATE (name) ON insights.projects TO insights_app;
GRANT SELECT, DELETE ON insights.users TO insights_app;
GRANT INSERT (external_user_id, email, locale, device_type) ON insights.users TO insights_app;
GRANT UPDATE (external_user_id, email, locale, device_type) ON insights.users TO insights_app;
GRANT SELECT, DELETE ON insights.sessions TO insights_app;
GRANT INSERT (
    user_id, device_id, ip_address, user_agent, screen_resolution, app_version, started_at, ended_at
) ON insights.sessions TO insights_app;
GRANT UPDATE (
    user_id, device_id, ip_address, user_agent, screen_resolution, app_version, ended_at
) ON insights.sessions TO insights_app;
GRANT SELECT, DELETE ON insights.events TO insights_app;
GRANT INSERT (
    session_id, event_type, screen, element_id, x, y, scroll, metadata, occurred_at
) ON insights.events TO insights_app;
GRANT SELECT, DELETE ON insights.heatmap_points TO insights_app;
GRANT INSERT (session_id, screen, x, y, weight, occurred_at) ON insights.heatmap_points TO insights_app;
GRANT SELECT, DELETE ON insights.latency_metrics TO insights_app;
GRANT INSERT (session_id, api, latency_ms, status, occurred_at) ON insights.latency_metrics TO insights_app;
GRANT SELECT, DELETE ON insights.emotion_predictions TO insights_app;
GRANT INSERT (
    session_id, event_id, event_occurred_at, emotion, confidence, occurred_at
) ON insights.emotion_predictions TO insights_app;
GRANT SELECT, DELETE ON insights.replay_chunks TO insights_app;
GRANT INSERT (session_id, chunk_index, chunk_data) ON insights.replay_chunks TO insights_app;
GRANT SELECT, DELETE ON insights.error_logs TO insights_app;
GRANT INSERT (session_id, screen, message, stack, occurred_at) ON insights.error_logs TO insights_app;
GRANT SELECT ON insights.rage_click_events TO insights_app;
GRANT SELECT ON insights.journey_steps TO insights_app;
GRANT SELECT ON insights.experience_scores TO insights_app;

GRANT EXECUTE ON FUNCTION
insights.current_project_id(),
insights.detect_rage_clicks(uuid, integer, interval, integer),
insights.build_journey(uuid),
insights.heatmap(text, timestamptz, timestamptz, integer),
insights.heatmap_cell(integer, timestamptz, timestamptz),
insights.calculate_experience_score(uuid),
insights.erase_user(uuid),
insights.require_project_id()
TO insights_app;

SELECT ops.grant_read_only('insights', ARRAY[
    'users.email',
    'sessions.ip_address',
    'sessions.user_agent',
    'replay_chunks.chunk_data'
]);

-- Data: monthly partitions -------------------------------------------------------------------------

SELECT ops.register_partitioned_table(
    'insights.events'::regclass, 'occurred_at',
    p_premake => 3, p_start_months_back => 0, p_retention => interval '365 days', p_retention_mode => 'drop'
);
SELECT ops.register_partitioned_table(
    'insights.heatmap_points'::regclass, 'occurred_at',
    p_premake => 3, p_start_months_back => 0, p_retention => interval '180 days', p_retention_mode => 'drop'
);
SELECT ops.register_partitioned_table(
    'insights.latency_metrics'::regclass, 'occurred_at',
    p_premake => 3, p_start_months_back => 0, p_retention => interval '90 days', p_retention_mode => 'drop'
);
SELECT ops.register_partitioned_table(
    'insights.error_logs'::regclass, 'occurred_at',
    p_premake => 3, p_start_months_back => 0, p_retention => interval '180 days', p_retention_mode => 'drop'
);
