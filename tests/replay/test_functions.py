"""The seed's functions and views: statistics, compression ratio, archival for every table
of retention_policies, maintenance (statistics, reindex, vacuum), the views, and search
through the indexes."""

from __future__ import annotations

from decimal import Decimal

import psycopg
import pytest
from psycopg import errors

from pg import TestDB


def test_get_recording_step_stats(db: TestDB, make, world) -> None:
    recording = make.recording(world.alice)
    for number, (kind, ms) in enumerate([("click", 10), ("click", 20), ("input", None), ("scroll", 5)], 1):
        make.step(recording, number, kind, execution_time_ms=ms)
    stats = db.query("SELECT * FROM replay.get_recording_step_stats(%s)", (recording,))
    assert stats == [(4, Decimal("11.67"), {"click": 2, "input": 1, "scroll": 1})]
    assert db.query("SELECT * FROM replay.get_recording_step_stats(%s)", (recording,)) == stats
    empty = make.recording(world.alice)
    assert db.query("SELECT * FROM replay.get_recording_step_stats(%s)", (empty,)) == [(0, None, {})]


def test_get_recording_step_stats_respects_tenancy(db: TestDB, make, world, app) -> None:
    recording = make.recording(world.carol)
    make.step(recording, 1)
    with app.as_user(world.carol) as conn:
        assert conn.execute("SELECT total_steps FROM replay.get_recording_step_stats(%s)", (recording,)
                            ).fetchone() == (1,)
    with app.as_user(world.alice) as conn, pytest.raises(errors.NoDataFound):
        # a recording she may not read does not exist for her (before issue 11: zeros)
        conn.execute("SELECT total_steps FROM replay.get_recording_step_stats(%s)", (recording,))


def test_calculate_compression_ratio(db: TestDB) -> None:
    cases = {
        (1000, 250): Decimal("0.25"), (3, 1): Decimal("0.33"), (1000, 1000): Decimal("1.00"),
        (100, 0): Decimal("0.00"), (0, 10): None, (None, 10): None, (10, None): None,  # the seed's NULLs
    }
    for (original, compressed), expected in cases.items():
        got = db.scalar("SELECT replay.calculate_compression_ratio(%s, %s)", (original, compressed))
        assert got == expected, (original, compressed)
    # a ratio the compression_ratio columns (0..1) cannot hold, or negative sizes: 22023
    for original, compressed in ((10, 20), (-5, 1), (5, -1), (-1, None)):
        with pytest.raises(errors.InvalidParameterValue):
            db.scalar("SELECT replay.calculate_compression_ratio(%s, %s)", (original, compressed))
    # IMMUTABLE, so usable in generated columns and index expressions
    assert db.scalar("SELECT provolatile FROM pg_proc WHERE oid = "
                     "'replay.calculate_compression_ratio(bigint, bigint)'::regprocedure") == "i"


def old(db: TestDB, table: str, column: str, row, days: int) -> None:
    db.execute(f"UPDATE replay.{table} SET {column} = now() - make_interval(days => %s) WHERE id = %s", (days, row))


def archived(db: TestDB, table: str) -> int:
    exists = db.scalar("SELECT to_regclass(%s) IS NOT NULL", (f"replay_archive.{table}",))
    return db.scalar(f"SELECT count(*) FROM replay_archive.{table}") if exists else 0


