-- replay 0006 rollback: owners and admins insert members directly again, recordings and
-- webhooks may be created for others, organizations' deletions cascade (the foreign keys are
-- added back validated), the audit trigger of replay_0002; the invitations go.

SET LOCAL ROLE schema_tool_owner;

-- Grants ------------------------------------------------------------------------------

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
    'playback_step_results.console_logs'
]);

REVOKE UPDATE ON replay.organization_members FROM replay_app;
GRANT INSERT, UPDATE ON replay.organization_members TO replay_app;

-- RLS policies ------------------------------------------------------------------------

CREATE POLICY organization_members_insert ON replay.organization_members
FOR INSERT TO replay_app
WITH CHECK (
    replay.has_org_role(organization_id, '{owner}')
    OR (replay.has_org_role(organization_id, '{admin}') AND role <> 'owner')
);

DROP POLICY webhooks_owner_moves ON replay.webhooks;
ALTER POLICY webhooks_insert ON replay.webhooks
WITH CHECK (
    (organization_id IS NULL AND user_id = (SELECT replay.current_user_id()))
    OR replay.has_org_role(organization_id, '{owner,admin,manager}')
);

DROP POLICY recordings_owner_moves ON replay.recordings;
ALTER POLICY recordings_insert ON replay.recordings
WITH CHECK (replay.recording_placeable(user_id, organization_id, visibility));

-- Functions ---------------------------------------------------------------------------

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
    INSERT INTO replay.audit_logs (
        user_id, action, resource_type, resource_id, details, old_values, new_values, status, created_at
    ) VALUES (
        v_actor, v_action, TG_TABLE_NAME, v_id, v_details, v_old, v_new, 'success', current_timestamp
    );
    RETURN NULL;
END
$fn$;
COMMENT ON FUNCTION replay.audit_trigger_function() IS
'AFTER INSERT/UPDATE/DELETE row trigger: one replay.audit_logs row per change, with the acting '
'user (app.user_id), the old and new row with secret columns (password_hash, tokens, key hashes, '
'webhook secrets) replaced by "[REDACTED]", and the changed column names.';

DROP FUNCTION replay.webhook_organization_unchanged(uuid, uuid);
DROP FUNCTION replay.recording_placement_unchanged(uuid, uuid, replay.recording_visibility);
DROP FUNCTION replay.accept_invitation(text);
DROP FUNCTION replay.invite_member(uuid, replay.organization_member_role, interval);

-- Tables ------------------------------------------------------------------------------

LOCK TABLE replay.organizations IN SHARE ROW EXCLUSIVE MODE;

ALTER TABLE replay.recordings
DROP CONSTRAINT recordings_organization_id_fkey,
ADD CONSTRAINT recordings_organization_id_fkey FOREIGN KEY (organization_id)
REFERENCES replay.organizations (id) ON DELETE CASCADE;

ALTER TABLE replay.playback_sessions
DROP CONSTRAINT playback_sessions_organization_id_fkey,
ADD CONSTRAINT playback_sessions_organization_id_fkey FOREIGN KEY (organization_id)
REFERENCES replay.organizations (id) ON DELETE CASCADE;

DROP TABLE replay.organization_invitations;
