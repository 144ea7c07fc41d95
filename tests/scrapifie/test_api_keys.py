"""API keys: stored only as a hash; authentication accepts valid keys and says nothing else."""

from __future__ import annotations

import hashlib
import ipaddress
import uuid

import psycopg
import pytest

from pg import TestDB, concurrently, errors

AUTH = "SELECT organization_id, api_key_id, scopes FROM scrapifie.authenticate_api_key(%s, %s, %s)"


def _create(db: TestDB, org: uuid.UUID, **kw: object) -> tuple[uuid.UUID, str]:
    """A key made the way the application makes it: as scrapifie_app acting for org."""
    args = ", ".join(f"{k} => %({k})s" for k in kw)
    with db.as_role("scrapifie_app", {"app.organization_id": str(org)}) as conn:
        row = conn.execute(f"SELECT api_key_id, raw_key FROM scrapifie.create_api_key(%(org)s, 'ci'"
                           f"{', ' + args if args else ''})", {"org": org, **kw}).fetchone()
        conn.commit()
    return row


def _auth(db: TestDB, raw: str | None, ip: str | None = None, agent: str | None = None) -> list[tuple]:
    with db.as_role("scrapifie_app") as conn:  # before authentication no organization is known
        rows = conn.execute(AUTH, (raw, ip, agent)).fetchall()
        conn.commit()
    return rows


def test_a_valid_key_authenticates_and_records_its_use(db: TestDB, make) -> None:
    org = make.org()
    key_id, raw = _create(db, org, p_scopes='["scrape:read"]')
    prefix, stored_hash = db.query("SELECT key_prefix, key_hash FROM scrapifie.api_keys WHERE id = %s", (key_id,))[0]
    assert raw.startswith(prefix + "_") and len(raw) == 11 + 1 + 64
    assert stored_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert _auth(db, raw, "203.0.113.7", "curl/8") == [(org, key_id, ["scrape:read"])]
    assert _auth(db, raw) == [(org, key_id, ["scrape:read"])]
    used = db.query("SELECT usage_count, last_used_at > now() - interval '1 minute', last_used_ip,"
                    " last_used_user_agent FROM scrapifie.api_keys WHERE id = %s", (key_id,))[0]
    assert used == (2, True, ipaddress.ip_address("203.0.113.7"), "curl/8")


def test_every_refusal_looks_the_same(db: TestDB, make) -> None:
    org = make.org()
    keys = {name: _create(db, org) for name in ("revoked", "expired", "inactive", "null_active", "live")}
    db.execute("UPDATE scrapifie.api_keys SET revoked_at = now() WHERE id = %s", (keys["revoked"][0],))
    db.execute("UPDATE scrapifie.api_keys SET expires_at = now() - interval '1 second' WHERE id = %s",
               (keys["expired"][0],))
    db.execute("UPDATE scrapifie.api_keys SET is_active = false WHERE id = %s", (keys["inactive"][0],))
    db.execute("UPDATE scrapifie.api_keys SET is_active = NULL WHERE id = %s", (keys["null_active"][0],))
    gone = make.org()
    _, deleted_org_key = _create(db, gone)
    db.execute("UPDATE scrapifie.organizations SET deleted_at = now() WHERE id = %s", (gone,))
    live_raw = keys["live"][1]
    refused = [raw for name, (_, raw) in keys.items() if name != "live"] + [
        deleted_org_key, "sk_00000000_" + "0" * 64, live_raw.upper(), live_raw + " ", ""]
    for raw in refused:
        assert _auth(db, raw) == []
    assert db.scalar("SELECT sum(usage_count) FROM scrapifie.api_keys") == 0  # refusals record nothing
    with pytest.raises(psycopg.errors.NullValueNotAllowed):  # no key at all is a caller's bug, not a refusal
        _auth(db, None)
    assert len(_auth(db, live_raw)) == 1
    # a future expiry is fine
    db.execute("UPDATE scrapifie.api_keys SET expires_at = now() + interval '1 day' WHERE id = %s",
               (keys["live"][0],))
    assert len(_auth(db, live_raw)) == 1


def test_the_raw_key_is_stored_nowhere(db: TestDB, make) -> None:
    org = make.org()
    _, raw = _create(db, org)
    _auth(db, raw, "198.51.100.1", "agent")
    secret = raw.split("_", 2)[2]
    tables = [r[0] for r in db.query("""SELECT c.oid::regclass::text FROM pg_class c
                                        WHERE c.relnamespace = 'scrapifie'::regnamespace AND c.relkind IN ('r', 'p')
                                          AND NOT c.relispartition""")]
    for table in tables:
        hits = db.scalar(f"SELECT count(*) FROM {table} t WHERE strpos(row_to_json(t)::text, %s) > 0", (secret,))
        assert (table, hits) == (table, 0)
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE strpos(detail, %s) > 0", (secret,)) == 0


def test_app_role_sees_keys_of_its_own_organization_only(db: TestDB, make) -> None:
    mine, theirs = make.org(), make.org()
    my_key, _ = _create(db, mine)
    _create(db, theirs)
    with db.as_role("scrapifie_app", {"app.organization_id": str(mine)}) as conn:
        assert [r[0] for r in conn.execute("SELECT id FROM scrapifie.api_keys").fetchall()] == [my_key]
    with db.as_role("scrapifie_app") as conn:
        assert conn.execute("SELECT count(*) FROM scrapifie.api_keys").fetchone()[0] == 0
    # and creating a key for another organization is refused (the acting organization is checked)
    with db.as_role("scrapifie_app", {"app.organization_id": str(mine)}) as conn, \
            pytest.raises(psycopg.errors.InsufficientPrivilege):
        conn.execute("SELECT * FROM scrapifie.create_api_key(%s, 'x')", (theirs,))


def test_concurrent_authentications_count_every_use(db: TestDB, make) -> None:
    org = make.org()
    key_id, raw = _create(db, org)

    def work(conn: psycopg.Connection, i: int) -> int:
        conn.execute("SET ROLE scrapifie_app")
        return sum(len(conn.execute(AUTH, (raw, None, None)).fetchall()) for _ in range(10))

    results = concurrently(8, db.url, work)
    assert errors(results) == [] and sum(results) == 80
    assert db.scalar("SELECT usage_count FROM scrapifie.api_keys WHERE id = %s", (key_id,)) == 80