def test_archive_old_data_for_every_retention_policy(db: TestDB, make, world) -> None:
    recording = make.recording(world.alice)
    session = make.session(recording, world.alice)
    webhook = make.webhook(world.alice)
    rows = {
        "user_sessions": [make.insert("user_sessions", user_id=world.alice, session_token=f"t{i}",
                                      created_at="2000-01-01", expires_at="2999-01-01") for i in range(2)],
        "webhook_deliveries": [make.delivery(webhook) for _ in range(2)],
        "playback_step_results": [make.result(session, n) for n in (1, 2)],
        "file_storage": [make.file(recording) for _ in range(2)],
    }
    old(db, "user_sessions", "expires_at", rows["user_sessions"][0], 31)
    old(db, "webhook_deliveries", "scheduled_at", rows["webhook_deliveries"][0], 91)
    old(db, "playback_step_results", "started_at", rows["playback_step_results"][0], 400)
    old(db, "file_storage", "created_at", rows["file_storage"][0], 1100)
    # the partitioned two: a month older than their retention, with one row
    for table, age in (("audit_logs", 13), ("analytics_events", 25)):
        month = db.scalar("SELECT to_char(now() - make_interval(months => %s), 'YYYY-MM')", (age,))
        db.execute("SELECT replay.create_monthly_partition(%s, %s)", (table, month))
    db.execute("INSERT INTO replay.audit_logs (action, resource_type, status, created_at)"
               " VALUES ('read', 'x', 'success', now() - interval '13 months')")
    db.execute("INSERT INTO replay.analytics_events (event_type, event_category, created_at)"
               " VALUES ('api_request', 'api', now() - interval '25 months')")

    policies = [r[0] for r in db.query("SELECT table_name FROM replay.retention_policies ORDER BY 1")]
    first = {t: db.scalar("SELECT replay.archive_old_data(%s)", (t,)) for t in policies}
    again = {t: db.scalar("SELECT replay.archive_old_data(%s)", (t,)) for t in policies}
    assert first == {t: 1 for t in policies}
    assert again == {t: 0 for t in policies}
    # archive_before_delete FALSE: deleted; TRUE: kept in replay_archive (or flagged, for files)
    assert archived(db, "user_sessions") == 0 and archived(db, "webhook_deliveries") == 0
    assert db.scalar("SELECT count(*) FROM replay.user_sessions") == 1
    assert db.scalar("SELECT count(*) FROM replay.webhook_deliveries") == 1
    assert archived(db, "playback_step_results") == 1
    assert db.scalar("SELECT count(*) FROM replay.playback_step_results") == 1
    assert db.query("SELECT id FROM replay.file_storage WHERE archived AND archived_at IS NOT NULL") == [
        (rows["file_storage"][0],)]
    archived_partitions = db.query(
        "SELECT relname FROM pg_class WHERE relnamespace = 'replay_archive'::regnamespace AND relkind = 'r'"
        " AND relname ~ '_[0-9]{4}_[0-9]{2}$'")
    assert len(archived_partitions) == 2


def test_archive_old_data_recordings_and_playback_sessions(db: TestDB, make, world) -> None:
    recording = make.recording(world.alice)
    fresh = make.recording(world.alice)
    old(db, "recordings", "created_at", recording, 100)
    assert db.scalar("SELECT replay.archive_old_data('recordings', 90)") == 1
    assert db.scalar("SELECT replay.archive_old_data('recordings', 90)") == 0
    assert db.query("SELECT status::text, deleted_at IS NOT NULL, archived_at IS NOT NULL FROM replay.recordings"
                    " WHERE id = %s", (recording,)) == [("archived", True, True)]
    assert db.scalar("SELECT deleted_at FROM replay.recordings WHERE id = %s", (fresh,)) is None

    done, running = make.session(fresh, world.bob, status="completed"), make.session(fresh, world.bob,
                                                                                      status="running")
    for s in (done, running):
        old(db, "playback_sessions", "created_at", s, 40)
        make.result(s, 1)
        make.file(session=s)
    make.insert("analytics_events", event_type="playback_completed", event_category="playback", session_id=done)
    assert db.scalar("SELECT replay.archive_old_data('playback_sessions', 30)") == 1
    assert db.scalar("SELECT replay.archive_old_data('playback_sessions', 30)") == 0
    # the finished one moved, with what hangs off it; the running one stays
    assert [r[0] for r in db.query("SELECT id FROM replay.playback_sessions")] == [running]
    assert [r[0] for r in db.query("SELECT id FROM replay_archive.playback_sessions")] == [done]
    for table in ("playback_step_results", "file_storage", "analytics_events"):
        assert db.scalar(f"SELECT count(*) FROM replay_archive.{table} WHERE session_id = %s", (done,)) == 1, table
    assert db.scalar("SELECT count(*) FROM replay.analytics_events") == 0


