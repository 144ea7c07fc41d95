-- recorder 0008 rollback: the claim index goes (recorder_0009's rollback has restored the
-- claim that does not need it).

DROP INDEX CONCURRENTLY IF EXISTS recorder.idx_execution_jobs_claim;
