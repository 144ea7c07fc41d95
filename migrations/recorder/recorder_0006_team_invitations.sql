-- recorder 0006: team membership by consent (issue 11, item 4).
-- depends: recorder_0005_tenant_boundary
--
-- A team owner no longer inserts team_members rows or hands the team to someone
-- (teams.owner_id): both made other users members, or owners, of a team they never chose.
-- The owner invites instead (recorder.invite_to_team returns a one-time token, of which only
-- a SHA-256 is stored) and the invitee joins by accepting it (recorder.accept_team_invitation,
-- as the signed-in user). An invitation with role owner hands the team over when accepted; the
-- previous owner stays, as an admin. As in basejump, the token is the invitation: whoever the
-- owner gives it to may accept it, once, before it expires.

SET LOCAL ROLE schema_tool_owner;

-- Tables ----------------------------------------------------------------------------

CREATE TABLE recorder.team_invitations (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    role text NOT NULL,
    token_hash bytea NOT NULL,
    invited_by uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    CONSTRAINT team_invitations_pkey PRIMARY KEY (id),
    CONSTRAINT team_invitations_token_hash_key UNIQUE (token_hash),
    CONSTRAINT team_invitations_team_id_fkey FOREIGN KEY (team_id) REFERENCES recorder.teams (id) ON DELETE CASCADE,
    CONSTRAINT team_invitations_invited_by_fkey FOREIGN KEY (invited_by)
    REFERENCES recorder.users (id) ON DELETE CASCADE,
    CONSTRAINT check_team_invitations_role CHECK (role IN ('owner', 'admin', 'member', 'viewer')),
    CONSTRAINT check_team_invitations_expiry CHECK (expires_at > created_at)
);
ALTER TABLE recorder.team_invitations ENABLE ROW LEVEL SECURITY;

-- Indexes ---------------------------------------------------------------------------

CREATE INDEX idx_team_invitations_team_id ON recorder.team_invitations (team_id);
CREATE INDEX idx_team_invitations_invited_by ON recorder.team_invitations (invited_by);

-- Comments --------------------------------------------------------------------------

COMMENT ON TABLE recorder.team_invitations IS
'Pending invitations to a team (created by its owner with invite_to_team, accepted by the invitee with '
'accept_team_invitation, once, before expires_at). token_hash is the SHA-256 of the token the owner '
'hands out: a secret, never readable by the API roles or the read-only role.';

