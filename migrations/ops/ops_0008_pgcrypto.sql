-- ops 0008: pgcrypto's crypt(), gen_salt() and hmac() reachable from every system's
-- functions, wherever the extension lives.
--
-- pgcrypto is created in public on plain PostgreSQL and lives in schema extensions on
-- Supabase, where schema_tool_owner may not even use that schema. A PL/pgSQL function
-- that names public.crypt() fails there at run time. These three functions are bound to
-- the extension's schema once, here: SQL-standard bodies are parsed when created (by the
-- migrating role, which may use the schema) and keep a reference to the function itself,
-- so calling them needs no lookup and no USAGE on that schema. They then belong to
-- schema_tool_owner and are executable by it only; systems call them inside their
-- SECURITY DEFINER functions. (HMAC-SHA256 needs no extension: ops.hmac_sha256.)
--
-- depends: ops_0007_engine_hardening

-- Functions (created as the migrating role, then given to the owner) ------------------

DO $bridge$
DECLARE
    v_fn regprocedure;
    v_schema name := (
        SELECT n.nspname
        FROM pg_catalog.pg_extension AS e
        INNER JOIN pg_catalog.pg_namespace AS n ON e.extnamespace = n.oid
        WHERE e.extname = 'pgcrypto'
    );
BEGIN
    IF v_schema IS NULL THEN
        RAISE EXCEPTION 'the pgcrypto extension is missing (ops_0001 creates it)'
        USING ERRCODE = 'undefined_object';
    END IF;
    EXECUTE pg_catalog.format($fn$
CREATE FUNCTION ops.crypt(p_password text, p_salt text)
RETURNS text
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
RETURN %I.crypt(p_password, p_salt)
$fn$, v_schema);
    EXECUTE pg_catalog.format($fn$
CREATE FUNCTION ops.gen_salt(p_type text, p_rounds integer)
RETURNS text
LANGUAGE sql
VOLATILE
STRICT
PARALLEL SAFE
RETURN %I.gen_salt(p_type, p_rounds)
$fn$, v_schema);
    EXECUTE pg_catalog.format($fn$
CREATE FUNCTION ops.hmac(p_data bytea, p_key bytea, p_type text)
RETURNS bytea
LANGUAGE sql
IMMUTABLE
STRICT
PARALLEL SAFE
RETURN %I.hmac(p_data, p_key, p_type)
$fn$, v_schema);
    FOREACH v_fn IN ARRAY ARRAY[
        'ops.crypt(text, text)', 'ops.gen_salt(text, integer)', 'ops.hmac(bytea, bytea, text)'
    ]::regprocedure [] LOOP
        EXECUTE pg_catalog.format('ALTER FUNCTION %s OWNER TO schema_tool_owner', v_fn);
        EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', v_fn);
    END LOOP;
END
$bridge$;

SET LOCAL ROLE schema_tool_owner;

-- Comments -------------------------------------------------------------------------

COMMENT ON FUNCTION ops.crypt(text, text) IS
'pgcrypto''s crypt(), bound to the extension''s schema at migration time (public, or extensions '
'on Supabase). Owner only: called inside SECURITY DEFINER functions.';
COMMENT ON FUNCTION ops.gen_salt(text, integer) IS
'pgcrypto''s gen_salt(type, rounds), bound to the extension''s schema at migration time. Owner only.';
COMMENT ON FUNCTION ops.hmac(bytea, bytea, text) IS
'pgcrypto''s hmac(data, key, type), bound to the extension''s schema at migration time (for '
'algorithms without a built-in, e.g. sha1 for TOTP; HMAC-SHA256 is ops.hmac_sha256). Owner only.';
