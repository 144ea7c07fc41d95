"""Secrets stay in the database: session tokens, API key hashes and webhook secrets are used
through SECURITY DEFINER functions that never return them."""

from __future__ import annotations

import hashlib
import hmac

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
        for token in ("tok-expired", "tok-revoked", "tok-locked", "no-such-token", None):
            assert conn.execute(check, (token,)).fetchone() == (None,), token
        conn.commit()
    touched = db.scalar("SELECT last_activity_at > now() - interval '1 minute' FROM replay.user_sessions"
                        " WHERE session_token = 'tok-live'")
    assert touched


def test_authenticate_api_key_counts_every_use_concurrently(db: TestDB, make, world) -> None:
    key = make.insert("api_keys", user_id=world.bob, name="ci key", key_hash="hash-live", key_prefix="rk_l",
                      scopes=["recordings:read"])
    make.insert("api_keys", user_id=world.bob, name="old key", key_hash="hash-expired", key_prefix="rk_e",
                expires_at="2001-01-01")
    make.insert("api_keys", user_id=world.dave, name="dave key", key_hash="hash-gone", key_prefix="rk_g")
    db.execute("UPDATE replay.users SET deleted_at = now() WHERE id = %s", (world.dave,))

    def use(conn, i):
        conn.execute("SET ROLE replay_app")
        return conn.execute("SELECT * FROM replay.authenticate_api_key('hash-live')").fetchall()

    results = concurrently(6, db.url, use)
    assert failures(results) == []
    assert all(r == [(world.bob, key, ["recordings:read"])] for r in results)
    assert db.query("SELECT usage_count, last_used_at IS NOT NULL FROM replay.api_keys WHERE id = %s",
                    (key,)) == [(6, True)]
    for hashed in ("hash-expired", "hash-gone", "nope"):
        assert db.query("SELECT * FROM replay.authenticate_api_key(%s)", (hashed,)) == [], hashed


def test_webhook_signature_signs_without_revealing_the_secret(app, make, world) -> None:
    mine = make.webhook(world.bob, secret_key="whsec-bob")
    theirs = make.webhook(world.carol, secret_key="whsec-carol")
    unsigned = make.webhook(world.bob)
    payload = '{"event": "recording_created"}'
    expected = hmac.new(b"whsec-bob", payload.encode(), hashlib.sha256).hexdigest()
    sign = "SELECT replay.webhook_signature(%s, %s)"
    with app.as_user(world.bob) as conn:
        assert conn.execute(sign, (mine, payload)).fetchone() == (expected,)
        assert conn.execute(sign, (theirs, payload)).fetchone() == (None,)  # not his webhook
        assert conn.execute(sign, (unsigned, payload)).fetchone() == (None,)
    with app.as_user(world.dave) as conn:
        assert conn.execute(sign, (mine, payload)).fetchone() == (None,)
