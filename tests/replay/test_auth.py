"""Secrets stay in the database: session tokens, API key hashes and webhook secrets are used
through SECURITY DEFINER functions that never return them."""

from __future__ import annotations

import hashlib
import hmac

import psycopg
import pytest

from pg import TestDB, concurrently, errors as failures


def test_authenticate_session(db: TestDB, app, make, world) -> None:
    make.insert("user_sessions", user_id=world.bob, session_token="tok-live", expires_at="2999-01-01",
                last_activity_at="2000-01-01")
    make.insert("user_sessions", user_id=world.bob, session_token="tok-expired", created_at="2000-01-01",
                expires_at="2001-01-01")
    make.insert("user_sessions", user_id=world.bob, session_token="tok-revoked", expires_at="2999-01-01",
                is_active=False)
    make.insert("user_sessions", user_id=world.ian, session_token="tok-locked", expires_at="2999-01-01")
    db.execute("UPDATE replay.users SET locked_until = now() + interval '1 hour' WHERE id = %s", (world.ian,))
    with app.as_user(None) as conn:  # before anyone is known
        check = "SELECT replay.authenticate_session(%s)"
        assert conn.execute(check, ("tok-live",)).fetchone() == (world.bob,)
        for token in ("tok-expired", "tok-revoked", "tok-locked", "no-such-token"):
            assert conn.execute(check, (token,)).fetchone() == (None,), token
        for token, error in ((None, psycopg.errors.NullValueNotAllowed), ("", psycopg.errors.InvalidParameterValue)):
            with pytest.raises(error), conn.transaction():
                conn.execute(check, (token,))
        conn.commit()
    touched = db.scalar("SELECT last_activity_at > now() - interval '1 minute' FROM replay.user_sessions"
                        " WHERE session_token = 'tok-live'")
    assert touched


def sha256_hex(raw: str) -> str:
    """What api_keys.key_hash holds: the SHA-256 of the raw key, lowercase hex."""
    return hashlib.sha256(raw.encode()).hexdigest()


def test_authenticate_api_key_counts_every_use_concurrently(db: TestDB, make, world) -> None:
    key = make.insert("api_keys", user_id=world.bob, name="ci key", key_hash=sha256_hex("rk_live"),
                      key_prefix="rk_l", scopes=["recordings:read"])
    make.insert("api_keys", user_id=world.bob, name="old key", key_hash=sha256_hex("rk_expired"), key_prefix="rk_e",
                expires_at="2001-01-01")
    make.insert("api_keys", user_id=world.dave, name="dave key", key_hash=sha256_hex("rk_gone"), key_prefix="rk_g")
    db.execute("UPDATE replay.users SET deleted_at = now() WHERE id = %s", (world.dave,))

    def use(conn, i):
        conn.execute("SET ROLE replay_app")
        return conn.execute("SELECT * FROM replay.authenticate_api_key('rk_live')").fetchall()

    results = concurrently(6, db.url, use)
    assert failures(results) == []
    assert all(r == [(world.bob, key, ["recordings:read"])] for r in results)
    assert db.query("SELECT usage_count, last_used_at IS NOT NULL FROM replay.api_keys WHERE id = %s",
                    (key,)) == [(6, True)]
    # the stored hash is no credential (replay/test_attacks_accounts.py); other keys get no row
    for raw in ("rk_expired", "rk_gone", "nope", sha256_hex("rk_live")):
        assert db.query("SELECT * FROM replay.authenticate_api_key(%s)", (raw,)) == [], raw


def test_webhook_signature_signs_without_revealing_the_secret(app, make, world) -> None:
    mine = make.webhook(world.bob, secret_key="whsec-bob")
    theirs = make.webhook(world.carol, secret_key="whsec-carol")
    unsigned = make.webhook(world.bob)
    payload = '{"event": "recording_created"}'
    expected = hmac.new(b"whsec-bob", payload.encode(), hashlib.sha256).hexdigest()
    sign = "SELECT replay.webhook_signature(%s, %s)"
    with app.as_user(world.bob) as conn:
        assert conn.execute(sign, (mine, payload)).fetchone() == (expected,)
        assert conn.execute(sign, (unsigned, payload)).fetchone() == (None,)  # no secret: unsigned
        with pytest.raises(psycopg.errors.NoDataFound), conn.transaction():  # not his webhook
            conn.execute(sign, (theirs, payload))
    with app.as_user(world.dave) as conn, pytest.raises(psycopg.errors.NoDataFound):
        conn.execute(sign, (mine, payload))
