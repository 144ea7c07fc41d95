-- recorder 0003: phase 3, teams (seed 001, sections 3, 7.3).
-- depends: recorder_0002_cloud_browser_vm
--
-- teams and team_members, the team columns of users, recordings and execution_jobs
-- (nullable, or defaulted: every phase-1 row keeps working, as a private row of its owner),
-- and the team policies. A user's role in a team is 'owner' when the user is the team's
-- owner_id, else their team_members.role. What each role may do:
--   viewer  reads the team's recordings (visibility = 'team'), their jobs, results, logs,
--           healing logs, the team and its members;
--   member  also creates and edits team recordings, runs jobs on them, writes their
--           healing logs;
--   admin   also deletes team recordings, and updates or deletes the team's jobs;
--   owner   also updates or deletes the team and adds, changes or removes members.
-- Anyone may leave a team (delete their own membership). Policies only add to phase 1's
-- (permissive), except the RESTRICTIVE *_team_scope policies: a row may name only a team
-- the user belongs to.

SET LOCAL ROLE schema_tool_owner;

-- Locks -----------------------------------------------------------------------------------
-- Every table this migration alters (or puts a policy on) is locked here, first, in one
-- statement, parents before children (users, recordings, execution_jobs, healing_logs):
-- taken one by one as the statements below reach them, the migration held recordings
-- while it waited for execution_jobs, which a worker inserting a job held while its
-- foreign key waited for recordings: a deadlock, lost by the worker. Locked first, the
-- migration holds nothing while it waits, or waits only an instant, and the runner's short
-- lock attempts let it, never the application, give way.

LOCK TABLE recorder.users, recorder.recordings, recorder.execution_jobs, recorder.healing_logs
IN ACCESS EXCLUSIVE MODE;

-- Tables ----------------------------------------------------------------------------------

CREATE TABLE recorder.teams (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    name text NOT NULL,
    slug text NOT NULL,
    owner_id uuid NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT teams_pkey PRIMARY KEY (id),
    CONSTRAINT teams_slug_key UNIQUE (slug),
    CONSTRAINT teams_owner_id_fkey FOREIGN KEY (owner_id) REFERENCES recorder.users (id) ON DELETE CASCADE
);

CREATE TABLE recorder.team_members (
    id uuid NOT NULL DEFAULT gen_random_uuid(),
    team_id uuid NOT NULL,
    user_id uuid NOT NULL,
    role text NOT NULL,
    joined_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT team_members_pkey PRIMARY KEY (id),
    CONSTRAINT team_members_team_id_user_id_key UNIQUE (team_id, user_id),
    CONSTRAINT team_members_team_id_fkey FOREIGN KEY (team_id) REFERENCES recorder.teams (id) ON DELETE CASCADE,
    CONSTRAINT team_members_user_id_fkey FOREIGN KEY (user_id) REFERENCES recorder.users (id) ON DELETE CASCADE,
    CONSTRAINT check_team_members_role CHECK (role IN ('owner', 'admin', 'member', 'viewer'))
);

ALTER TABLE recorder.teams ENABLE ROW LEVEL SECURITY;
ALTER TABLE recorder.team_members ENABLE ROW LEVEL SECURITY;

ALTER TABLE recorder.users
ADD COLUMN default_team_id uuid,
ADD CONSTRAINT users_default_team_id_fkey FOREIGN KEY (default_team_id)
REFERENCES recorder.teams (id) ON DELETE SET NULL;

ALTER TABLE recorder.recordings
ADD COLUMN team_id uuid,
ADD COLUMN visibility text NOT NULL DEFAULT 'private',
ADD CONSTRAINT recordings_team_id_fkey FOREIGN KEY (team_id) REFERENCES recorder.teams (id) ON DELETE SET NULL,
ADD CONSTRAINT check_recordings_visibility CHECK (visibility IN ('private', 'team'));

ALTER TABLE recorder.execution_jobs
ADD COLUMN team_id uuid,
ADD CONSTRAINT execution_jobs_team_id_fkey FOREIGN KEY (team_id) REFERENCES recorder.teams (id) ON DELETE SET NULL;

-- Indexes ---------------------------------------------------------------------------------
-- The seed's, under its names (idx_teams_slug repeats teams_slug_key, idx_team_members_team_id
-- a prefix of team_members_team_id_user_id_key: kept as part of the contract), and the two
-- the policies and a foreign key need.

