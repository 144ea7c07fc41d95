"""ops.hmac_sha256: RFC 2104 over the built-in sha256(), checked against RFC 4231 and pgcrypto."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from pg import TestDB

# RFC 4231 test cases 1, 2, 3, 4, 6 (key, data, HMAC-SHA-256); 6 has a key longer than a block
RFC_4231 = [
    ("0b" * 20, b"Hi There".hex(), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
    (b"Jefe".hex(), b"what do ya want for nothing?".hex(),
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
    ("aa" * 20, "dd" * 50, "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"),
    ("0102030405060708090a0b0c0d0e0f10111213141516171819", "cd" * 50,
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"),
    ("aa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First".hex(),
     "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"),
]


@pytest.mark.parametrize("key, data, expected", RFC_4231)
def test_rfc_4231_vectors(db: TestDB, key: str, data: str, expected: str) -> None:
    got = db.scalar("SELECT encode(ops.hmac_sha256(decode(%s, 'hex'), decode(%s, 'hex')), 'hex')", (key, data))
    assert got == expected == hmac.new(bytes.fromhex(key), bytes.fromhex(data), hashlib.sha256).hexdigest()


def test_equals_pgcrypto_for_text_and_edge_keys(db: TestDB) -> None:
    schema = db.scalar("SELECT extnamespace::regnamespace::text FROM pg_extension WHERE extname = 'pgcrypto'")
    for key, message in [("", ""), ("k" * 64, "exactly one block of key"), ("ключ", "naïve ünïcode"), ("k", "x" * 10000)]:
        ours, theirs = db.query(
            f"SELECT ops.hmac_sha256(convert_to(%(k)s, 'UTF8'), convert_to(%(m)s, 'UTF8')),"
            f" {schema}.hmac(%(m)s, %(k)s, 'sha256')", {"k": key, "m": message})[0]
        assert bytes(ours) == bytes(theirs), key


def test_null_in_null_out_and_owner_only(db: TestDB) -> None:
    assert db.scalar("SELECT ops.hmac_sha256(NULL, '\\x00')") is None
    for role in ("schema_tool_readonly", "replay_app", "scrapifie_app"):
        if db.scalar("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)):
            assert db.scalar("SELECT has_function_privilege(%s, 'ops.hmac_sha256(bytea, bytea)', 'EXECUTE')",
                             (role,)) is False


def test_keys_and_messages_around_the_block_size_match_pythons_hmac(db: TestDB) -> None:
    for size in (0, 1, 63, 64, 65, 200):  # around SHA-256's 64-byte block
        key, data = os.urandom(size), os.urandom(size * 3 + 1)
        assert db.scalar("SELECT ops.hmac_sha256(%s, %s)", (key, data)) == hmac.new(key, data, hashlib.sha256).digest()
