-- recorder 0002 rollback: removes the VM columns (their CHECK and indexes go with them).

SET LOCAL ROLE schema_tool_owner;

DROP INDEX recorder.idx_users_active_vms;
DROP INDEX recorder.idx_users_vm_status;
DROP INDEX recorder.idx_users_vm_id;

ALTER TABLE recorder.users
DROP CONSTRAINT check_users_vm_status,
DROP COLUMN vm_last_accessed,
DROP COLUMN vm_provisioned_at,
DROP COLUMN vm_status,
DROP COLUMN vm_url,
DROP COLUMN vm_id;
