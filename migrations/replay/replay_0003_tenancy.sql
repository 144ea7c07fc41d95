-- replay 0003: tenant isolation (beyond the seed, which has none) and the application
-- role's grants.
-- depends: replay_0002_functions
--
-- The application role replay_app sets the acting user per transaction:
--   SET LOCAL app.user_id = '<uuid>';
-- unset or empty means nobody (no rows). The owner role (migrations, maintenance) owns the
-- tables and so bypasses row level security.
--
-- Who sees and writes what (organization roles: owner > admin > manager > member > viewer;
-- "member of" always means an active membership, organization_members.is_active):
--   users                a user sees themselves and the users they share an organization
--                        with; writes only themselves. password_hash is never readable.
--   user_sessions,       the user's own rows; tokens and key hashes are never readable
--   api_keys             (authenticate_session / authenticate_api_key look them up).
--   organizations        members see; owner and admin update; owner deletes. Created with
--                        replay.create_organization(), which makes the caller its owner.
--   organization_members members see their organizations' memberships and everyone sees
--                        their own; owner manages all, admin manages non-owners (and cannot
--                        grant owner); anyone may leave.
--   recordings           read: the owner, and while not soft-deleted: any user when public,
--                        members of its organization when team or organization visibility.
--                        write: the owner, and owner/admin/manager of its organization when
--                        it is not private. create: for yourself, in an organization where
--                        you are at least member (viewers cannot create).
--   recording_steps      follow their recording (read / write as above).
--   playback_sessions    the runner (user_id), and whoever may write the recording; a new
--                        session needs a recording the runner may read.
--   playback_step_results  follow their session.
--   file_storage         a session's files follow the session, a recording's files the
--                        recording.
--   webhooks             the owner, and owner/admin/manager of its organization; secret_key
--                        is never readable (webhook_signature signs with it).
--   webhook_deliveries   follow their webhook.
--   analytics_events     append-only; a user sees their own events, and owner/admin/manager
--                        their organization's.
--   analytics_summaries  read-only: your own, and your organizations' (user_id NULL).
--   audit_logs           read-only: the actions you did.
--   security_events      your own; you may report open, unresolved events.
--   retention_policies, backup_metadata, recovery_points: maintenance only (no grants).

SET LOCAL ROLE schema_tool_owner;

-- Locks ------------------------------------------------------------------------------------
-- Every table this migration alters or puts policies on, locked first, in one statement,
-- parents before children (by foreign key depth, then name): taken one by one as the
-- statements below reach them, they deadlocked with an application inserting recordings
-- (tests/test_live_migrations.py). Locked first, the migration holds nothing while it waits.

LOCK TABLE
replay.organizations, replay.users,
replay.analytics_summaries, replay.api_keys, replay.organization_members, replay.recordings,
replay.security_events, replay.user_sessions, replay.webhooks,
replay.audit_logs, replay.playback_sessions, replay.recording_steps, replay.webhook_deliveries,
replay.analytics_events, replay.file_storage, replay.playback_step_results
IN ACCESS EXCLUSIVE MODE;

-- Functions: who is who (SECURITY DEFINER: they read organization_members past its own
-- row level security, whose policies call them, so they cannot recurse) ------------------

CREATE FUNCTION replay.has_org_role(
    p_organization_id uuid,
    p_roles replay.organization_member_role[] DEFAULT NULL
)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
    SELECT
    FROM replay.organization_members AS m
    WHERE
        m.organization_id = p_organization_id
        AND m.user_id = replay.current_user_id()
        AND m.is_active
        AND (p_roles IS NULL OR m.role = any(p_roles))
);
COMMENT ON FUNCTION replay.has_org_role(uuid, replay.organization_member_role[]) IS
'True when the acting user is an active member of the organization, with one of p_roles if given. '
'SECURITY DEFINER to read memberships past their own row level security (no recursion).';

