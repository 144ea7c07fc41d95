-- scrapifie 0002: the seed's initial data (its migration 002_seed_initial_data): the
-- default proxy providers, without credentials yet, and the sample fingerprint.
-- depends: scrapifie_0001_schema

SET LOCAL ROLE schema_tool_owner;

-- Data -----------------------------------------------------------------------------------

INSERT INTO scrapifie.proxy_providers (name, display_name, credentials, is_active) VALUES
('brightdata', 'Bright Data', '{}', TRUE),
('oxylabs', 'Oxylabs', '{}', TRUE),
('smartproxy', 'Smartproxy', '{}', TRUE);

-- the seed hashed with pgcrypto's digest(); sha256() is built in and gives the same bytes
INSERT INTO scrapifie.fingerprints (
    fingerprint_hash,
    fingerprint_data,
    browser_type,
    browser_version,
    os_type,
    user_agent,
    locale
) VALUES (
    encode(sha256(convert_to('chrome-120-windows', 'UTF8')), 'hex'),
    '{"browser": "chrome", "version": 120}',
    'chrome',
    '120',
    'windows',
    'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36',
    'en-US'
);
