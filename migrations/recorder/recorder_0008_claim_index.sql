-- recorder 0008: an index that serves the claim alone, whatever the statistics say
-- (issue 14). The claim reads the oldest pending job; idx_execution_jobs_poller (status,
-- created_at) and the seed's idx_execution_jobs_created_at (all jobs) both deliver that order,
-- and a plan made while the queue held only pending jobs (a fresh burst) walks
-- idx_execution_jobs_created_at over every job finished since, on every claim. This partial
-- index on (created_at, id) is the only one matching recorder_0009's claim order exactly (id
-- breaks ties: FIFO is deterministic), holds pending jobs only (a claimed job leaves it, so
-- the claim's UPDATE adds no entry to it), and is built without blocking writers.
-- transactional: false
-- depends: recorder_0007_validate_constraints

CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_execution_jobs_claim ON recorder.execution_jobs (created_at, id)
WHERE status = 'pending';
