"""Bad data: every CHECK and UNIQUE rejects a bad value under its own name."""

from __future__ import annotations

import psycopg
import pytest
from psycopg import errors

from pg import TestDB, rejected_checks

# (table, SET clause that breaks it, constraint expected)
BAD_UPDATES = [
    ("users", "email = 'not-an-email'", "chk_users_email_format"),
    ("users", "email = 'two words@example.test'", "chk_users_email_format"),
    ("users", "email = repeat('a', 250) || '@x.test'", "chk_users_email_format"),
    ("users", "name = '   '", "chk_users_name_not_blank"),
    ("users", "name = repeat('n', 201)", "chk_users_name_not_blank"),
    ("users", "github_id = 0", "chk_users_github_id_positive"),
    ("webstates", "html_content = ''", "chk_webstates_html_content_size"),
    ("replays", "end_time = start_time - interval '1 microsecond'", "chk_replays_end_after_start"),
    ("replays", "initial_url = 'ftp://example.test/'", "chk_replays_initial_url_format"),
    ("replays", "initial_url = 'javascript:alert(1)'", "chk_replays_initial_url_format"),
    ("replays", "initial_url = 'https://'", "chk_replays_initial_url_format"),
    ("replays", "initial_url = 'https://example.test/a b'", "chk_replays_initial_url_format"),
    ("events", "timestamp = '1999-12-31 23:59:59.999999+00'", "chk_events_timestamp_range"),
    ("events", "timestamp = '2100-01-01 00:00:00+00'", "chk_events_timestamp_range"),
    ("events", "event_data = '{\"x\": 1}'", "chk_events_event_data_shape"),
    ("events", "event_data = '[1, 2]'", "chk_events_event_data_shape"),
    ("monthly_reports", "report_month_start = '2024-01-02'", "chk_monthly_reports_month_start"),
    ("monthly_reports", "report_month_start = '1999-12-01'", "chk_monthly_reports_month_start"),
    ("monthly_reports", "new_users_count = total_users_end + 1", "chk_monthly_reports_counts"),
    ("monthly_reports", "new_replays_count = -1", "chk_monthly_reports_counts"),
]


@pytest.fixture
def rows(db: TestDB, make) -> dict[str, str]:
    """One valid row in every table, as a WHERE clause selecting it."""
    user = make.user("alice")
    replay = make.replay(user)
    event = make.event(replay, html="<html>constraints</html>")
    report = db.scalar("SELECT report_id FROM capture.generate_monthly_report('2024-01-15')")
    db.execute("UPDATE capture.monthly_reports SET new_users_count = 1, total_users_end = 2,"
               " new_replays_count = 1, total_replays_end = 2")
    orphan = db.scalar("SELECT capture.store_webstate('<html>nobody shows me</html>')")
    return {
        "users": f"user_id = '{user}'", "replays": f"replay_id = '{replay}'", "events": f"event_id = {event}",
        "webstates": f"html_hash = '{orphan}'", "monthly_reports": f"report_id = {report}",
    }


def test_every_check_rejects_a_bad_value_by_name(db: TestDB, rows: dict[str, str]) -> None:
    assert rejected_checks(db.url, "capture", BAD_UPDATES, rows) == BAD_UPDATES


def test_every_check_constraint_is_exercised(db: TestDB) -> None:
    checks = {r[0] for r in db.query(
        """SELECT con.conname FROM pg_constraint con JOIN pg_class c ON c.oid = con.conrelid
           WHERE c.relnamespace = 'capture'::regnamespace AND con.contype = 'c' AND NOT c.relispartition""")}
    assert checks == {c for _, _, c in BAD_UPDATES}


def test_the_range_edges_are_accepted(db: TestDB, make) -> None:
    replay = make.replay(make.user())
    for at in ("'2000-01-01 00:00:00+00'", "'2099-12-31 23:59:59.999999+00'"):
        make.event(replay, at=at)
    db.execute("UPDATE capture.replays SET end_time = start_time WHERE replay_id = %s", (replay,))
    for url in ("http://a.test", "HTTPS://Example.test:8443/p?q=1#frag", "https://a.test?x", "https://a.test#top"):
        make.replay(make.user(), url=url)


def test_email_is_unique_case_insensitively_and_github_id_unique(db: TestDB, make) -> None:
    make.user("alice", email="Alice@Example.test", github_id=7)
    with pytest.raises(errors.UniqueViolation) as exc:
        make.user("again", email="aLiCe@example.TEST")
    assert exc.value.diag.constraint_name == "idx_users_email"
    with pytest.raises(errors.UniqueViolation) as exc:
        make.user("other", github_id=7)
    assert exc.value.diag.constraint_name == "users_github_id_key"
    # the stored address keeps its spelling; many users without github_id
    make.user("bob")
    make.user("carol")
    assert db.scalar("SELECT email FROM capture.users WHERE github_id = 7") == "Alice@Example.test"


def test_insert_with_only_email_and_name_gets_an_id_and_a_time(db: TestDB) -> None:
    row = db.query("INSERT INTO capture.users (email, name) VALUES ('x@example.test', 'X')"
                   " RETURNING user_id IS NOT NULL, created_at = now(), github_id IS NULL")
    assert row == [(True, True, True)]


@pytest.mark.parametrize(("kind", "good", "bad"), [
    ("page_load", {"url": "https://a.test/"}, {"title": "t"}),
    ("navigation", {"url": "https://a.test/b", "from": "https://a.test/"}, {"url": 1}),
    ("click", {"x": 1, "y": 2.5, "selector": "#b"}, {"x": "1", "y": 2}),
    ("keypress", {"key": "a", "modifiers": ["shift"]}, {"code": "KeyA"}),
    ("input", {"selector": "#q", "value": "x"}, {"value": "x"}),
    ("scroll", {"x": 0, "y": 900}, {"y": 900}),
    ("mouse_move", {"x": 3, "y": 4}, {"x": 3}),
    ("dom_mutation", {"adds": [], "removes": ["#a"]}, []),
    ("viewport_resize", {"width": 1280, "height": 720}, {"width": 0, "height": 720}),
    ("viewport_resize", {"width": 1, "height": 1}, {"width": "1280", "height": 720}),
    ("focus", {"selector": "#q"}, {}),
    ("blur", {"selector": "#q"}, {"selector": None}),
    ("custom", {"name": "checkout", "amount": 3}, {"amount": 3}),
])
def test_event_data_shape_per_type(db: TestDB, kind: str, good: object, bad: object) -> None:
    check = "SELECT capture.event_data_is_valid(%s, %s)"
    assert db.scalar(check, (kind, psycopg.types.json.Jsonb(good))) is True
    assert db.scalar(check, (kind, psycopg.types.json.Jsonb(bad))) is False
    assert db.scalar(check, (kind, None)) is False


def test_a_webstate_hash_cannot_be_written(db: TestDB) -> None:
    with pytest.raises(errors.GeneratedAlways):
        db.execute("INSERT INTO capture.webstates (html_hash, html_content) VALUES (%s, 'forged')", ("0" * 64,))
    with pytest.raises(errors.GeneratedAlways):
        db.execute("UPDATE capture.webstates SET html_hash = 'x'")
    # changing the content (owner only) moves the key with it: the hash always matches
    old = db.scalar("SELECT capture.store_webstate('<html>a</html>')")
    new = db.scalar("UPDATE capture.webstates SET html_content = '<html>b</html>' WHERE html_hash = %s"
                    " RETURNING html_hash", (old,))
    assert new == db.scalar("SELECT encode(sha256('<html>b</html>'::bytea), 'hex')") != old
