-- ops 0006: HMAC-SHA256 from the built-in sha256(), for webhook signatures of every system.
--
-- pgcrypto's hmac() lives wherever the extension was created (public on plain PostgreSQL,
-- extensions on Supabase, where schema_tool_owner may not even use that schema). A
-- signature computed inside the database needs no extension at all: RFC 2104 over the
-- built-in sha256(), tested against RFC 4231's vectors and against pgcrypto.
--
-- depends: ops_0005_noinherit_app_roles

SET LOCAL ROLE schema_tool_owner;

-- Functions ------------------------------------------------------------------------

CREATE FUNCTION ops.hmac_sha256(p_key bytea, p_message bytea)
RETURNS bytea
LANGUAGE plpgsql
IMMUTABLE
STRICT
PARALLEL SAFE
AS $fn$
DECLARE
    v_key bytea := p_key;
    v_inner bytea;
    v_outer bytea;
BEGIN
    -- a key longer than SHA-256's 64-byte block is hashed first; then zero-padded to it
    IF length(v_key) > 64 THEN
        v_key := sha256(v_key);
    END IF;
    v_key := v_key || decode(repeat('00', 64 - length(v_key)), 'hex');
    v_inner := v_key;
    v_outer := v_key;
    FOR i IN 0..63 LOOP
        v_inner := set_byte(v_inner, i, get_byte(v_key, i) # 54);  -- ipad 0x36
        v_outer := set_byte(v_outer, i, get_byte(v_key, i) # 92);  -- opad 0x5c
    END LOOP;
    RETURN sha256(v_outer || sha256(v_inner || p_message));
END
$fn$;
COMMENT ON FUNCTION ops.hmac_sha256(bytea, bytea) IS
'HMAC-SHA256 of a message with a key (RFC 2104 over the built-in sha256(); no extension needed). '
'For text, pass convert_to(..., ''UTF8''): the result equals pgcrypto''s hmac(message, key, ''sha256''). '
'Executable by the owner only: systems sign inside their SECURITY DEFINER functions.';