CREATE INDEX idx_teams_owner_id ON recorder.teams (owner_id);
CREATE INDEX idx_teams_slug ON recorder.teams (slug);
CREATE INDEX idx_team_members_team_id ON recorder.team_members (team_id);
CREATE INDEX idx_team_members_user_id ON recorder.team_members (user_id);
CREATE INDEX idx_users_default_team ON recorder.users (default_team_id) WHERE default_team_id IS NOT NULL;
CREATE INDEX idx_recordings_team_id ON recorder.recordings (team_id) WHERE team_id IS NOT NULL;
-- the team read policy: visibility = 'team' AND team_id IN (the user's teams)
CREATE INDEX idx_recordings_visibility_team ON recorder.recordings (visibility, team_id) WHERE visibility = 'team';
CREATE INDEX idx_execution_jobs_team_id ON recorder.execution_jobs (team_id) WHERE team_id IS NOT NULL;

-- Comments --------------------------------------------------------------------------------

COMMENT ON TABLE recorder.teams IS 'Phase 3: team workspaces; owner_id is always an owner of its team';
COMMENT ON TABLE recorder.team_members IS
'Phase 3: team membership and role (owner, admin, member, viewer); one row per team and user';
COMMENT ON COLUMN recorder.users.default_team_id IS 'Phase 3: User''s default team workspace';
COMMENT ON COLUMN recorder.recordings.team_id IS 'Phase 3: If shared with team';
COMMENT ON COLUMN recorder.recordings.visibility IS
'Phase 3: private (owner only) or team (readable by every member of team_id)';
COMMENT ON COLUMN recorder.execution_jobs.team_id IS 'Phase 3: Team Context (readable by its members)';

-- Functions -------------------------------------------------------------------------------

-- SECURITY DEFINER: the team policies ask "which teams is this user in?", and a policy on
-- team_members that queried team_members under its own policies would recurse. The user
-- is a parameter, passed (SELECT auth.uid()) by the policies, because schema_tool_owner
-- has no privilege in Supabase's auth schema. It answers only about memberships, which
-- take both uuids to ask.
CREATE FUNCTION recorder.user_team_ids(p_user_id uuid, p_min_role text)
RETURNS SETOF uuid
LANGUAGE sql
STABLE
SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
BEGIN ATOMIC
    SELECT t.id
    FROM recorder.teams AS t
    WHERE t.owner_id = p_user_id
    UNION
    SELECT m.team_id
    FROM recorder.team_members AS m
    WHERE
        m.user_id = p_user_id
        AND array_position(ARRAY['viewer', 'member', 'admin', 'owner'], m.role)
        >= array_position(ARRAY['viewer', 'member', 'admin', 'owner'], p_min_role);
END;
COMMENT ON FUNCTION recorder.user_team_ids(uuid, text) IS
'Teams in which a user''s role is at least p_min_role (viewer < member < admin < owner); the owner_id '
'of a team is its owner. Used by the team RLS policies.';

-- Triggers --------------------------------------------------------------------------------

CREATE TRIGGER update_teams_updated_at
BEFORE UPDATE ON recorder.teams
FOR EACH ROW EXECUTE FUNCTION recorder.update_updated_at_column();

-- RLS policies (as the migrating user: they call auth.uid(), see recorder_0001) ----------

SET LOCAL ROLE NONE;

CREATE POLICY users_default_team_scope ON recorder.users
AS RESTRICTIVE
FOR UPDATE TO authenticated
WITH CHECK (
    default_team_id IS NULL
    OR default_team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'viewer'))
);

CREATE POLICY recordings_select_team ON recorder.recordings
FOR SELECT TO authenticated
USING (
    visibility = 'team'
    AND team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'viewer'))
);

CREATE POLICY recordings_update_team ON recorder.recordings
FOR UPDATE TO authenticated
USING (
    visibility = 'team'
    AND team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member'))
)
WITH CHECK (
    visibility = 'team'
    AND team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member'))
);

CREATE POLICY recordings_delete_team ON recorder.recordings
FOR DELETE TO authenticated
USING (
    visibility = 'team'
    AND team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'admin'))
);

