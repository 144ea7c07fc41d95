-- scrapifie 0005: validates the constraints scrapifie_0004 added NOT VALID, after repairing
-- the old rows the new rules refuse where a repair is safe:
--   scrape_jobs.options         repaired by repair_job_options() (clamped, defaulted, unknown keys dropped)
--   scrape_jobs credits         negative values become 0
--   references across tenants   cleared (every such column is nullable; each one was an
--                               attack or a bug): api_keys.created_by_user_id and
--                               revoked_by_user_id, webhooks.created_by_user_id and
--                               api_key_ids, scrape_jobs.api_key_id, parent_job_id and
--                               retry_of_job_id, invoices.subscription_id,
--                               usage_records.subscription_id
-- Billing rows with negative amounts or reversed periods are not guessed at: validation
-- stops with the constraint's name (23514) and nothing of this migration is kept; fix those
-- rows, then migrate again. VALIDATE takes SHARE UPDATE EXCLUSIVE: reads and writes go on.
-- depends: scrapifie_0004_tenant_boundary

SET LOCAL ROLE schema_tool_owner;

-- Data: repairs (parents before children) -----------------------------------------------------

UPDATE scrapifie.api_keys AS k
SET created_by_user_id = NULL
WHERE
    k.created_by_user_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.users AS u
        WHERE u.id = k.created_by_user_id AND u.organization_id = k.organization_id
    );

UPDATE scrapifie.api_keys AS k
SET revoked_by_user_id = NULL
WHERE
    k.revoked_by_user_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.users AS u
        WHERE u.id = k.revoked_by_user_id AND u.organization_id = k.organization_id
    );

UPDATE scrapifie.scrape_jobs AS j
SET
    options = scrapifie.repair_job_options(j.options),
    credits_estimated = greatest(j.credits_estimated, 0),
    credits_charged = greatest(j.credits_charged, 0)
WHERE NOT scrapifie.job_options_valid(j.options) OR j.credits_estimated < 0 OR j.credits_charged < 0;

UPDATE scrapifie.scrape_jobs AS j
SET api_key_id = NULL
WHERE
    j.api_key_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.api_keys AS k
        WHERE k.id = j.api_key_id AND k.organization_id = j.organization_id
    );

UPDATE scrapifie.scrape_jobs AS j
SET parent_job_id = NULL
WHERE
    j.parent_job_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.scrape_jobs AS p
        WHERE p.id = j.parent_job_id AND p.organization_id = j.organization_id
    );

UPDATE scrapifie.scrape_jobs AS j
SET retry_of_job_id = NULL
WHERE
    j.retry_of_job_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.scrape_jobs AS p
        WHERE p.id = j.retry_of_job_id AND p.organization_id = j.organization_id
    );

UPDATE scrapifie.webhooks AS w
SET created_by_user_id = NULL
WHERE
    w.created_by_user_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.users AS u
        WHERE u.id = w.created_by_user_id AND u.organization_id = w.organization_id
    );

UPDATE scrapifie.webhooks AS w
SET
    api_key_ids = array(
        SELECT k.id
        FROM unnest(w.api_key_ids) AS k (id)
        WHERE EXISTS (
                SELECT FROM scrapifie.api_keys AS a
                WHERE a.id = k.id AND a.organization_id = w.organization_id
            )
    )
WHERE EXISTS (
        SELECT FROM unnest(w.api_key_ids) AS k (id)
        WHERE NOT EXISTS (
                SELECT FROM scrapifie.api_keys AS a
                WHERE a.id = k.id AND a.organization_id = w.organization_id
            )
    );

UPDATE scrapifie.usage_records AS r
SET subscription_id = NULL
WHERE
    r.subscription_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.subscriptions AS s
        WHERE s.id = r.subscription_id AND s.organization_id = r.organization_id
    );

UPDATE scrapifie.invoices AS i
SET subscription_id = NULL
WHERE
    i.subscription_id IS NOT NULL
    AND NOT EXISTS (
        SELECT FROM scrapifie.subscriptions AS s
        WHERE s.id = i.subscription_id AND s.organization_id = i.organization_id
    );

-- Tables: validation (parents before children) ---------------------------------------------------

ALTER TABLE scrapifie.organizations VALIDATE CONSTRAINT organizations_non_negative_allowance;
ALTER TABLE scrapifie.organizations VALIDATE CONSTRAINT organizations_valid_limits;

ALTER TABLE scrapifie.api_keys VALIDATE CONSTRAINT api_keys_created_by_user_id_fkey;
ALTER TABLE scrapifie.api_keys VALIDATE CONSTRAINT api_keys_revoked_by_user_id_fkey;
ALTER TABLE scrapifie.api_keys VALIDATE CONSTRAINT api_keys_non_negative_limits;

ALTER TABLE scrapifie.scrape_jobs VALIDATE CONSTRAINT scrape_jobs_api_key_id_fkey;
ALTER TABLE scrapifie.scrape_jobs VALIDATE CONSTRAINT scrape_jobs_valid_status;
ALTER TABLE scrapifie.scrape_jobs VALIDATE CONSTRAINT scrape_jobs_valid_engine;
ALTER TABLE scrapifie.scrape_jobs VALIDATE CONSTRAINT scrape_jobs_valid_proxy_tier;
ALTER TABLE scrapifie.scrape_jobs VALIDATE CONSTRAINT scrape_jobs_valid_method;
ALTER TABLE scrapifie.scrape_jobs VALIDATE CONSTRAINT scrape_jobs_valid_options;
ALTER TABLE scrapifie.scrape_jobs VALIDATE CONSTRAINT scrape_jobs_non_negative_credits;

ALTER TABLE scrapifie.job_events VALIDATE CONSTRAINT job_events_valid_type;
ALTER TABLE scrapifie.job_events VALIDATE CONSTRAINT chk_job_events_created_at_range;

ALTER TABLE scrapifie.webhooks VALIDATE CONSTRAINT webhooks_created_by_user_id_fkey;

ALTER TABLE scrapifie.subscriptions VALIDATE CONSTRAINT subscriptions_non_negative_amounts;
ALTER TABLE scrapifie.subscriptions VALIDATE CONSTRAINT subscriptions_valid_period;

ALTER TABLE scrapifie.usage_records VALIDATE CONSTRAINT usage_records_non_negative_counts;
ALTER TABLE scrapifie.usage_records VALIDATE CONSTRAINT chk_usage_records_period_start_range;

ALTER TABLE scrapifie.invoices VALIDATE CONSTRAINT invoices_subscription_id_fkey;
ALTER TABLE scrapifie.invoices VALIDATE CONSTRAINT invoices_non_negative_amounts;
ALTER TABLE scrapifie.invoices VALIDATE CONSTRAINT invoices_valid_period;
