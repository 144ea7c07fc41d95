-- ops 0005: application and worker roles made before ops_0003 become NOINHERIT too.
-- depends: ops_0004_read_only_without_locks
--
-- ops_0003 creates <system>_app and <system>_worker NOINHERIT (used directly, they have
-- their own grants and nothing more; docs/security.md), but roles are cluster-wide and
-- were only created when absent: a role made by ops_0001's ensure_app_role, on a database
-- migrated before ops_0003, kept INHERIT, and recorder_app then read recorder's tables
-- through authenticated's grants without switching to it (found by running the suite on
-- a database upgraded from 526aab5). This brings every such role of this database's
-- systems (schemas owned by schema_tool_owner) to NOINHERIT. Runs as the migrating role,
-- which has CREATEROLE.

-- Roles ----------------------------------------------------------------------------

DO $roles$
DECLARE
    v_role name;
BEGIN
    FOR v_role IN
        SELECT r.rolname
        FROM pg_catalog.pg_roles AS r
        INNER JOIN pg_catalog.pg_namespace AS n
            ON r.rolname IN (n.nspname || '_app', n.nspname || '_worker')
        WHERE
            n.nspowner = 'schema_tool_owner'::regrole
            AND r.rolinherit
            AND NOT r.rolsuper
        ORDER BY r.rolname
    LOOP
        EXECUTE pg_catalog.format('ALTER ROLE %I NOINHERIT', v_role);
    END LOOP;
END
$roles$;