CREATE POLICY recordings_team_scope ON recorder.recordings
AS RESTRICTIVE
FOR INSERT TO authenticated
WITH CHECK (team_id IS NULL OR team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member')));

CREATE POLICY recordings_team_scope_update ON recorder.recordings
AS RESTRICTIVE
FOR UPDATE TO authenticated
WITH CHECK (team_id IS NULL OR team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member')));

CREATE POLICY execution_jobs_select_team ON recorder.execution_jobs
FOR SELECT TO authenticated
USING (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'viewer')));

CREATE POLICY execution_jobs_insert_team ON recorder.execution_jobs
FOR INSERT TO authenticated
WITH CHECK (
    user_id = (SELECT auth.uid())
    AND EXISTS (
        SELECT FROM recorder.recordings AS r
        WHERE
            r.id = execution_jobs.recording_id
            AND r.visibility = 'team'
            AND r.team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member'))
    )
);

CREATE POLICY execution_jobs_update_team ON recorder.execution_jobs
FOR UPDATE TO authenticated
USING (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'admin')))
WITH CHECK (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'admin')));

CREATE POLICY execution_jobs_delete_team ON recorder.execution_jobs
FOR DELETE TO authenticated
USING (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'admin')));

CREATE POLICY execution_jobs_team_scope ON recorder.execution_jobs
AS RESTRICTIVE
FOR INSERT TO authenticated
WITH CHECK (team_id IS NULL OR team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member')));

CREATE POLICY healing_logs_write_team ON recorder.healing_logs
FOR ALL TO authenticated
USING (
    EXISTS (
        SELECT FROM recorder.recordings AS r
        WHERE
            r.id = healing_logs.recording_id
            AND r.visibility = 'team'
            AND r.team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member'))
    )
)
WITH CHECK (
    EXISTS (
        SELECT FROM recorder.recordings AS r
        WHERE
            r.id = healing_logs.recording_id
            AND r.visibility = 'team'
            AND r.team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'member'))
    )
    AND (
        healing_logs.execution_job_id IS NULL
        OR EXISTS (
            SELECT FROM recorder.execution_jobs AS j
            WHERE j.id = healing_logs.execution_job_id
        )
    )
);

CREATE POLICY teams_select_member ON recorder.teams
FOR SELECT TO authenticated
USING (owner_id = (SELECT auth.uid()) OR id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'viewer')));

CREATE POLICY teams_insert_owner ON recorder.teams
FOR INSERT TO authenticated
WITH CHECK (owner_id = (SELECT auth.uid()));

CREATE POLICY teams_update_owner ON recorder.teams
FOR UPDATE TO authenticated
USING (id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')))
WITH CHECK (id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')));

CREATE POLICY teams_delete_owner ON recorder.teams
FOR DELETE TO authenticated
USING (id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')));

CREATE POLICY team_members_select ON recorder.team_members
FOR SELECT TO authenticated
USING (
    user_id = (SELECT auth.uid())
    OR team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'viewer'))
);

CREATE POLICY team_members_insert_owner ON recorder.team_members
FOR INSERT TO authenticated
WITH CHECK (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')));

CREATE POLICY team_members_update_owner ON recorder.team_members
FOR UPDATE TO authenticated
USING (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')))
WITH CHECK (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')));

CREATE POLICY team_members_delete ON recorder.team_members
FOR DELETE TO authenticated
USING (
    user_id = (SELECT auth.uid())
    OR team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner'))
);

-- Grants ----------------------------------------------------------------------------------

SET LOCAL ROLE schema_tool_owner;

GRANT UPDATE (default_team_id) ON recorder.users TO authenticated;
GRANT UPDATE (team_id, visibility) ON recorder.recordings TO authenticated;
GRANT INSERT (team_id) ON recorder.execution_jobs TO authenticated;
GRANT SELECT, DELETE ON recorder.teams, recorder.team_members TO authenticated;
GRANT INSERT (id, name, slug, owner_id), UPDATE (name, slug, owner_id) ON recorder.teams TO authenticated;
GRANT INSERT (id, team_id, user_id, role), UPDATE (role) ON recorder.team_members TO authenticated;
GRANT SELECT, INSERT, UPDATE, DELETE ON recorder.teams, recorder.team_members TO service_role;
GRANT EXECUTE ON FUNCTION recorder.user_team_ids(uuid, text) TO authenticated;

SELECT ops.grant_read_only(
    'recorder',
    ARRAY[
        'recordings.steps', 'recordings.variables', 'execution_jobs.csv_data', 'execution_results.row_data'
    ]
);
