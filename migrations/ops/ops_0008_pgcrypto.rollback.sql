-- ops 0008 rollback: the pgcrypto bridge.

SET LOCAL ROLE schema_tool_owner;

DROP FUNCTION ops.hmac(bytea, bytea, text);
DROP FUNCTION ops.gen_salt(text, integer);
DROP FUNCTION ops.crypt(text, text);
