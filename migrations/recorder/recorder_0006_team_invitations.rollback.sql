-- recorder 0006 rollback: team owners insert memberships and hand over their teams directly
-- again (as recorder_0003 had it); the invitations go.

SET LOCAL ROLE schema_tool_owner;

-- Grants ----------------------------------------------------------------------------

REVOKE UPDATE ON recorder.teams FROM authenticated;
GRANT UPDATE (name, slug, owner_id) ON recorder.teams TO authenticated;
GRANT INSERT (id, team_id, user_id, role) ON recorder.team_members TO authenticated;

-- RLS policies (as the migrating user: they call auth.uid()) ---------------------------

SET LOCAL ROLE NONE;

CREATE POLICY team_members_insert_owner ON recorder.team_members
FOR INSERT TO authenticated
WITH CHECK (team_id IN (SELECT recorder.user_team_ids((SELECT auth.uid()), 'owner')));

SET LOCAL ROLE schema_tool_owner;

-- Functions and tables ----------------------------------------------------------------

DROP FUNCTION recorder.accept_team_invitation(text);
DROP FUNCTION recorder.invite_to_team(uuid, text, interval);
DROP TABLE recorder.team_invitations;

SELECT ops.grant_read_only(
    'recorder',
    ARRAY[
        'recordings.steps', 'recordings.variables', 'execution_jobs.csv_data', 'execution_results.row_data',
        'execution_results.screenshot_url', 'users.vm_url', 'healing_logs.claude_request',
        'healing_logs.claude_response', 'healing_logs.screenshot_url'
    ]
);
