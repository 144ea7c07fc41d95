"""Bad input is an error (issue 11, item 7): every scrapifie function given NULL, empty,
zero, negative, huge or malformed arguments raises a named SQLSTATE and changes nothing."""

from __future__ import annotations

import re
import uuid

import pytest
from psycopg import errors

from pg import TestDB
from scrapifie.support import APP, BILLING, WORKER, acting

NULL, BAD, MALFORMED, MISSING, DENIED, CHECK = (
    errors.NullValueNotAllowed, errors.InvalidParameterValue, errors.InvalidTextRepresentation, errors.NoDataFound,
    errors.InsufficientPrivilege, errors.CheckViolation)
LONG = "x" * 10000

# (role, SQL with %(org)s, %(other)s, %(job)s, %(user)s, %(key)s, %(hook)s, %(nobody)s, %(long)s, the error)
CASES = [
    (APP, "SELECT scrapifie.deduct_credits(NULL, 1)", NULL),
    (APP, "SELECT scrapifie.deduct_credits(%(org)s, NULL)", NULL),
    (APP, "SELECT scrapifie.deduct_credits(%(org)s, 0)", BAD),
    (APP, "SELECT scrapifie.deduct_credits(%(org)s, -1)", BAD),
    (APP, "SELECT scrapifie.deduct_credits(%(other)s, 1)", DENIED),
    (APP, "SELECT scrapifie.check_organization_credits(NULL, 1)", NULL),
    (APP, "SELECT scrapifie.check_organization_credits(%(org)s, NULL)", NULL),
    (APP, "SELECT scrapifie.check_organization_credits(%(org)s, 0)", BAD),
    (APP, "SELECT scrapifie.check_organization_credits(%(org)s, -9223372036854775807)", BAD),
    (APP, "SELECT scrapifie.calculate_job_credits(NULL)", NULL),
    (APP, "SELECT scrapifie.calculate_url_hash(NULL)", NULL),
    (APP, "SELECT * FROM scrapifie.get_usage_summary(NULL, now(), now())", NULL),
    (APP, "SELECT * FROM scrapifie.get_usage_summary(%(org)s, NULL, now())", NULL),
    (APP, "SELECT * FROM scrapifie.get_usage_summary(%(org)s, now(), NULL)", NULL),
    (APP, "SELECT * FROM scrapifie.get_usage_summary(%(org)s, now(), now() - interval '1 day')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(NULL, 'https://x.test/')", NULL),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(other)s, 'https://x.test/')", DENIED),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, NULL)", NULL),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, '')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'javascript:alert(1)')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'JavaScript://x.test/%%0aalert(1)')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'file:///etc/passwd')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'data:text/html,x')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, '/relative')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/a b')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://' || %(long)s)", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_options => '[]')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_options => '5')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_webhook_url => 'javascript:x')",
     BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_webhook_url => '')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_queue_name => '')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_idempotency_key => '')", BAD),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_priority => NULL)", NULL),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_engine => 'curl')", CHECK),
    (APP, "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/', p_api_key_id => %(nobody)s)",
     MISSING),
    (APP, "SELECT * FROM scrapifie.create_api_key(NULL, 'k')", NULL),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(other)s, 'k')", DENIED),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, NULL)", NULL),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, '  ')", BAD),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, %(long)s)", BAD),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, 'k', p_scopes => '{}')", BAD),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, 'k', p_scopes => '[1]')", BAD),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, 'k', p_expires_at => now() - interval '1 second')", BAD),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, 'k', p_environment => 'test')", CHECK),
    (APP, "SELECT * FROM scrapifie.create_api_key(%(org)s, 'k', p_created_by_user_id => %(nobody)s)", MISSING),
    (APP, "SELECT scrapifie.revoke_api_key(NULL)", NULL),
    (APP, "SELECT scrapifie.revoke_api_key(%(nobody)s)", MISSING),
    (APP, "SELECT scrapifie.revoke_api_key(%(key)s, NULL, %(long)s)", BAD),
    (APP, "SELECT scrapifie.cancel_scrape_job(NULL)", NULL),
    (APP, "SELECT scrapifie.cancel_scrape_job(%(nobody)s)", MISSING),
    (APP, "SELECT * FROM scrapifie.authenticate_api_key(NULL)", NULL),
    (APP, "SELECT * FROM scrapifie.get_domain_intelligence(NULL)", NULL),
    (APP, "SELECT * FROM scrapifie.get_domain_intelligence('')", BAD),
    (APP, "SELECT scrapifie.set_user_password(NULL, 'long enough')", NULL),
    (APP, "SELECT scrapifie.set_user_password(%(user)s, NULL)", NULL),
    (APP, "SELECT scrapifie.set_user_password(%(user)s, 'short')", BAD),
    (APP, "SELECT scrapifie.set_user_password(%(nobody)s, 'long enough')", MISSING),
    (APP, "SELECT scrapifie.verify_user_password(%(user)s, NULL)", NULL),
    (APP, "SELECT scrapifie.verify_user_password(%(nobody)s, 'x')", MISSING),
    (APP, "SELECT scrapifie.verify_user_mfa_code(%(user)s, NULL)", NULL),
    (APP, "SELECT scrapifie.verify_user_mfa_code(%(user)s, 'abcdef')", BAD),
    (APP, "SELECT scrapifie.use_mfa_backup_code(%(user)s, '')", BAD),
    (APP, "SELECT scrapifie.use_mfa_backup_code(%(user)s, NULL)", NULL),
    (APP, "SELECT scrapifie.confirm_user_email(%(user)s, NULL)", NULL),
    (APP, "SELECT scrapifie.invalidate_user_sessions(NULL)", NULL),
    (APP, "SELECT scrapifie.invalidate_user_sessions(%(nobody)s)", MISSING),
    (WORKER, "SELECT * FROM scrapifie.claim_scrape_jobs(NULL, 'default', 1)", NULL),
    (WORKER, "SELECT * FROM scrapifie.claim_scrape_jobs('w', NULL, 1)", NULL),
    (WORKER, "SELECT * FROM scrapifie.claim_scrape_jobs('w', 'default', NULL)", NULL),
    (WORKER, "SELECT * FROM scrapifie.claim_scrape_jobs('', 'default', 1)", BAD),
    (WORKER, "SELECT * FROM scrapifie.claim_scrape_jobs(%(long)s, 'default', 1)", BAD),
    (WORKER, "SELECT * FROM scrapifie.claim_scrape_jobs('w', 'default', 0)", BAD),
    (WORKER, "SELECT * FROM scrapifie.claim_scrape_jobs('w', 'default', 1001)", BAD),
    (WORKER, "SELECT * FROM scrapifie.complete_and_claim_scrape_job(%(job)s, 'w', NULL)", NULL),
    (WORKER, "SELECT * FROM scrapifie.complete_and_claim_scrape_job(NULL, 'w', 1)", NULL),
    (WORKER, "SELECT * FROM scrapifie.complete_and_claim_scrape_job(NULL, NULL, NULL)", NULL),
    (WORKER, "SELECT * FROM scrapifie.complete_and_claim_scrape_job(NULL, 'w', NULL, NULL)", NULL),
    (WORKER, "SELECT * FROM scrapifie.complete_and_claim_scrape_job(NULL, '', NULL)", BAD),
    (WORKER, "SELECT * FROM scrapifie.complete_and_claim_scrape_job(%(nobody)s, 'w', 1)", MISSING),
    (WORKER, "SELECT scrapifie.complete_scrape_job(NULL, 'w', 1)", NULL),
    (WORKER, "SELECT scrapifie.complete_scrape_job(%(job)s, NULL, 1)", NULL),
    (WORKER, "SELECT scrapifie.complete_scrape_job(%(nobody)s, 'w', 1)", MISSING),
    (WORKER, "SELECT scrapifie.complete_scrape_job(%(job)s, 'w', 1, '\"done\"')", BAD),
    (WORKER, "SELECT scrapifie.fail_scrape_job(%(job)s, 'w', 1, NULL)", NULL),
    (WORKER, "SELECT scrapifie.fail_scrape_job(%(job)s, 'w', 1, '')", BAD),
    (WORKER, "SELECT scrapifie.fail_scrape_job(%(job)s, 'w', 1, 'x', p_error_details => '[1]')", BAD),
    (WORKER, "SELECT scrapifie.fail_scrape_job(%(job)s, 'w', 1, 'x', p_retry => NULL)", NULL),
    (WORKER, "SELECT scrapifie.fail_scrape_job(%(nobody)s, 'w', 1, 'x')", MISSING),
    (WORKER, "SELECT * FROM scrapifie.due_job_webhooks(NULL)", NULL),
    (WORKER, "SELECT * FROM scrapifie.due_job_webhooks(0)", BAD),
    (WORKER, "SELECT * FROM scrapifie.due_job_webhooks(1001)", BAD),
    (WORKER, "SELECT scrapifie.job_webhook_signature(NULL, 'p')", NULL),
    (WORKER, "SELECT scrapifie.job_webhook_signature(%(job)s, NULL)", NULL),
    (WORKER, "SELECT scrapifie.job_webhook_signature(%(nobody)s, 'p')", MISSING),
    (WORKER, "SELECT scrapifie.record_job_webhook_delivery(NULL, true)", NULL),
    (WORKER, "SELECT scrapifie.record_job_webhook_delivery(%(job)s, NULL)", NULL),
    (WORKER, "SELECT scrapifie.record_job_webhook_delivery(%(nobody)s, true)", MISSING),
    (WORKER, "SELECT scrapifie.webhook_signature(%(nobody)s, 'p')", MISSING),
    (WORKER, "SELECT scrapifie.webhook_signature(%(hook)s, NULL)", NULL),
    (WORKER, "SELECT scrapifie.record_webhook_delivery(NULL, true)", NULL),
    (WORKER, "SELECT scrapifie.record_webhook_delivery(%(nobody)s, false)", MISSING),
    (BILLING, "SELECT scrapifie.add_credits(NULL, 1)", NULL),
    (BILLING, "SELECT scrapifie.add_credits(%(org)s, NULL)", NULL),
    (BILLING, "SELECT scrapifie.add_credits(%(org)s, 0)", BAD),
    (BILLING, "SELECT scrapifie.add_credits(%(org)s, -1)", BAD),
    (BILLING, "SELECT scrapifie.add_credits(%(other)s, 1)", DENIED),
    (None, "SELECT scrapifie.cleanup_old_jobs(NULL)", NULL),
    (None, "SELECT scrapifie.cleanup_old_jobs(0)", BAD),
    (None, "SELECT scrapifie.cleanup_old_jobs(2147483647)", BAD),
    (None, "SELECT scrapifie.base32_decode('1!')", MALFORMED),
]


