-- scrapifie 0003 rollback: drops the indexes of scrapifie_0003, concurrently.

DROP INDEX CONCURRENTLY IF EXISTS scrapifie.idx_invoices_org_subscription;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.idx_webhooks_api_key_ids;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.idx_webhooks_org_created_by;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.idx_jobs_org_api_key;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.idx_api_keys_org_revoked_by;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.idx_api_keys_org_created_by;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.uq_subscriptions_org_id;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.uq_api_keys_org_id;
DROP INDEX CONCURRENTLY IF EXISTS scrapifie.uq_users_org_id;
