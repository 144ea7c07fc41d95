"""store_webstate(): one row per distinct HTML, hashed by the database, first sighting kept,
stored lz4-compressed; the same page from many connections at once is one row and no error."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from capture.support import page, sha
from pg import TestDB, concurrently, errors as failures


def test_hash_is_sha256_of_the_utf8_content(db: TestDB) -> None:
    for html in ("<html></html>", "<p>héllo — 世界 🎥</p>", page(1), "<p>\\x00 literal backslashes \\\\</p>"):
        assert db.scalar("SELECT capture.store_webstate(%s)", (html,)) == sha(html)
        assert db.scalar("SELECT html_content FROM capture.webstates WHERE html_hash = %s", (sha(html),)) == html


def test_storing_twice_keeps_one_row_and_the_first_sighting(db: TestDB) -> None:
    html = page(2)
    with psycopg.connect(db.url, autocommit=True) as conn:
        first = conn.execute("SELECT capture.store_webstate(%s)", (html,)).fetchone()[0]
        captured = conn.execute("SELECT captured_at FROM capture.webstates WHERE html_hash = %s", (first,)).fetchone()
        second = conn.execute("SELECT capture.store_webstate(%s)", (html,)).fetchone()[0]
    assert first == second == sha(html)
    assert db.query("SELECT html_hash, captured_at FROM capture.webstates") == [(first, captured[0])]


def test_same_page_from_eight_connections_at_once(db: TestDB) -> None:
    html = page(3, 40_000)

    def work(conn: psycopg.Connection, i: int) -> str:
        with conn.transaction():
            return conn.execute("SELECT capture.store_webstate(%s)", (html,)).fetchone()[0]

    results = concurrently(8, db.url, work)
    assert failures(results) == []
    assert results == [sha(html)] * 8
    assert db.scalar("SELECT count(*) FROM capture.webstates") == 1


def test_many_pages_from_many_connections_in_opposite_orders(db: TestDB) -> None:
    """Writers inserting the same new pages in different orders do not deadlock (hash order)."""
    pages = [page(n) for n in range(20)]

    def work(conn: psycopg.Connection, i: int) -> list[str]:
        mine = pages if i % 2 else list(reversed(pages))
        with conn.transaction():
            return conn.execute("SELECT capture.ensure_webstates(%s)", (mine,)).fetchone()[0]

    results = concurrently(8, db.url, work)
    assert failures(results) == []
    assert all(sorted(r) == sorted(sha(p) for p in pages) for r in results)
    assert db.scalar("SELECT count(*) FROM capture.webstates") == 20


def test_ensure_webstates_returns_hashes_in_input_order(db: TestDB) -> None:
    pages = ["<a/>", None, "<b/>", "<a/>"]
    assert db.scalar("SELECT capture.ensure_webstates(%s)", (pages,)) == [sha("<a/>"), None, sha("<b/>"), sha("<a/>")]
    assert db.scalar("SELECT count(*) FROM capture.webstates") == 2
    assert db.scalar("SELECT capture.ensure_webstates('{}')") == []
    with pytest.raises(errors.NullValueNotAllowed):
        db.execute("SELECT capture.ensure_webstates(NULL)")


def test_content_is_stored_lz4_compressed(db: TestDB) -> None:
    html = page(4, 30_000)
    db.execute("SELECT capture.store_webstate(%s)", (html,))
    raw, stored, method = db.query(
        "SELECT octet_length(html_content), pg_column_size(html_content), pg_column_compression(html_content)"
        " FROM capture.webstates")[0]
    assert method == "lz4"
    assert raw == len(html.encode()) and stored < raw / 3


@pytest.mark.parametrize(("html", "error"), [(None, errors.NullValueNotAllowed), ("", errors.CheckViolation)])
def test_bad_input(db: TestDB, html: str | None, error: type[Exception]) -> None:
    with pytest.raises(error):
        db.execute("SELECT capture.store_webstate(%s)", (html,))
    assert db.scalar("SELECT count(*) FROM capture.webstates") == 0