@pytest.fixture
def rows(db: TestDB, make) -> dict[str, object]:
    org, other = make.org(balance=10), make.org(balance=10)
    return {
        "org": org, "other": other, "user": make.user(org),
        "job": make.job(org, webhook_url="https://h.test/", status="running", worker_id="w", attempts=1),
        "key": make.insert("api_keys", organization_id=org, key_hash="h", name="k"),
        "hook": make.insert("webhooks", organization_id=org, name="w", url="https://h.test/", secret="s"),
        "nobody": uuid.uuid4(), "long": "x" * 10000,
    }


def _state(db: TestDB) -> list[tuple]:
    return db.query("""SELECT 'job', to_jsonb(j) FROM scrapifie.scrape_jobs j
                       UNION ALL SELECT 'org', to_jsonb(o) FROM scrapifie.organizations o
                       UNION ALL SELECT 'user', to_jsonb(u) FROM scrapifie.users u
                       UNION ALL SELECT 'key', to_jsonb(k) FROM scrapifie.api_keys k
                       UNION ALL SELECT 'event', to_jsonb(e) FROM scrapifie.job_events e ORDER BY 1, 2""")


def test_every_bad_argument_gets_its_sqlstate(db: TestDB, rows: dict[str, object]) -> None:
    before = _state(db)
    got = []
    for role, sql, error in CASES:
        with db.as_role(role or "schema_tool_owner", acting(rows["org"])) as conn:
            try:
                conn.execute(sql, rows)
                got.append((sql, None))
            except errors.Error as exc:
                got.append((sql, type(exc)))
    assert got == [(sql, error) for _, sql, error in CASES]
    assert _state(db) == before