def test_archive_old_data_bad_input(db: TestDB) -> None:
    with psycopg.connect(db.url) as conn:
        for args, error in [(("recordings", None), errors.NoDataFound),  # no policy row for recordings
                            (("users", 10), errors.InvalidParameterValue),
                            (("audit_logs", 0), errors.InvalidParameterValue)]:
            with pytest.raises(error), conn.transaction():
                conn.execute("SELECT replay.archive_old_data(%s, %s)", args)
    db.execute("UPDATE replay.retention_policies SET is_active = FALSE WHERE table_name = 'user_sessions'")
    with pytest.raises(errors.NoDataFound):
        db.execute("SELECT replay.archive_old_data('user_sessions')")


def test_maintenance_functions(db: TestDB, make, world) -> None:
    make.recording(world.alice)
    check_statistics(db)
    check_reindex(db)
    check_vacuum_statements(db)


def check_statistics(db: TestDB) -> None:
    for _ in range(2):
        db.execute("SELECT replay.update_table_statistics()")
    never = db.query("SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'replay' AND last_analyze IS NULL")
    assert never == []


def check_reindex(db: TestDB) -> None:
    before = dict(db.query("SELECT indexrelid::regclass::text, pg_relation_filenode(indexrelid) FROM pg_index i"
                           " JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'replay'::regnamespace"
                           " AND c.relkind = 'r'"))
    for _ in range(2):
        db.execute("SELECT replay.reindex_tables()")
    after = dict(db.query("SELECT indexrelid::regclass::text, pg_relation_filenode(indexrelid) FROM pg_index i"
                          " JOIN pg_class c ON c.oid = i.indrelid WHERE c.relnamespace = 'replay'::regnamespace"
                          " AND c.relkind = 'r'"))
    assert before.keys() == after.keys()
    assert [name for name in before if before[name] == after[name]] == []


def check_vacuum_statements(db: TestDB) -> None:
    statements = [r[0] for r in db.query("SELECT replay.vacuum_analyze_tables()")]
    assert len(statements) == 20 and "VACUUM (ANALYZE) replay.audit_logs" in statements
    with psycopg.connect(db.url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)
    # partitioned parents have no storage: their leaves (partitions) were vacuumed
    never = db.query("SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid"
                     " WHERE s.schemaname = 'replay' AND c.relkind = 'r' AND s.last_vacuum IS NULL")
    assert never == []


def test_domain_views(db: TestDB, make, world) -> None:
    recording = make.recording(world.alice, world.acme, "team", duration_ms=1000)
    make.recording(world.alice, duration_ms=3000)
    make.session(recording, world.bob, status="completed", success_rate=80, completed_at="2026-01-01")
    make.session(recording, world.bob, status="completed", success_rate=100, completed_at="2026-02-01")
    running = make.session(recording, world.bob, status="running", started_at="now")
    summary = db.query("SELECT user_name, organization_name, playback_count, avg_success_rate, last_playback::date::text"
                       " FROM replay.recording_summaries WHERE id = %s", (recording,))
    assert summary == [("alice", "acme", 2, Decimal(90), "2026-02-01")]
    active = db.query("SELECT id, recording_name, user_name, running_time_seconds >= 0"
                      " FROM replay.active_playback_sessions")
    assert active == [(running, db.scalar("SELECT name FROM replay.recordings WHERE id = %s", (recording,)),
                       "bob", True)]
    activity = dict((r[0], r[1:]) for r in db.query(
        "SELECT name, total_recordings, total_playback_sessions, avg_recording_duration, avg_playback_success_rate"
        " FROM replay.user_activity_summaries"))
    assert activity["alice"] == (2, 0, Decimal(2000), 0)
    assert activity["bob"] == (0, 2, 0, Decimal(90))


