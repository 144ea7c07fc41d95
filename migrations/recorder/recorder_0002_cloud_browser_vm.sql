-- recorder 0002: phase 2, the cloud browser VM of each user (seed 001, sections 3.1, 5.1, 7.2).
-- depends: recorder_0001_initial_schema
--
-- Nullable columns only: every phase-1 row stays valid as it is. The VM columns are
-- written by the platform (service_role), never by the user (no column grant).

SET LOCAL ROLE schema_tool_owner;

-- Tables ----------------------------------------------------------------------------------

ALTER TABLE recorder.users
ADD COLUMN vm_id text,
ADD COLUMN vm_url text,
ADD COLUMN vm_status text,
ADD COLUMN vm_provisioned_at timestamptz,
ADD COLUMN vm_last_accessed timestamptz,
ADD CONSTRAINT check_users_vm_status CHECK (
    vm_status IN ('not_provisioned', 'provisioning', 'ready', 'hibernating', 'stopped', 'error')
);

-- Indexes ---------------------------------------------------------------------------------

CREATE INDEX idx_users_vm_id ON recorder.users (vm_id) WHERE vm_id IS NOT NULL;
CREATE INDEX idx_users_vm_status ON recorder.users (vm_status) WHERE vm_status IS NOT NULL;
CREATE INDEX idx_users_active_vms ON recorder.users (vm_id, vm_last_accessed) WHERE vm_status = 'ready';

-- Comments --------------------------------------------------------------------------------

COMMENT ON COLUMN recorder.users.vm_id IS 'Phase 2: Fly.io VM identifier for cloud browser';
COMMENT ON COLUMN recorder.users.vm_url IS 'Phase 2: VM access URL (e.g., wss://vm-123.fly.dev)';
COMMENT ON COLUMN recorder.users.vm_status IS
'Phase 2: VM lifecycle state: not_provisioned, provisioning, ready, hibernating, stopped, error';
COMMENT ON COLUMN recorder.users.vm_provisioned_at IS 'Phase 2: When VM was created';
COMMENT ON COLUMN recorder.users.vm_last_accessed IS 'Phase 2: Last time user used cloud browser';

-- Grants ----------------------------------------------------------------------------------
-- service_role's table-level grants and authenticated's SELECT cover the new columns.

SELECT ops.grant_read_only(
    'recorder',
    ARRAY[
        'recordings.steps', 'recordings.variables', 'execution_jobs.csv_data', 'execution_results.row_data'
    ]
);
