"""Secrets (issue 11, item 5): no application, worker or reporting role reads a secret or a
credential-bearing column; verification and signing happen inside the database."""

from __future__ import annotations

import hashlib
import uuid

import pytest
from psycopg import errors

from pg import TestDB, concurrently
from scrapifie.support import APP, WORKER, acting

# never readable by scrapifie_app (write-only where the application sets them)
APP_SECRETS = {"users.password_hash", "users.mfa_secret", "users.mfa_backup_codes", "api_keys.key_hash",
               "webhooks.secret", "scrape_jobs.webhook_secret"}
# never readable by schema_tool_readonly: the secrets, credential-bearing and scraped content, personal data
READONLY_HIDDEN = APP_SECRETS | {
    "users.last_login_ip", "api_keys.last_used_ip", "scrape_jobs.headers", "scrape_jobs.body",
    "scrape_jobs.webhook_url", "job_results.headers", "job_results.cookies", "job_results.content_inline",
    "job_results.extracted_title", "job_results.extracted_text", "job_results.extracted_links",
    "job_results.extracted_images", "job_results.extracted_data", "webhooks.url", "proxy_providers.credentials",
    "proxy_providers.datacenter_endpoint", "proxy_providers.residential_endpoint",
    "proxy_providers.mobile_endpoint"}
SYSTEM_TABLES = {"proxy_providers", "fingerprints", "domain_intelligence", "invoice_number_counters"}


def _columns(db: TestDB) -> dict[str, list[str]]:
    rows = db.query("""SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
                       WHERE c.relnamespace = 'scrapifie'::regnamespace AND c.relkind IN ('r', 'p')
                         AND NOT c.relispartition AND a.attnum > 0 AND NOT a.attisdropped ORDER BY 1, a.attnum""")
    out: dict[str, list[str]] = {}
    for table, column in rows:
        out.setdefault(table, []).append(column)
    return out


def _readable(db: TestDB, role: str) -> set[str]:
    return {f"{t}.{c}" for t, c in db.query(
        """SELECT c.relname, a.attname FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid
           WHERE c.relnamespace = 'scrapifie'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition
             AND a.attnum > 0 AND NOT a.attisdropped AND has_column_privilege(%s, c.oid, a.attnum, 'SELECT')""",
        (role,))}


def test_every_column_is_classified_for_each_role(db: TestDB) -> None:
    """A new column is readable by reporting and the application unless it is listed above:
    this test makes whoever adds one decide."""
    everything = {f"{t}.{c}" for t, cols in _columns(db).items() for c in cols}
    assert READONLY_HIDDEN <= everything and APP_SECRETS <= everything
    assert _readable(db, "schema_tool_readonly") == everything - READONLY_HIDDEN
    system = {c for c in everything if c.split(".")[0] in SYSTEM_TABLES}
    assert _readable(db, APP) == everything - APP_SECRETS - system
    assert _readable(db, WORKER) == set()


def test_each_hidden_column_is_refused_by_sqlstate(db: TestDB, make) -> None:
    org = make.org()
    make.user(org, password_hash="x", mfa_secret="JBSWY3DPEHPK3PXP")
    for role, hidden in (("schema_tool_readonly", READONLY_HIDDEN), (APP, APP_SECRETS)):
        for column in sorted(hidden):
            table, col = column.split(".")
            with db.as_role(role, acting(org)) as conn, pytest.raises(errors.InsufficientPrivilege):
                conn.execute(f"SELECT {col} FROM scrapifie.{table}")


def test_totp_is_rfc_6238(db: TestDB) -> None:
    # RFC 6238 appendix B, SHA-1 (the 8-digit values' last 6 digits)
    for at, code in (("1970-01-01 00:00:59+00", "287082"), ("2005-03-18 01:58:29+00", "081804"),
                     ("2009-02-13 23:31:30+00", "005924"), ("2033-05-18 03:33:20+00", "279037")):
        assert db.scalar("SELECT scrapifie.totp(convert_to('12345678901234567890', 'UTF8'), %s)", (at,)) == code
    assert db.scalar("SELECT encode(scrapifie.base32_decode('jbsw y3dp-ehpk3pxp=='), 'escape')") == "Hello!\\336\\255\\276\\357"
    with pytest.raises(errors.InvalidTextRepresentation):
        db.scalar("SELECT scrapifie.base32_decode('not base32!')")


