-- recorder 0003 rollback: removes teams, team_members, the team columns and the team
-- policies; phase-1 and phase-2 rows are untouched (team rows become private again).

SET LOCAL ROLE schema_tool_owner;

DROP POLICY team_members_delete ON recorder.team_members;
DROP POLICY team_members_update_owner ON recorder.team_members;
DROP POLICY team_members_insert_owner ON recorder.team_members;
DROP POLICY team_members_select ON recorder.team_members;
DROP POLICY teams_delete_owner ON recorder.teams;
DROP POLICY teams_update_owner ON recorder.teams;
DROP POLICY teams_insert_owner ON recorder.teams;
DROP POLICY teams_select_member ON recorder.teams;
DROP POLICY healing_logs_write_team ON recorder.healing_logs;
DROP POLICY execution_jobs_team_scope ON recorder.execution_jobs;
DROP POLICY execution_jobs_delete_team ON recorder.execution_jobs;
DROP POLICY execution_jobs_update_team ON recorder.execution_jobs;
DROP POLICY execution_jobs_insert_team ON recorder.execution_jobs;
DROP POLICY execution_jobs_select_team ON recorder.execution_jobs;
DROP POLICY recordings_team_scope_update ON recorder.recordings;
DROP POLICY recordings_team_scope ON recorder.recordings;
DROP POLICY recordings_delete_team ON recorder.recordings;
DROP POLICY recordings_update_team ON recorder.recordings;
DROP POLICY recordings_select_team ON recorder.recordings;
DROP POLICY users_default_team_scope ON recorder.users;

DROP FUNCTION recorder.user_team_ids(uuid, text);

-- the columns take their constraints, indexes and column grants with them
ALTER TABLE recorder.execution_jobs DROP COLUMN team_id;
ALTER TABLE recorder.recordings DROP COLUMN visibility, DROP COLUMN team_id;
ALTER TABLE recorder.users DROP COLUMN default_team_id;

DROP TABLE recorder.team_members;
DROP TABLE recorder.teams;