-- Functions (SECURITY DEFINER: team_members and teams.owner_id are no longer writable by
-- signed-in users; these check who calls, from the request's JWT claims) ----------------

CREATE FUNCTION recorder.invite_to_team(
    p_team_id uuid,
    p_role text DEFAULT 'member',
    p_valid_for interval DEFAULT interval '7 days'
)
RETURNS text
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_me uuid := recorder.request_user_id();
    v_token text;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'sign in to invite' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_team_id IS NULL OR p_role IS NULL OR p_valid_for IS NULL THEN
        RAISE EXCEPTION 'team, role and validity must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_role NOT IN ('owner', 'admin', 'member', 'viewer') THEN
        RAISE EXCEPTION 'role must be owner, admin, member or viewer, not %', p_role
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF p_valid_for <= interval '0' OR p_valid_for > interval '30 days' THEN
        RAISE EXCEPTION 'an invitation is valid for more than nothing and at most 30 days, not %', p_valid_for
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NOT EXISTS (SELECT FROM recorder.user_team_ids(v_me, 'owner') AS t (id) WHERE t.id = p_team_id) THEN
        RAISE EXCEPTION 'only the team''s owner invites' USING ERRCODE = 'insufficient_privilege';
    END IF;
    -- 244 random bits (gen_random_uuid() draws from the strong random source)
    v_token := 'rti_' || pg_catalog.replace(gen_random_uuid()::text, '-', '')
        || pg_catalog.replace(gen_random_uuid()::text, '-', '');
    INSERT INTO recorder.team_invitations (team_id, role, token_hash, invited_by, expires_at)
    VALUES (
        p_team_id, p_role, pg_catalog.sha256(pg_catalog.convert_to(v_token, 'UTF8')), v_me,
        pg_catalog.now() + p_valid_for
    );
    RETURN v_token;
END
$fn$;
COMMENT ON FUNCTION recorder.invite_to_team(uuid, text, interval) IS
'The team''s owner invites someone with a role (owner: hands the team over on acceptance); returns the '
'one-time token to give the invitee (only its hash is stored). 42501 unless the signed-in user owns '
'the team; 22004 NULLs; 22023 unknown role or a validity outside (0, 30 days].';

CREATE FUNCTION recorder.accept_team_invitation(p_token text)
RETURNS uuid
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $fn$
DECLARE
    v_me uuid := recorder.request_user_id();
    v_invitation recorder.team_invitations;
    v_previous uuid;
BEGIN
    IF v_me IS NULL THEN
        RAISE EXCEPTION 'sign in to accept an invitation' USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF p_token IS NULL THEN
        RAISE EXCEPTION 'token must not be NULL' USING ERRCODE = 'null_value_not_allowed';
    END IF;
    IF p_token = '' THEN
        RAISE EXCEPTION 'token must not be empty' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    DELETE FROM recorder.team_invitations AS i
    WHERE i.token_hash = pg_catalog.sha256(pg_catalog.convert_to(p_token, 'UTF8'))
    RETURNING i.* INTO v_invitation;
    IF NOT FOUND OR v_invitation.expires_at <= pg_catalog.now() THEN
        RAISE EXCEPTION 'no such invitation, or it expired' USING ERRCODE = 'no_data_found';
    END IF;
    IF NOT EXISTS (SELECT FROM recorder.users AS u WHERE u.id = v_me) THEN
        RAISE EXCEPTION 'create your recorder account before joining a team' USING ERRCODE = 'no_data_found';
    END IF;
    IF v_invitation.role = 'owner' THEN
        -- parents before children: the team row first, then its memberships
        SELECT t.owner_id INTO v_previous
        FROM recorder.teams AS t
        WHERE t.id = v_invitation.team_id
        FOR UPDATE;
        UPDATE recorder.teams AS t
        SET owner_id = v_me
        WHERE t.id = v_invitation.team_id;
        IF v_previous IS DISTINCT FROM v_me THEN
            INSERT INTO recorder.team_members (team_id, user_id, role)
            VALUES (v_invitation.team_id, v_previous, 'admin')
            ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role;
        END IF;
    END IF;
    INSERT INTO recorder.team_members (team_id, user_id, role)
    VALUES (v_invitation.team_id, v_me, v_invitation.role)
    ON CONFLICT (team_id, user_id) DO UPDATE SET role = excluded.role;
    RETURN v_invitation.team_id;
END
$fn$;
COMMENT ON FUNCTION recorder.accept_team_invitation(text) IS
'The signed-in user accepts an invitation by its token: joins the team with the invitation''s role (an '
'existing membership takes that role); role owner also makes them the team''s owner_id, the previous '
'owner staying as admin. One use. Returns the team id. 42501 nobody signed in; 22004/22023 NULL or '
'empty token; P0002 unknown, used or expired token, or no recorder account yet.';

-- RLS policies (as the migrating user: they call auth.uid(), see recorder_0001) ----------

SET LOCAL ROLE NONE;

CREATE POLICY team_invitations_select_owner ON recorder.team_invitations
FOR SELECT TO authenticated
USING (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')));

CREATE POLICY team_invitations_delete_owner ON recorder.team_invitations
FOR DELETE TO authenticated
USING (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')));

-- Grants ----------------------------------------------------------------------------

SET LOCAL ROLE schema_tool_owner;

-- Owners add members only through invitations now.
DROP POLICY team_members_insert_owner ON recorder.team_members;

REVOKE INSERT ON recorder.team_members FROM authenticated;
REVOKE UPDATE ON recorder.teams FROM authenticated;
GRANT UPDATE (name, slug) ON recorder.teams TO authenticated;

GRANT SELECT (id, team_id, role, invited_by, created_at, expires_at), DELETE
ON recorder.team_invitations TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON recorder.team_invitations TO service_role;
GRANT EXECUTE ON FUNCTION recorder.invite_to_team(uuid, text, interval) TO authenticated;
GRANT EXECUTE ON FUNCTION recorder.accept_team_invitation(text) TO authenticated;

SELECT ops.grant_read_only(
    'recorder',
    ARRAY[
        'recordings.steps', 'recordings.variables', 'execution_jobs.csv_data', 'execution_results.row_data',
        'execution_results.screenshot_url', 'users.vm_url', 'healing_logs.claude_request',
        'healing_logs.claude_response', 'healing_logs.screenshot_url', 'team_invitations.token_hash'
    ]
);