CREATE FUNCTION replay.is_co_member(p_user_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
    SELECT
    FROM replay.organization_members AS mine
    INNER JOIN replay.organization_members AS theirs ON mine.organization_id = theirs.organization_id
    WHERE
        mine.user_id = replay.current_user_id()
        AND mine.is_active
        AND theirs.user_id = p_user_id
        AND theirs.is_active
);
COMMENT ON FUNCTION replay.is_co_member(uuid) IS
'True when the acting user and p_user_id are active members of a common organization. '
'SECURITY DEFINER to read memberships past their own row level security.';

-- Functions: row rules, shared by the policies and the functions below ------------------

CREATE FUNCTION replay.recording_readable(
    p_user_id uuid,
    p_organization_id uuid,
    p_visibility replay.recording_visibility,
    p_deleted_at timestamptz
)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN p_user_id = replay.current_user_id()
OR (
    p_deleted_at IS NULL
    AND (
        (p_visibility = 'public' AND replay.current_user_id() IS NOT NULL)
        OR (p_visibility IN ('team', 'organization') AND replay.has_org_role(p_organization_id))
    )
);
COMMENT ON FUNCTION replay.recording_readable(uuid, uuid, replay.recording_visibility, timestamptz) IS
'Read rule of a recording row for the acting user: the owner; any user for a live public one; '
'active members of its organization for a live team or organization one. Nobody when no user acts.';

CREATE FUNCTION replay.recording_writable(
    p_user_id uuid,
    p_organization_id uuid,
    p_visibility replay.recording_visibility
)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN p_user_id = replay.current_user_id()
OR (
    p_visibility <> 'private'
    AND replay.has_org_role(p_organization_id, '{owner,admin,manager}')
);
COMMENT ON FUNCTION replay.recording_writable(uuid, uuid, replay.recording_visibility) IS
'Update/delete rule of a recording row for the acting user: the owner; owner, admin and manager '
'of its organization unless it is private.';

CREATE FUNCTION replay.recording_placeable(
    p_user_id uuid,
    p_organization_id uuid,
    p_visibility replay.recording_visibility
)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN (
    p_user_id = replay.current_user_id()
    AND (p_organization_id IS NULL OR replay.has_org_role(p_organization_id, '{owner,admin,manager,member}'))
)
OR (
    p_visibility <> 'private'
    AND replay.has_org_role(p_organization_id, '{owner,admin,manager}')
);
COMMENT ON FUNCTION replay.recording_placeable(uuid, uuid, replay.recording_visibility) IS
'Rule for a new or changed recording row: your own, outside organizations or in one where you are '
'at least member; or, not private, in an organization where you are owner, admin or manager.';