def test_monitoring_views(db: TestDB, make, world) -> None:
    make.recording(world.alice)
    sizes = db.query("SELECT schemaname, tablename, size_bytes >= table_size_bytes FROM replay.database_size_stats")
    assert {r[0] for r in sizes} == {"replay"} and ("replay", "recordings", True) in sizes
    db.scalar("SELECT count(*) FROM replay.users WHERE email = 'x@y.zz'")
    usage = db.query("SELECT tablename, indexname, index_size FROM replay.index_usage_stats"
                     " WHERE indexname = 'users_email_key'")
    assert usage and usage[0][0] == "users"
    assert db.query("SELECT * FROM replay.long_running_queries WHERE pid = pg_backend_pid()") == []


def explain(conn: psycopg.Connection, query: str, params=None) -> str:
    return "\n".join(r[0] for r in conn.execute("EXPLAIN (COSTS OFF) " + query, params))


def test_full_text_and_trigram_search_use_their_indexes(db: TestDB, make, world, app) -> None:
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO replay.recordings (user_id, name, description, url, tags, visibility)"
            " SELECT %s, 'recording ' || g, 'walks through page ' || g, 'https://e.test/', ARRAY['tag' || g %% 50],"
            " 'public' FROM generate_series(1, 2000) g", (world.alice,))
        make.recording(world.alice, name="Checkout with coupons", description="applies a discount",
                       tags=["payments"], visibility="public")
        conn.execute("ANALYZE replay.recordings")
        fts = ("SELECT id FROM replay.recordings WHERE replay.recording_search_vector(name, description, tags)"
               " @@ websearch_to_tsquery('english', %s)")
        assert len(conn.execute(fts, ("payment",)).fetchall()) == 1  # stemmed, from the tags
        assert "idx_recordings_search" in explain(conn, fts, ("payment",))
        trigram = "SELECT id FROM replay.recordings WHERE name ILIKE %s"
        assert len(conn.execute(trigram, ("%coupon%",)).fetchall()) == 1
        conn.execute("SET enable_seqscan = off")  # a 2000-row table is cheap to scan whole
        assert "idx_recordings_name_trgm" in explain(conn, trigram, ("%coupon%",))
        assert "idx_recordings_description_trgm" in explain(
            conn, "SELECT id FROM replay.recordings WHERE description ILIKE %s", ("%discount%",))
    make.recording(world.carol, name="Payment coupons (private)", tags=["payments"])

    def index_scans() -> dict[str, int]:
        return dict(db.query("SELECT indexrelname, idx_scan FROM pg_stat_user_indexes WHERE schemaname = 'replay'"
                             " AND indexrelname IN ('idx_recordings_search', 'idx_recordings_name_trgm')"))

    before = index_scans()
    with app.as_user(world.dave) as conn:
        # Under row level security @@ and ILIKE (not leakproof) cannot drive an index scan;
        # replay.search_recordings() searches through the indexes and applies the read rule.
        conn.execute("SET LOCAL enable_seqscan = off")
        found = conn.execute("SELECT name FROM replay.search_recordings('payment')").fetchall()
        assert found == [("Checkout with coupons",)]
        assert conn.execute("SELECT name FROM replay.search_recordings('COUPON')").fetchall() == found
        for wildcard in ("%", "_", "\\"):  # taken literally
            assert conn.execute("SELECT count(*) FROM replay.search_recordings(%s)", (wildcard,)).fetchone() == (0,)
        conn.execute("SELECT pg_stat_force_next_flush()")
    after = index_scans()
    assert all(after[name] > before[name] for name in before), (before, after)
    with app.as_user(world.carol) as conn:
        names = {r[0] for r in conn.execute("SELECT name FROM replay.search_recordings('payment')")}
        assert names == {"Checkout with coupons", "Payment coupons (private)"}
