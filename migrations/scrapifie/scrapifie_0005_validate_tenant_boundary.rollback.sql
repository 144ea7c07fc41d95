-- scrapifie 0005 rollback: the constraints scrapifie_0005 validated are NOT VALID again (dropped and
-- re-added NOT VALID, exactly as scrapifie_0004 left them; no scan). Repaired rows stay repaired.

SET LOCAL ROLE schema_tool_owner;

ALTER TABLE scrapifie.invoices
DROP CONSTRAINT invoices_subscription_id_fkey,
DROP CONSTRAINT invoices_non_negative_amounts,
DROP CONSTRAINT invoices_valid_period,
ADD CONSTRAINT invoices_subscription_id_fkey FOREIGN KEY (organization_id, subscription_id)
REFERENCES scrapifie.subscriptions (organization_id, id) NOT VALID,
ADD CONSTRAINT invoices_non_negative_amounts CHECK (
    subtotal_cents >= 0 AND tax_cents >= 0 AND tax_rate >= 0 AND discount_cents >= 0 AND total_cents >= 0
    AND amount_paid_cents >= 0 AND amount_due_cents >= 0
) NOT VALID,
ADD CONSTRAINT invoices_valid_period CHECK (period_end >= period_start) NOT VALID;

ALTER TABLE scrapifie.usage_records
DROP CONSTRAINT usage_records_non_negative_counts,
DROP CONSTRAINT chk_usage_records_period_start_range,
ADD CONSTRAINT usage_records_non_negative_counts CHECK (
    total_requests >= 0 AND successful_requests >= 0 AND failed_requests >= 0 AND credits_used >= 0
    AND credits_included_used >= 0 AND credits_overage_used >= 0 AND http_requests >= 0
    AND browser_requests >= 0 AND stealth_requests >= 0 AND datacenter_requests >= 0
    AND residential_requests >= 0 AND mobile_requests >= 0 AND captcha_solves >= 0
    AND screenshots_taken >= 0 AND pdfs_generated >= 0 AND bandwidth_in_bytes >= 0
    AND bandwidth_out_bytes >= 0 AND proxy_cost_cents >= 0 AND captcha_cost_cents >= 0
    AND overage_amount_cents >= 0
) NOT VALID,
ADD CONSTRAINT chk_usage_records_period_start_range CHECK (
    period_start >= '2000-01-01 00:00:00+00' AND period_start < '2100-01-01 00:00:00+00'
) NOT VALID;

ALTER TABLE scrapifie.subscriptions
DROP CONSTRAINT subscriptions_non_negative_amounts,
DROP CONSTRAINT subscriptions_valid_period,
ADD CONSTRAINT subscriptions_non_negative_amounts CHECK (
    base_price_cents >= 0 AND credits_included >= 0 AND credits_overage_rate >= 0
) NOT VALID,
ADD CONSTRAINT subscriptions_valid_period CHECK (
    current_period_end >= current_period_start AND trial_end >= trial_start
) NOT VALID;

ALTER TABLE scrapifie.webhooks
DROP CONSTRAINT webhooks_created_by_user_id_fkey,
ADD CONSTRAINT webhooks_created_by_user_id_fkey FOREIGN KEY (organization_id, created_by_user_id)
REFERENCES scrapifie.users (organization_id, id) ON DELETE SET NULL (created_by_user_id) NOT VALID;

ALTER TABLE scrapifie.job_events
DROP CONSTRAINT job_events_valid_type,
DROP CONSTRAINT chk_job_events_created_at_range,
ADD CONSTRAINT job_events_valid_type CHECK (
    event_type::text = any(
        '{job.created,job.queued,job.started,job.engine_selected,job.proxy_assigned,job.fingerprint_applied,'
        'job.request_sent,job.response_received,job.content_extracted,job.screenshot_taken,'
        'job.captcha_detected,job.captcha_solving,job.captcha_solved,job.captcha_failed,'
        'job.retry_scheduled,job.escalated,job.completed,job.failed,job.timeout,job.canceled,'
        'job.result_expired,webhook.queued,webhook.sent,webhook.failed}'::text[]
    )
) NOT VALID,
ADD CONSTRAINT chk_job_events_created_at_range CHECK (
    created_at >= '2000-01-01 00:00:00+00' AND created_at < '2100-01-01 00:00:00+00'
) NOT VALID;

ALTER TABLE scrapifie.scrape_jobs
DROP CONSTRAINT scrape_jobs_api_key_id_fkey,
DROP CONSTRAINT scrape_jobs_valid_status,
DROP CONSTRAINT scrape_jobs_valid_engine,
DROP CONSTRAINT scrape_jobs_valid_proxy_tier,
DROP CONSTRAINT scrape_jobs_valid_method,
DROP CONSTRAINT scrape_jobs_valid_options,
DROP CONSTRAINT scrape_jobs_non_negative_credits,
ADD CONSTRAINT scrape_jobs_api_key_id_fkey FOREIGN KEY (organization_id, api_key_id)
REFERENCES scrapifie.api_keys (organization_id, id) ON DELETE SET NULL (api_key_id) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_status CHECK (
    status::text = any('{pending,queued,running,completed,failed,canceled,timeout}'::text[])
) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_engine CHECK (engine::text = any('{auto,http,browser,stealth}'::text[])) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_proxy_tier CHECK (
    proxy_tier::text = any('{datacenter,residential,mobile,isp}'::text[])
) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_method CHECK (
    method::text = any('{GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS}'::text[])
) NOT VALID,
ADD CONSTRAINT scrape_jobs_valid_options CHECK (scrapifie.job_options_valid(options)) NOT VALID,
ADD CONSTRAINT scrape_jobs_non_negative_credits CHECK (
    credits_estimated >= 0 AND credits_charged >= 0
) NOT VALID;

ALTER TABLE scrapifie.api_keys
DROP CONSTRAINT api_keys_created_by_user_id_fkey,
DROP CONSTRAINT api_keys_revoked_by_user_id_fkey,
DROP CONSTRAINT api_keys_non_negative_limits,
ADD CONSTRAINT api_keys_created_by_user_id_fkey FOREIGN KEY (organization_id, created_by_user_id)
REFERENCES scrapifie.users (organization_id, id) ON DELETE SET NULL (created_by_user_id) NOT VALID,
ADD CONSTRAINT api_keys_revoked_by_user_id_fkey FOREIGN KEY (organization_id, revoked_by_user_id)
REFERENCES scrapifie.users (organization_id, id) ON DELETE SET NULL (revoked_by_user_id) NOT VALID,
ADD CONSTRAINT api_keys_non_negative_limits CHECK (
    credits_limit >= 0 AND rate_limit_override > 0 AND max_concurrent_override > 0
) NOT VALID;

ALTER TABLE scrapifie.organizations
DROP CONSTRAINT organizations_non_negative_allowance,
DROP CONSTRAINT organizations_valid_limits,
ADD CONSTRAINT organizations_non_negative_allowance CHECK (
    credits_included_monthly >= 0 AND credits_overage_rate >= 0
) NOT VALID,
ADD CONSTRAINT organizations_valid_limits CHECK (
    max_batch_size > 0 AND data_retention_days BETWEEN 1 AND 3650
) NOT VALID;