# callable with arguments, and deliberately not erroring on NULL
NULL_IS_AN_ANSWER = {
    "get_fingerprint": "NULL filters mean any browser, OS or locale (documented)",
    "is_http_url": "a predicate: NULL in, NULL out, like the operators it is made of",
    "job_options_valid": "a predicate (scrape_jobs_valid_options): NULL in, NULL out; the column is NOT NULL",
}


def test_every_callable_function_has_bad_input_cases(db: TestDB) -> None:
    """Each function with arguments that an application, worker or billing role may call
    appears in CASES (or says above why NULL is an answer): a new one cannot be forgotten."""
    callable_with_arguments = {r[0] for r in db.query(
        """SELECT p.proname FROM pg_proc p WHERE p.pronamespace = 'scrapifie'::regnamespace AND p.pronargs > 0
             AND p.prorettype <> 'trigger'::regtype
             AND (has_function_privilege(%s, p.oid, 'EXECUTE') OR has_function_privilege(%s, p.oid, 'EXECUTE')
                  OR has_function_privilege(%s, p.oid, 'EXECUTE'))""", (APP, WORKER, BILLING))}
    covered = {m for _, sql, _ in CASES for m in re.findall(r"scrapifie\.(\w+)\(", sql)}
    assert callable_with_arguments - set(NULL_IS_AN_ANSWER) <= covered
    assert set(NULL_IS_AN_ANSWER) <= callable_with_arguments
