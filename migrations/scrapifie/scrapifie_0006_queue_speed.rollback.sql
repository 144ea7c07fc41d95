-- scrapifie 0006 rollback: drops complete_and_claim_scrape_job and its helper.

SET LOCAL ROLE schema_tool_owner;

DROP FUNCTION scrapifie.complete_and_claim_scrape_job(uuid, text, integer, text);
DROP FUNCTION scrapifie.lost_job(uuid, text, integer);
