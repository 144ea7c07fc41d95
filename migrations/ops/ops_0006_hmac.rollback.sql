-- ops 0006 rollback: the HMAC function.

SET LOCAL ROLE schema_tool_owner;

DROP FUNCTION ops.hmac_sha256(bytea, bytea);
