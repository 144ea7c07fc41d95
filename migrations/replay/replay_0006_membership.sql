-- replay 0006: membership by consent, rows created for someone else, and what deleting an
-- organization takes with it (issue 11, items 3 and 4 for replay).
-- depends: replay_0005_assigned_values
--
-- - An organization's owner or admin no longer inserts members (anyone's uuid, which public
--   recordings leak, made them a co-member whose email and profile the inviter then read).
--   They invite: replay.invite_member() returns a one-time token (only its SHA-256 is stored)
--   and the invitee joins with replay.accept_invitation(token), as the acting user. Members'
--   organization, user and inviter are no longer writable (role, permissions and is_active are).
-- - A recording or a webhook is created for the acting user only (user_id), and only its owner
--   moves it to another organization or changes a recording's visibility (a manager of two
--   organizations could move a colleague's recording, or publish it).
-- - Deleting an organization no longer deletes its members' recordings (some private, which
--   the owner cannot read) nor their playback sessions: ON DELETE SET NULL, so they stay their
--   owners'. The foreign keys are replaced NOT VALID here and validated by replay_0008.
-- - An audit row names as user_id only an actor who may write the row it records; others (a
--   cascade from an organization's deletion) keep the actor in details.actor, out of their
--   reach (audit_logs_select shows a user their own actions, with old and new values).

SET LOCAL ROLE schema_tool_owner;

-- Tables ------------------------------------------------------------------------------

CREATE TABLE replay.organization_invitations (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    organization_id uuid NOT NULL REFERENCES replay.organizations (id) ON DELETE CASCADE,
    role replay.organization_member_role NOT NULL DEFAULT 'member',
    token_hash bytea NOT NULL UNIQUE,
    invited_by uuid NOT NULL REFERENCES replay.users (id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT current_timestamp,
    expires_at timestamptz NOT NULL,
    CONSTRAINT chk_organization_invitations_expiry CHECK (expires_at > created_at)
);
ALTER TABLE replay.organization_invitations ENABLE ROW LEVEL SECURITY;

-- parents before children: organizations, then recordings, then playback_sessions
LOCK TABLE replay.organizations IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE replay.recordings
DROP CONSTRAINT recordings_organization_id_fkey,
ADD CONSTRAINT recordings_organization_id_fkey FOREIGN KEY (organization_id)
REFERENCES replay.organizations (id) ON DELETE SET NULL NOT VALID;

ALTER TABLE replay.playback_sessions
DROP CONSTRAINT playback_sessions_organization_id_fkey,
ADD CONSTRAINT playback_sessions_organization_id_fkey FOREIGN KEY (organization_id)
REFERENCES replay.organizations (id) ON DELETE SET NULL NOT VALID;

-- Indexes -----------------------------------------------------------------------------

CREATE INDEX idx_organization_invitations_organization_id ON replay.organization_invitations (organization_id);
CREATE INDEX idx_organization_invitations_invited_by ON replay.organization_invitations (invited_by);

-- Comments ----------------------------------------------------------------------------

COMMENT ON TABLE replay.organization_invitations IS
'Pending invitations to an organization (replay.invite_member by an owner, or an admin for roles below '
'owner; replay.accept_invitation by the invitee, once, before expires_at). token_hash is the SHA-256 of '
'the token handed out: a secret, never readable by replay_app or the read-only role.';

-- Functions: membership (SECURITY DEFINER: organization_members has no INSERT grant; each
-- checks the acting user) --------------------------------------------------------------

CREATE FUNCTION replay.invite_member(
    p_organization_id uuid,
    p_role replay.organization_member_role DEFAULT 'member',
    p_valid_for interval DEFAULT interval '7 days'
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_me uuid := replay.current_user_id();
    v_token text;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'set app.user_id to invite' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_organization_id IS NULL OR p_role IS NULL OR p_valid_for IS NULL THEN
        RAISE EXCEPTION 'organization, role and validity must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_valid_for <= interval '0' OR p_valid_for > interval '30 days' THEN
        RAISE EXCEPTION 'an invitation is valid for more than nothing and at most 30 days, not %', p_valid_for
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT (
        replay.has_org_role(p_organization_id, '{owner}')
        OR (p_role <> 'owner' AND replay.has_org_role(p_organization_id, '{admin}'))
    ) THEN
        RAISE EXCEPTION 'only the organization''s owner, or an admin for roles below owner, invites'
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- 244 random bits (gen_random_uuid() draws from the strong random source)
    v_token := 'rpi_' || pg_catalog.replace(gen_random_uuid()::text, '-', '')
        || pg_catalog.replace(gen_random_uuid()::text, '-', '');
    INSERT INTO replay.organization_invitations (organization_id, role, token_hash, invited_by, expires_at)
    VALUES (
        p_organization_id, p_role, pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8')), v_me,
        current_timestamp + p_valid_for
    );
    RETURN v_token;
END
$fn$;
COMMENT ON FUNCTION replay.invite_member(uuid, replay.organization_member_role, interval) IS
'An active owner (any role) or admin (roles below owner) of the organization invites someone; returns '
'the one-time token to hand to the invitee (only its hash is stored). 42501 otherwise; 22004 NULLs; '
'22023 a validity outside (0, 30 days].';

CREATE FUNCTION replay.accept_invitation(p_token text)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_me uuid := replay.current_user_id();
    v_invitation replay.organization_invitations;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'set app.user_id to accept an invitation' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_token IS NULL THEN
        RAISE EXCEPTION 'token must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_token = '' THEN
        RAISE EXCEPTION 'token must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM replay.organization_invitations AS i
    WHERE i.token_hash = pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
    RETURNING i.* INTO v_invitation;
    IF NOT FOUND OR v_invitation.expires_at <= current_timestamp THEN
        RAISE EXCEPTION 'no such invitation, or it expired' USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT EXISTS (SELECT FROM replay.users AS u WHERE u.id = v_me AND u.deleted_at IS NULL) THEN
        RAISE EXCEPTION 'no user %', v_me USING ERRCODE = 'no_data_found';
    END IF;
    INSERT INTO replay.organization_members AS m (
        organization_id, user_id, role, invited_by, invited_at, joined_at, is_active
    ) VALUES (
        v_invitation.organization_id, v_me, v_invitation.role, v_invitation.invited_by, v_invitation.created_at,
        current_timestamp, TRUE
    )
    ON CONFLICT (organization_id, user_id) DO UPDATE
        SET role = excluded.role,
            invited_by = excluded.invited_by,
            invited_at = excluded.invited_at,
            joined_at = excluded.joined_at,
            is_active = TRUE;
    RETURN v_invitation.organization_id;
END
$fn$;
COMMENT ON FUNCTION replay.accept_invitation(text) IS
'The acting user accepts an invitation by its token: becomes an active member with its role (an '
'existing membership takes that role and is active again). One use. Returns the organization id. '
'42501 no acting user; 22004/22023 NULL or empty token; P0002 unknown, used or expired token.';

-- Functions: owner-only moves (SECURITY DEFINER: a policy on a table may not query that
-- table, PostgreSQL reports infinite recursion. Called from an UPDATE's WITH CHECK, they
-- read the row as the statement found it, and answer only about rows the acting user may
-- read, so they reveal nothing.) ----------------------------------------------------------

CREATE FUNCTION replay.recording_placement_unchanged(
    p_id uuid,
    p_organization_id uuid,
    p_visibility replay.recording_visibility
)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
    SELECT
    FROM replay.recordings AS r
    WHERE
        r.id = p_id
        AND r.organization_id IS NOT DISTINCT FROM p_organization_id
        AND r.visibility IS NOT DISTINCT FROM p_visibility
        AND replay.recording_readable(r.user_id, r.organization_id, r.visibility, r.deleted_at)
);
COMMENT ON FUNCTION replay.recording_placement_unchanged(uuid, uuid, replay.recording_visibility) IS
'True when the recording p_id, readable by the acting user, has organization p_organization_id and '
'visibility p_visibility as the statement found it (recordings_owner_moves: only the owner changes '
'them).';

CREATE FUNCTION replay.webhook_organization_unchanged(p_id uuid, p_organization_id uuid)
RETURNS boolean
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
RETURN EXISTS (
    SELECT
    FROM replay.webhooks AS w
    WHERE
        w.id = p_id
        AND w.organization_id IS NOT DISTINCT FROM p_organization_id
        AND replay.webhook_accessible(w.user_id, w.organization_id)
);
COMMENT ON FUNCTION replay.webhook_organization_unchanged(uuid, uuid) IS
'True when the webhook p_id, accessible to the acting user, has organization p_organization_id as the '
'statement found it (webhooks_owner_moves: only the owner moves a webhook).';

-- SECURITY DEFINER: audit rows are written by the owner, so the application role needs
-- (and has) no INSERT on audit_logs and cannot forge or alter audit rows.
CREATE OR REPLACE FUNCTION replay.audit_trigger_function()
RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_secrets constant text[] := ARRAY['password_hash', 'session_token', 'refresh_token', 'key_hash', 'secret_key'];
    v_action replay.audit_action;
    v_id uuid;
    v_old jsonb;
    v_new jsonb;
    v_subject jsonb;
    v_details jsonb;
    v_actor uuid := replay.current_user_id();
    v_key text;
BEGIN
    IF TG_OP = 'DELETE' THEN
        v_action := 'delete';
        v_id := OLD.id;
        v_old := to_jsonb(OLD);
    ELSIF TG_OP = 'UPDATE' THEN
        v_action := 'update';
        v_id := NEW.id;
        v_old := to_jsonb(OLD);
        v_new := to_jsonb(NEW);
        SELECT jsonb_build_object('changedColumns', coalesce(jsonb_agg(n.key ORDER BY n.key), '[]'))
        INTO v_details
        FROM jsonb_each(v_new) AS n
        WHERE n.value IS DISTINCT FROM v_old -> n.key;
    ELSE
        v_action := 'create';
        v_id := NEW.id;
        v_new := to_jsonb(NEW);
    END IF;
    FOREACH v_key IN ARRAY v_secrets LOOP
        IF v_old ->> v_key IS NOT NULL THEN
            v_old := jsonb_set(v_old, ARRAY[v_key], '"[REDACTED]"');
        END IF;
        IF v_new ->> v_key IS NOT NULL THEN
            v_new := jsonb_set(v_new, ARRAY[v_key], '"[REDACTED]"');
        END IF;
    END LOOP;
    -- the actor, unless gone (a user deleting their own account)
    IF v_actor IS NOT NULL AND NOT EXISTS (SELECT FROM replay.users AS u WHERE u.id = v_actor) THEN
        v_actor := NULL;
    END IF;
    -- the actor reads the rows naming them, values included: only for a row they may write
    v_subject := coalesce(v_old, v_new);
    IF v_actor IS NOT NULL AND NOT coalesce(
        CASE TG_TABLE_NAME
            WHEN 'users' THEN (v_subject ->> 'id')::uuid = v_actor
            WHEN 'recordings' THEN replay.recording_writable(
                (v_subject ->> 'user_id')::uuid,
                (v_subject ->> 'organization_id')::uuid,
                (v_subject ->> 'visibility')::replay.recording_visibility
            )
        END,
        FALSE
    ) THEN
        v_details := coalesce(v_details, '{}') || jsonb_build_object('actor', v_actor);
        v_actor := NULL;
    END IF;
    INSERT INTO replay.audit_logs (
        user_id, action, resource_type, resource_id, details, old_values, new_values, status, created_at
    ) VALUES (
        v_actor, v_action, TG_TABLE_NAME, v_id, v_details, v_old, v_new, 'success', current_timestamp
    );
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION replay.audit_trigger_function() IS
'AFTER INSERT/UPDATE/DELETE row trigger: one replay.audit_logs row per change, with the old and new '
'row with secret columns (password_hash, tokens, key hashes, webhook secrets) replaced by "[REDACTED]", '
'the changed column names, and the acting user (app.user_id) as user_id when they may write the row '
'(else in details.actor, so that a cascade does not show them rows they cannot read).';

-- RLS policies ------------------------------------------------------------------------

ALTER POLICY recordings_insert ON replay.recordings
WITH CHECK (
    user_id = (SELECT replay.current_user_id())
    AND (organization_id IS NULL OR replay.has_org_role(organization_id, '{owner,admin,manager,member}'))
);

CREATE POLICY recordings_owner_moves ON replay.recordings
AS RESTRICTIVE
FOR UPDATE TO replay_app
WITH CHECK (
    user_id = (SELECT replay.current_user_id())
    OR replay.recording_placement_unchanged(id, organization_id, visibility)
);

ALTER POLICY webhooks_insert ON replay.webhooks
WITH CHECK (
    user_id = (SELECT replay.current_user_id())
    AND (organization_id IS NULL OR replay.has_org_role(organization_id, '{owner,admin,manager}'))
);

CREATE POLICY webhooks_owner_moves ON replay.webhooks
AS RESTRICTIVE
FOR UPDATE TO replay_app
WITH CHECK (
    user_id = (SELECT replay.current_user_id())
    OR replay.webhook_organization_unchanged(id, organization_id)
);

DROP POLICY organization_members_insert ON replay.organization_members;

CREATE POLICY organization_invitations_select ON replay.organization_invitations
FOR SELECT TO replay_app
USING (replay.has_org_role(organization_id, '{owner,admin}'));

CREATE POLICY organization_invitations_delete ON replay.organization_invitations
FOR DELETE TO replay_app
USING (replay.has_org_role(organization_id, '{owner,admin}'));

-- Grants ------------------------------------------------------------------------------

REVOKE INSERT, UPDATE ON replay.organization_members FROM replay_app;
GRANT UPDATE (role, permissions, is_active) ON replay.organization_members TO replay_app;

GRANT SELECT (id, organization_id, role, invited_by, created_at, expires_at), DELETE
ON replay.organization_invitations TO replay_app;

GRANT EXECUTE ON FUNCTION replay.invite_member(uuid, replay.organization_member_role, interval) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.accept_invitation(text) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.recording_placement_unchanged(
    uuid, uuid, replay.recording_visibility
) TO replay_app;
GRANT EXECUTE ON FUNCTION replay.webhook_organization_unchanged(uuid, uuid) TO replay_app;

SELECT ops.grant_read_only('replay', ARRAY[
    'users.password_hash',
    'user_sessions.session_token',
    'user_sessions.refresh_token',
    'api_keys.key_hash',
    'webhooks.secret_key',
    'webhooks.headers',
    'playback_sessions.session_token',
    'playback_sessions.browser_session_id',
    'webhook_deliveries.payload',
    'webhook_deliveries.headers',
    'webhook_deliveries.response_body',
    'webhook_deliveries.response_headers',
    'recording_steps.interaction_data',
    'recording_steps.dom_snapshot',
    'recording_steps.dom_mutations',
    'playback_step_results.error_details',
    'playback_step_results.network_requests',
    'playback_step_results.console_logs',
    'organization_invitations.token_hash'
]);
