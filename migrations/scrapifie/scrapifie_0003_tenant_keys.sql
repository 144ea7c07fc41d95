-- scrapifie 0003: the indexes scrapifie_0004's tenant-scoped foreign keys need, built
-- concurrently (these tables take writes while they are built).
-- Parents: unique (organization_id, id) on users, api_keys and subscriptions, so that a
-- foreign key can name the organization with the row it points at.
-- Children: (organization_id, <reference>) to lead each new composite foreign key; they
-- replace the single-column indexes of the same references, which scrapifie_0004 drops.
-- webhooks.api_key_ids (GIN): the webhooks of a key, and the column scrapifie_0004's policy
-- checks against api_keys.
-- scrape_jobs gets no (organization_id, id): its own references are kept inside the tenant
-- otherwise (scrapifie_0004), and every claim and completion would write one more index.
-- transactional: false
-- depends: scrapifie_0002_seed_data

CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_users_org_id ON scrapifie.users (organization_id, id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_api_keys_org_id ON scrapifie.api_keys (organization_id, id);
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_subscriptions_org_id ON scrapifie.subscriptions (
    organization_id, id
);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_api_keys_org_created_by ON scrapifie.api_keys (
    organization_id, created_by_user_id
) WHERE created_by_user_id IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_api_keys_org_revoked_by ON scrapifie.api_keys (
    organization_id, revoked_by_user_id
) WHERE revoked_by_user_id IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_jobs_org_api_key ON scrapifie.scrape_jobs (
    organization_id, api_key_id
) WHERE api_key_id IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_webhooks_org_created_by ON scrapifie.webhooks (
    organization_id, created_by_user_id
) WHERE created_by_user_id IS NOT NULL;
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_webhooks_api_key_ids ON scrapifie.webhooks USING gin (api_key_ids);
CREATE INDEX CONCURRENTLY IF NOT EXISTS idx_invoices_org_subscription ON scrapifie.invoices (
    organization_id, subscription_id
) WHERE subscription_id IS NOT NULL;
