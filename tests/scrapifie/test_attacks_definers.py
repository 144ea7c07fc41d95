"""The SECURITY DEFINER functions scrapifie_app may call, each pointed at another
organization's row while acting for one's own: refused (P0002: not found, or 42501),
and the other organization's rows unchanged."""

from __future__ import annotations

import psycopg
import pytest

from pg import TestDB
from scrapifie.support import APP, acting

ATTACKS = [
    "SELECT scrapifie.set_user_password(%(user)s, 'correct horse')",
    "SELECT scrapifie.verify_user_password(%(user)s, 'correct horse')",
    "SELECT scrapifie.invalidate_user_sessions(%(user)s)",
    "SELECT scrapifie.confirm_user_email(%(user)s, %(email)s)",
    "SELECT scrapifie.verify_user_mfa_code(%(user)s, '123456')",
    "SELECT scrapifie.use_mfa_backup_code(%(user)s, 'backup-1')",
    "SELECT scrapifie.cancel_scrape_job(%(job)s)",
    "SELECT scrapifie.revoke_api_key(%(key)s)",
    "SELECT scrapifie.deduct_credits(%(org)s, 1)",
    "SELECT * FROM scrapifie.create_api_key(%(org)s, 'k')",
    "SELECT * FROM scrapifie.submit_scrape_job(%(org)s, 'https://x.test/')",
]


def _state(db: TestDB, org: object) -> list[tuple]:
    return db.query("""SELECT 'org', to_jsonb(o) FROM scrapifie.organizations o WHERE o.id = %(o)s
                       UNION ALL SELECT 'user', to_jsonb(u) FROM scrapifie.users u WHERE u.organization_id = %(o)s
                       UNION ALL SELECT 'job', to_jsonb(j) FROM scrapifie.scrape_jobs j WHERE j.organization_id = %(o)s
                       UNION ALL SELECT 'key', to_jsonb(k) FROM scrapifie.api_keys k WHERE k.organization_id = %(o)s
                       ORDER BY 1, 2""", {"o": org})


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda s: s.split("scrapifie.")[1].split("(")[0])
def test_a_definer_function_refuses_another_organizations_row(db: TestDB, make, attack: str) -> None:
    mine, theirs = make.org(balance=10), make.org(balance=10)
    email = "victim@theirs.test"
    target = {"org": theirs, "email": email,
              "user": make.user(theirs, email=email, password_hash="x", mfa_secret="JBSWY3DPEHPK3PXP",
                                mfa_backup_codes=["backup-1"]),
              "job": make.job(theirs), "key": make.insert("api_keys", organization_id=theirs, key_hash="h", name="k")}
    before = _state(db, theirs)
    with db.as_role(APP, acting(mine)) as conn, pytest.raises(psycopg.Error) as refused:
        conn.execute(attack, target)
    assert refused.value.sqlstate in ("P0002", "42501"), refused.value
    assert _state(db, theirs) == before
