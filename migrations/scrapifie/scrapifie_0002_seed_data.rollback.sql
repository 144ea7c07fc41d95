-- scrapifie 0002 rollback: removes the seed's initial data.

SET LOCAL ROLE schema_tool_owner;

DELETE FROM scrapifie.fingerprints
WHERE fingerprint_hash = encode(sha256(convert_to('chrome-120-windows', 'UTF8')), 'hex');

DELETE FROM scrapifie.proxy_providers
WHERE name IN ('brightdata', 'oxylabs', 'smartproxy');
