-- recorder 0004 rollback: the queue functions of recorder_0001 come back (service_role only),
-- the worker functions, the attempts column and recorder_worker go. recorder_app stays
-- NOINHERIT: that is the attribute ops_0003 gives it on every new database, and INHERIT would
-- give it service_role's table grants again.

SET LOCAL ROLE schema_tool_owner;

-- Functions -------------------------------------------------------------------------

DROP FUNCTION recorder.record_vdi_metrics(text, text, numeric, numeric, integer, integer, integer, integer, integer);
DROP FUNCTION recorder.finish_execution_job(uuid, integer, text);
DROP FUNCTION recorder.record_healing_log(
    uuid, integer, integer, text, boolean, text, text, integer, text, jsonb, jsonb, boolean, text
);
DROP FUNCTION recorder.lookup_job_healing_cache(uuid, integer, integer, text);
DROP FUNCTION recorder.record_execution_log(uuid, integer, text, text, integer, integer, jsonb);
DROP FUNCTION recorder.record_execution_result(
    uuid, integer, integer, text, jsonb, integer, text, jsonb, text, timestamptz, timestamptz
);
DROP FUNCTION recorder.heartbeat_execution_job(uuid, integer);
DROP FUNCTION recorder.held_job(uuid, integer);

CREATE OR REPLACE FUNCTION recorder.requeue_stale_execution_jobs(timeout interval DEFAULT interval '10 minutes')
RETURNS integer
LANGUAGE sql
AS $fn$
    WITH stale AS (
        SELECT s.id
        FROM recorder.execution_jobs AS s
        WHERE s.status = 'running' AND s.claimed_at < pg_catalog.now() - $1
        FOR UPDATE SKIP LOCKED
    ),

    requeued AS (
        UPDATE recorder.execution_jobs AS j
        SET status = 'pending',
            worker_id = NULL,
            claimed_at = NULL
        FROM stale
        WHERE j.id = stale.id
        RETURNING j.id
    )

    SELECT pg_catalog.count(*)::integer FROM requeued
$fn$;
COMMENT ON FUNCTION recorder.requeue_stale_execution_jobs(interval) IS
'Worker queue: running jobs claimed (or last heard of) more than timeout ago go back to pending '
'for another worker; returns how many. Jobs locked right now (a result being written) are skipped.';
REVOKE EXECUTE ON FUNCTION recorder.requeue_stale_execution_jobs(interval) FROM recorder_worker;

-- the column goes below: first the function whose row type would still name it
CREATE OR REPLACE FUNCTION recorder.claim_execution_job(worker_id text)
RETURNS SETOF recorder.execution_jobs
LANGUAGE sql
AS $fn$
    UPDATE recorder.execution_jobs AS j
    SET status = 'running',
        worker_id = $1,
        claimed_at = pg_catalog.now(),
        started_at = coalesce(j.started_at, pg_catalog.now())
    WHERE j.id = (
        SELECT p.id
        FROM recorder.execution_jobs AS p
        WHERE p.status = 'pending'
        ORDER BY p.created_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
    )
    RETURNING j.*
$fn$;
COMMENT ON FUNCTION recorder.claim_execution_job(text) IS
'Worker queue: claims the oldest pending job for worker_id (status running, claimed_at now, '
'started_at on first claim) in one statement, skipping jobs other workers are claiming '
'(FOR UPDATE SKIP LOCKED on idx_execution_jobs_poller), and returns it; no row when none is pending.';
REVOKE EXECUTE ON FUNCTION recorder.claim_execution_job(text) FROM recorder_worker;

-- Tables ----------------------------------------------------------------------------

ALTER TABLE recorder.execution_jobs DROP COLUMN attempts;

REVOKE USAGE ON SCHEMA recorder FROM recorder_worker;

-- Roles -----------------------------------------------------------------------------

RESET ROLE;

SELECT ops.drop_worker_role('recorder');