def test_passwords_are_verified_inside(db: TestDB, make) -> None:
    org, other = make.org(), make.org()
    user = make.user(org)
    with db.as_role(APP, acting(org)) as conn:
        conn.execute("SELECT scrapifie.set_user_password(%s, 'correct horse')", (user,))
        verify = "SELECT scrapifie.verify_user_password(%s, %s, '192.0.2.1')"
        assert conn.execute(verify, (user, "correct horse")).fetchone()[0] is True
        assert conn.execute(verify, (user, "wrong")).fetchone()[0] is False
        for short in ("short", "x" * 73):
            with pytest.raises(errors.InvalidParameterValue), conn.transaction():
                conn.execute("SELECT scrapifie.set_user_password(%s, %s)", (user, short))
        conn.commit()
    stored = db.query("SELECT password_hash LIKE '$2a$10$%%', failed_login_attempts, last_login_ip::text,"
                      " session_version FROM scrapifie.users WHERE id = %s", (user,))[0]
    assert stored == (True, 1, "192.0.2.1/32", 2)
    with db.as_role(APP, acting(other)) as conn, pytest.raises(errors.NoDataFound):
        conn.execute("SELECT scrapifie.verify_user_password(%s, 'correct horse')", (user,))  # another tenant's user
    with db.as_role(APP, acting(org)) as conn:  # ten failures lock the account, even for the right password
        results = [conn.execute(verify, (user, "guess")).fetchone()[0] for _ in range(10)]
        assert results == [False] * 10
        assert conn.execute(verify, (user, "correct horse")).fetchone()[0] is False
        conn.commit()
    assert db.scalar("SELECT locked_until > now() FROM scrapifie.users WHERE id = %s", (user,)) is True


def test_mfa_codes_are_checked_inside_and_backup_codes_spent_once(db: TestDB, make) -> None:
    org = make.org()
    secret = "JBSWY3DPEHPK3PXP"
    user = make.user(org)
    with db.as_role(APP, acting(org)) as conn:  # the application writes the seed it showed, never reads it back
        conn.execute("UPDATE scrapifie.users SET mfa_secret = %s, mfa_enabled = true, mfa_backup_codes = %s"
                     " WHERE id = %s", (secret, ["c0de-1", "c0de-2"], user))
        now = db.scalar("SELECT scrapifie.totp(scrapifie.base32_decode(%s), now())", (secret,))
        assert conn.execute("SELECT scrapifie.verify_user_mfa_code(%s, %s)", (user, now)).fetchone()[0] is True
        wrong = f"{(int(now) + 1) % 1000000:06d}"
        assert conn.execute("SELECT scrapifie.verify_user_mfa_code(%s, %s)", (user, wrong)).fetchone()[0] is False
        with pytest.raises(errors.InvalidParameterValue), conn.transaction():
            conn.execute("SELECT scrapifie.verify_user_mfa_code(%s, '12345')", (user,))
        conn.commit()

    def spend(conn, i: int) -> bool:
        with conn.transaction():
            conn.execute("SET LOCAL ROLE scrapifie_app")
            conn.execute("SELECT set_config('app.organization_id', %s, true)", (str(org),))
            return conn.execute("SELECT scrapifie.use_mfa_backup_code(%s, 'c0de-1')", (user,)).fetchone()[0]

    assert sorted(concurrently(6, db.url, spend)) == [False] * 5 + [True]  # one use, whoever races
    assert db.scalar("SELECT mfa_backup_codes FROM scrapifie.users WHERE id = %s", (user,)) == ["c0de-2"]


def test_a_raw_api_key_is_never_stored_and_the_hash_never_read(db: TestDB, make) -> None:
    org = make.org()
    with db.as_role(APP, acting(org)) as conn:
        key, raw = conn.execute("SELECT * FROM scrapifie.create_api_key(%s, 'k')", (org,)).fetchone()
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("SELECT key_hash FROM scrapifie.api_keys")
        with pytest.raises(errors.InsufficientPrivilege), conn.transaction():
            conn.execute("INSERT INTO scrapifie.api_keys (organization_id, key_hash, name) VALUES (%s, %s, 'mine')",
                         (org, hashlib.sha256(b"chosen").hexdigest()))  # a key whose secret the caller chose
        conn.commit()
    assert db.scalar("SELECT key_hash FROM scrapifie.api_keys WHERE id = %s", (key,)) == hashlib.sha256(
        raw.encode()).hexdigest()
    assert str(uuid.UUID(int=0)) not in raw