CREATE FUNCTION replay.webhook_accessible(p_user_id uuid, p_organization_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN p_user_id = replay.current_user_id()
OR replay.has_org_role(p_organization_id, '{owner,admin,manager}');
COMMENT ON FUNCTION replay.webhook_accessible(uuid, uuid) IS
'Access rule of a webhook row for the acting user: its owner; owner, admin and manager of its '
'organization.';

-- Functions: following a parent row (as the caller: the parent's own policies decide) ------

CREATE FUNCTION replay.can_read_recording(p_recording_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN EXISTS (
    SELECT
    FROM replay.recordings AS r
    WHERE r.id = p_recording_id
);
COMMENT ON FUNCTION replay.can_read_recording(uuid) IS
'True when the caller may read the recording (its row level security decides).';

CREATE FUNCTION replay.can_write_recording(p_recording_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN EXISTS (
    SELECT
    FROM replay.recordings AS r
    WHERE
        r.id = p_recording_id
        AND replay.recording_writable(r.user_id, r.organization_id, r.visibility)
);
COMMENT ON FUNCTION replay.can_write_recording(uuid) IS
'True when the caller may read and write the recording.';

CREATE FUNCTION replay.can_access_session(p_session_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
RETURN EXISTS (
    SELECT
    FROM replay.playback_sessions AS s
    WHERE s.id = p_session_id
);
COMMENT ON FUNCTION replay.can_access_session(uuid) IS
'True when the caller may use the playback session (its row level security decides).';

-- Functions: for the application (secrets stay in the database) ---------------------------

-- SECURITY DEFINER: organizations has no INSERT grant (a new organization has no members,
-- so the caller could not see it yet); this creates it with the caller as its owner.
CREATE FUNCTION replay.create_organization(p_name varchar, p_slug varchar, p_description text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_me uuid := replay.current_user_id();
    v_id uuid;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'set app.user_id to create an organization' USING ERRCODE = 'insufficient_privilege';
    END IF;
    INSERT INTO replay.organizations (name, slug, description)
    VALUES (p_name, p_slug, p_description)
    RETURNING id INTO v_id;
    INSERT INTO replay.organization_members (organization_id, user_id, role, joined_at)
    VALUES (v_id, v_me, 'owner', current_timestamp);
    RETURN v_id;
END
$fn$;
COMMENT ON FUNCTION replay.create_organization(varchar, varchar, text) IS
'Creates an organization with the acting user as its active owner; returns its id. SECURITY '
'DEFINER because the caller cannot insert organizations directly.';

-- SECURITY DEFINER: session tokens are not readable by replay_app; this looks one up
-- without revealing any.
CREATE FUNCTION replay.authenticate_session(p_session_token text)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_user uuid;
BEGIN
    UPDATE replay.user_sessions AS s
    SET last_activity_at = current_timestamp
    FROM replay.users AS u
    WHERE
        s.session_token = p_session_token
        AND s.is_active
        AND s.expires_at > current_timestamp
        AND u.id = s.user_id
        AND u.is_active
        AND u.deleted_at IS NULL
        AND (u.locked_until IS NULL OR u.locked_until <= current_timestamp)
    RETURNING s.user_id INTO v_user;
    RETURN v_user;
END
$fn$;
COMMENT ON FUNCTION replay.authenticate_session(text) IS
'The user of an active, unexpired session token (of an active, unlocked, not deleted user), '
'touching its last_activity_at; NULL otherwise. SECURITY DEFINER: tokens are not readable by replay_app.';

-- SECURITY DEFINER: key hashes are not readable by replay_app; this looks one up without
-- revealing any, and counts the use.
CREATE FUNCTION replay.authenticate_api_key(p_key_hash text)
RETURNS TABLE (user_id uuid, api_key_id uuid, scopes text[])
LANGUAGE sql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    UPDATE replay.api_keys AS k
    SET
        usage_count = k.usage_count + 1,
        last_used_at = current_timestamp
    FROM replay.users AS u
    WHERE
        k.key_hash = p_key_hash
        AND k.is_active
        AND (k.expires_at IS NULL OR k.expires_at > current_timestamp)
        AND u.id = k.user_id
        AND u.is_active
        AND u.deleted_at IS NULL
    RETURNING k.user_id, k.id, k.scopes;
END;
COMMENT ON FUNCTION replay.authenticate_api_key(text) IS
'The user, key id and scopes of an active, unexpired API key given its hash (of an active user), '
'counting the use (usage_count, last_used_at); no row otherwise. SECURITY DEFINER: key hashes are '
'not readable by replay_app.';

-- SECURITY DEFINER: webhook secrets are not readable by replay_app; this signs with one
-- without revealing it, for webhooks the caller may access. pgcrypto's hmac() lives in the
-- schema the extension was created in (public on plain PostgreSQL, extensions on
-- Supabase): read from the catalog, never assumed. The body is parsed here, once, by the
-- migrating role, which may use that schema (on Supabase schema_tool_owner may not); the
-- function then goes to schema_tool_owner with the privileges ops_0001's default
-- privileges give the owner's functions (EXECUTE for the owner only).
SET LOCAL ROLE NONE;

DO $sign$
DECLARE
    v_grantee regrole;
    v_schema name := (
        SELECT n.nspname
        FROM pg_catalog.pg_extension AS e
        INNER JOIN pg_catalog.pg_namespace AS n ON e.extnamespace = n.oid
        WHERE e.extname = 'pgcrypto'
    );
BEGIN
    IF v_schema IS NULL THEN
        RAISE EXCEPTION 'replay needs the pgcrypto extension (ops_0001 creates it)'
        USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE pg_catalog.format($fn$
CREATE FUNCTION replay.webhook_signature(p_webhook_id uuid, p_payload text)
RETURNS text
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN (
    SELECT encode(%I.hmac(p_payload, w.secret_key::text, 'sha256'), 'hex')
    FROM replay.webhooks AS w
    WHERE
        w.id = p_webhook_id
        AND w.secret_key IS NOT NULL
        AND replay.webhook_accessible(w.user_id, w.organization_id)
)
$fn$, v_schema);
    ALTER FUNCTION replay.webhook_signature(uuid, text) OWNER TO schema_tool_owner;
    REVOKE ALL ON FUNCTION replay.webhook_signature(uuid, text) FROM PUBLIC;
    FOR v_grantee IN
        SELECT a.grantee::regrole
        FROM pg_catalog.pg_proc AS p, pg_catalog.aclexplode(p.proacl) AS a
        WHERE p.oid = 'replay.webhook_signature(uuid, text)'::regprocedure AND a.grantee <> p.proowner
    LOOP
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION replay.webhook_signature(uuid, text) FROM %s', v_grantee);
    END LOOP;
END
$sign$;

SET LOCAL ROLE schema_tool_owner;

COMMENT ON FUNCTION replay.webhook_signature(uuid, text) IS
'Hex HMAC-SHA256 of a payload with the webhook''s secret_key, for a webhook the acting user may '
'access; NULL otherwise or without a secret. SECURITY DEFINER: secrets are not readable by replay_app.';

CREATE FUNCTION replay.like_pattern(p_text text)
RETURNS text
LANGUAGE sql
IMMUTABLE
PARALLEL SAFE
RETURN '%' || replace(replace(replace(p_text, '\', '\\'), '%', '\%'), '_', '\_') || '%';
COMMENT ON FUNCTION replay.like_pattern(text) IS
'A LIKE/ILIKE pattern matching p_text anywhere, its own %, _ and \ taken literally.';

-- SECURITY DEFINER: under row level security PostgreSQL cannot use an index for a
-- condition that is not leakproof (@@, ILIKE), so the search indexes would go unused for
-- replay_app. This searches through them as the owner and applies the same read rule as
-- the recordings_select policy (replay.recording_readable) to the acting user.
CREATE FUNCTION replay.search_recordings(p_query text)
RETURNS SETOF replay.recordings
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT r.*
    FROM replay.recordings AS r
    WHERE
        (
            replay.recording_search_vector(r.name, r.description, r.tags)
            @@ websearch_to_tsquery('english'::regconfig, p_query)
            OR r.name ILIKE replay.like_pattern(p_query)
            OR r.description ILIKE replay.like_pattern(p_query)
        )
        AND r.deleted_at IS NULL
        AND replay.recording_readable(r.user_id, r.organization_id, r.visibility, r.deleted_at)
    ORDER BY
        ts_rank(
            replay.recording_search_vector(r.name, r.description, r.tags),
            websearch_to_tsquery('english'::regconfig, p_query)
        ) DESC,
        r.created_at DESC;
END;
COMMENT ON FUNCTION replay.search_recordings(text) IS
'Live recordings the acting user may read that match a web-style full-text query (english, on '
'name, description and tags) or contain it in their name or description (trigram indexes), best '
'first. SECURITY DEFINER so the search indexes are usable under row level security; applies the '
'recordings read rule itself.';

-- RLS policies (row level security is enabled on every table by replay_0001) ----------------

CREATE POLICY users_select ON replay.users
FOR SELECT TO replay_app
USING (id = (SELECT replay.current_user_id()) OR replay.is_co_member(id));
CREATE POLICY users_insert ON replay.users
FOR INSERT TO replay_app
WITH CHECK (id = (SELECT replay.current_user_id()));
CREATE POLICY users_update ON replay.users
FOR UPDATE TO replay_app
USING (id = (SELECT replay.current_user_id()))
WITH CHECK (id = (SELECT replay.current_user_id()));
CREATE POLICY users_delete ON replay.users
FOR DELETE TO replay_app
USING (id = (SELECT replay.current_user_id()));

CREATE POLICY user_sessions_own ON replay.user_sessions
FOR ALL TO replay_app
USING (user_id = (SELECT replay.current_user_id()))
WITH CHECK (user_id = (SELECT replay.current_user_id()));

CREATE POLICY api_keys_own ON replay.api_keys
FOR ALL TO replay_app
USING (user_id = (SELECT replay.current_user_id()))
WITH CHECK (user_id = (SELECT replay.current_user_id()));

CREATE POLICY organizations_select ON replay.organizations
FOR SELECT TO replay_app
USING (replay.has_org_role(id));
CREATE POLICY organizations_update ON replay.organizations
FOR UPDATE TO replay_app
USING (replay.has_org_role(id, '{owner,admin}'))
WITH CHECK (replay.has_org_role(id, '{owner,admin}'));
CREATE POLICY organizations_delete ON replay.organizations
FOR DELETE TO replay_app
USING (replay.has_org_role(id, '{owner}'));

CREATE POLICY organization_members_select ON replay.organization_members
FOR SELECT TO replay_app
USING (user_id = (SELECT replay.current_user_id()) OR replay.has_org_role(organization_id));
CREATE POLICY organization_members_insert ON replay.organization_members
FOR INSERT TO replay_app
WITH CHECK (
    replay.has_org_role(organization_id, '{owner}')
    OR (replay.has_org_role(organization_id, '{admin}') AND role <> 'owner')
);
CREATE POLICY organization_members_update ON replay.organization_members
FOR UPDATE TO replay_app
USING (
    replay.has_org_role(organization_id, '{owner}')
    OR (replay.has_org_role(organization_id, '{admin}') AND role <> 'owner')
)
WITH CHECK (
    replay.has_org_role(organization_id, '{owner}')
    OR (replay.has_org_role(organization_id, '{admin}') AND role <> 'owner')
);
CREATE POLICY organization_members_delete ON replay.organization_members
FOR DELETE TO replay_app
USING (
    user_id = (SELECT replay.current_user_id())
    OR replay.has_org_role(organization_id, '{owner}')
    OR (replay.has_org_role(organization_id, '{admin}') AND role <> 'owner')
);

CREATE POLICY recordings_select ON replay.recordings
FOR SELECT TO replay_app
USING (replay.recording_readable(user_id, organization_id, visibility, deleted_at));
CREATE POLICY recordings_insert ON replay.recordings
FOR INSERT TO replay_app
WITH CHECK (replay.recording_placeable(user_id, organization_id, visibility));
CREATE POLICY recordings_update ON replay.recordings
FOR UPDATE TO replay_app
USING (replay.recording_writable(user_id, organization_id, visibility))
WITH CHECK (replay.recording_placeable(user_id, organization_id, visibility));
CREATE POLICY recordings_delete ON replay.recordings
FOR DELETE TO replay_app
USING (replay.recording_writable(user_id, organization_id, visibility));

CREATE POLICY recording_steps_select ON replay.recording_steps
FOR SELECT TO replay_app
USING (replay.can_read_recording(recording_id));
CREATE POLICY recording_steps_insert ON replay.recording_steps
FOR INSERT TO replay_app
WITH CHECK (replay.can_write_recording(recording_id));
CREATE POLICY recording_steps_update ON replay.recording_steps
FOR UPDATE TO replay_app
USING (replay.can_write_recording(recording_id))
WITH CHECK (replay.can_write_recording(recording_id));
CREATE POLICY recording_steps_delete ON replay.recording_steps
FOR DELETE TO replay_app
USING (replay.can_write_recording(recording_id));

CREATE POLICY playback_sessions_select ON replay.playback_sessions
FOR SELECT TO replay_app
USING (user_id = (SELECT replay.current_user_id()) OR replay.can_write_recording(recording_id));
CREATE POLICY playback_sessions_insert ON replay.playback_sessions
FOR INSERT TO replay_app
WITH CHECK (
    user_id = (SELECT replay.current_user_id())
    AND replay.can_read_recording(recording_id)
    AND (organization_id IS NULL OR replay.has_org_role(organization_id))
);
CREATE POLICY playback_sessions_update ON replay.playback_sessions
FOR UPDATE TO replay_app
USING (user_id = (SELECT replay.current_user_id()) OR replay.can_write_recording(recording_id))
WITH CHECK (
    (user_id = (SELECT replay.current_user_id()) OR replay.can_write_recording(recording_id))
    AND replay.can_read_recording(recording_id)
    AND (organization_id IS NULL OR replay.has_org_role(organization_id))
);
CREATE POLICY playback_sessions_delete ON replay.playback_sessions
FOR DELETE TO replay_app
USING (user_id = (SELECT replay.current_user_id()) OR replay.can_write_recording(recording_id));

CREATE POLICY playback_step_results_session ON replay.playback_step_results
FOR ALL TO replay_app
USING (replay.can_access_session(session_id))
WITH CHECK (replay.can_access_session(session_id));

CREATE POLICY file_storage_select ON replay.file_storage
FOR SELECT TO replay_app
USING (
    CASE
        WHEN session_id IS NOT NULL THEN replay.can_access_session(session_id)
        ELSE replay.can_read_recording(recording_id)
    END
);
CREATE POLICY file_storage_insert ON replay.file_storage
FOR INSERT TO replay_app
WITH CHECK (
    CASE
        WHEN session_id IS NOT NULL THEN replay.can_access_session(session_id)
        ELSE replay.can_write_recording(recording_id)
    END
    AND (recording_id IS NULL OR replay.can_read_recording(recording_id))
);
CREATE POLICY file_storage_update ON replay.file_storage
FOR UPDATE TO replay_app
USING (
    CASE
        WHEN session_id IS NOT NULL THEN replay.can_access_session(session_id)
        ELSE replay.can_write_recording(recording_id)
    END
)
WITH CHECK (
    CASE
        WHEN session_id IS NOT NULL THEN replay.can_access_session(session_id)
        ELSE replay.can_write_recording(recording_id)
    END
    AND (recording_id IS NULL OR replay.can_read_recording(recording_id))
);
CREATE POLICY file_storage_delete ON replay.file_storage
FOR DELETE TO replay_app
USING (
    CASE
        WHEN session_id IS NOT NULL THEN replay.can_access_session(session_id)
        ELSE replay.can_write_recording(recording_id)
    END
);

CREATE POLICY webhooks_select ON replay.webhooks
FOR SELECT TO replay_app
USING (replay.webhook_accessible(user_id, organization_id));
CREATE POLICY webhooks_insert ON replay.webhooks
FOR INSERT TO replay_app
WITH CHECK (
    (organization_id IS NULL AND user_id = (SELECT replay.current_user_id()))
    OR replay.has_org_role(organization_id, '{owner,admin,manager}')
);
CREATE POLICY webhooks_update ON replay.webhooks
FOR UPDATE TO replay_app
USING (replay.webhook_accessible(user_id, organization_id))
WITH CHECK (
    (organization_id IS NULL AND user_id = (SELECT replay.current_user_id()))
    OR replay.has_org_role(organization_id, '{owner,admin,manager}')
);
CREATE POLICY webhooks_delete ON replay.webhooks
FOR DELETE TO replay_app
USING (replay.webhook_accessible(user_id, organization_id));

CREATE POLICY webhook_deliveries_webhook ON replay.webhook_deliveries
FOR ALL TO replay_app
USING (
    EXISTS (
        SELECT
        FROM replay.webhooks AS w
        WHERE w.id = webhook_id
    )
)
WITH CHECK (
    EXISTS (
        SELECT
        FROM replay.webhooks AS w
        WHERE w.id = webhook_id
    )
);

CREATE POLICY analytics_events_select ON replay.analytics_events
FOR SELECT TO replay_app
USING (
    user_id = (SELECT replay.current_user_id())
    OR replay.has_org_role(organization_id, '{owner,admin,manager}')
);
CREATE POLICY analytics_events_insert ON replay.analytics_events
FOR INSERT TO replay_app
WITH CHECK (
    user_id = (SELECT replay.current_user_id())
    AND (organization_id IS NULL OR replay.has_org_role(organization_id))
    AND (recording_id IS NULL OR replay.can_read_recording(recording_id))
    AND (session_id IS NULL OR replay.can_access_session(session_id))
);

CREATE POLICY analytics_summaries_select ON replay.analytics_summaries
FOR SELECT TO replay_app
USING (
    user_id = (SELECT replay.current_user_id())
    OR (user_id IS NULL AND replay.has_org_role(organization_id))
);

CREATE POLICY audit_logs_select ON replay.audit_logs
FOR SELECT TO replay_app
USING (user_id = (SELECT replay.current_user_id()));

CREATE POLICY security_events_select ON replay.security_events
FOR SELECT TO replay_app
USING (user_id = (SELECT replay.current_user_id()));
CREATE POLICY security_events_insert ON replay.security_events
FOR INSERT TO replay_app
WITH CHECK (
    status = 'open'
    AND resolved_by IS NULL
    AND (user_id IS NULL OR user_id = (SELECT replay.current_user_id()))
);

-- Grants to replay_app ----------------------------------------------------------------------
-- Secret columns are write-only: no SELECT on them (so no RETURNING * and no SELECT * on
-- those tables; name the columns).

GRANT SELECT (
    id, email, name, role, avatar_url, is_active, is_verified, last_login_at, failed_login_attempts,
    locked_until, settings, created_at, updated_at, deleted_at
) ON replay.users TO replay_app;
GRANT INSERT, UPDATE, DELETE ON replay.users TO replay_app;

GRANT SELECT (
    id, user_id, device_info, ip_address, user_agent, is_active, expires_at, created_at, last_activity_at
) ON replay.user_sessions TO replay_app;
GRANT INSERT, UPDATE, DELETE ON replay.user_sessions TO replay_app;

GRANT SELECT (
    id, user_id, name, key_prefix, scopes, is_active, last_used_at, usage_count, rate_limit_per_hour,
    expires_at, created_at
) ON replay.api_keys TO replay_app;
GRANT INSERT, UPDATE, DELETE ON replay.api_keys TO replay_app;

GRANT SELECT (
    id, user_id, organization_id, name, url, events, is_active, last_triggered_at, success_count,
    failure_count, retry_policy, headers, created_at, updated_at
) ON replay.webhooks TO replay_app;
GRANT INSERT, UPDATE, DELETE ON replay.webhooks TO replay_app;

GRANT SELECT, UPDATE, DELETE ON replay.organizations TO replay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON replay.organization_members TO replay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON replay.recordings TO replay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON replay.recording_steps TO replay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON replay.playback_sessions TO replay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON replay.playback_step_results TO replay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON replay.file_storage TO replay_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON replay.webhook_deliveries TO replay_app;
GRANT SELECT, INSERT ON replay.analytics_events TO replay_app;
GRANT SELECT ON replay.analytics_summaries TO replay_app;
GRANT SELECT ON replay.audit_logs TO replay_app;
GRANT SELECT, INSERT ON replay.security_events TO replay_app;

GRANT SELECT ON replay.recording_summaries TO replay_app;
GRANT SELECT ON replay.active_playback_sessions TO replay_app;
GRANT SELECT ON replay.user_activity_summaries TO replay_app;

GRANT EXECUTE ON FUNCTION replay.current_user_id() TO replay_app;
GRANT EXECUTE ON FUNCTION replay.recording_search_vector(text, text, text[]) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.calculate_compression_ratio(bigint, bigint) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.get_recording_step_stats(uuid) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.has_org_role(uuid, replay.organization_member_role[]) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.is_co_member(uuid) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.recording_readable(
    uuid, uuid, replay.recording_visibility, timestamptz
) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.recording_writable(uuid, uuid, replay.recording_visibility) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.recording_placeable(uuid, uuid, replay.recording_visibility) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.webhook_accessible(uuid, uuid) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.can_read_recording(uuid) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.can_write_recording(uuid) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.can_access_session(uuid) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.create_organization(varchar, varchar, text) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.authenticate_session(text) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.authenticate_api_key(text) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.webhook_signature(uuid, text) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.search_recordings(text) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.like_pattern(text) TO replay_app;
