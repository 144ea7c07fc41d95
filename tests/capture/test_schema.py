"""The seed's objects exist under their names, with the indexes it asks for, the partitions,
the storage of page states, and a clean migrate / roll back / migrate round trip."""

from __future__ import annotations

from pg import TestDB
from schema_tool import dump, paths

TABLES = ["events", "monthly_reports", "replays", "users", "webstates"]

# The seed's columns, in its order, with the types chosen (docs/deviations.md, capture).
COLUMNS = {
    "users": [("user_id", "uuid"), ("email", "text"), ("name", "text"),
              ("created_at", "timestamp with time zone"), ("github_id", "bigint")],
    "webstates": [("html_hash", "text"), ("html_content", "text"), ("captured_at", "timestamp with time zone")],
    "replays": [("replay_id", "uuid"), ("user_id", "uuid"), ("start_time", "timestamp with time zone"),
                ("end_time", "timestamp with time zone"), ("initial_url", "text")],
    "events": [("event_id", "bigint"), ("replay_id", "uuid"), ("timestamp", "timestamp with time zone"),
               ("event_type", "capture.event_type"), ("event_data", "jsonb"), ("webstate_hash", "text")],
    "monthly_reports": [("report_id", "bigint"), ("report_month_start", "date"), ("new_users_count", "bigint"),
                        ("total_users_end", "bigint"), ("new_replays_count", "bigint"),
                        ("total_replays_end", "bigint"), ("generated_at", "timestamp with time zone")],
}

EVENT_TYPES = ["page_load", "navigation", "click", "keypress", "input", "scroll", "mouse_move", "dom_mutation",
               "viewport_resize", "focus", "blur", "custom"]

# index -> (table, definition's column list), the seed's indexing strategy plus every FK
INDEXES = {
    "idx_users_email": ("users", "lower(email)"),
    "users_github_id_key": ("users", "github_id"),
    "idx_replays_start_time": ("replays", "start_time"),
    "idx_replays_user_id_start_time": ("replays", "user_id, start_time DESC"),
    "idx_events_replay_id_timestamp": ("events", "replay_id, \"timestamp\""),
    "idx_events_webstate_hash": ("events", "webstate_hash"),
    "monthly_reports_report_month_start_key": ("monthly_reports", "report_month_start"),
}


def test_tables_columns_and_event_types(db: TestDB) -> None:
    tables = db.query("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'capture'::regnamespace
                         AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1""")
    assert [t[0] for t in tables] == TABLES
    for table, columns in COLUMNS.items():
        got = db.query("""SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute
                          WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
                       (f"capture.{table}",))
        assert got == columns, table
    labels = db.query("SELECT enumlabel FROM pg_enum WHERE enumtypid = 'capture.event_type'::regtype"
                      " ORDER BY enumsortorder")
    assert [r[0] for r in labels] == EVENT_TYPES
    assert {"click", "keypress", "scroll", "dom_mutation", "viewport_resize"} <= set(EVENT_TYPES)


def test_seed_indexes_and_unique_rules(db: TestDB) -> None:
    rows = db.query("""SELECT i.relname, t.relname, i2.indisunique, pg_get_indexdef(i.oid)
                       FROM pg_index i2 JOIN pg_class i ON i.oid = i2.indexrelid
                       JOIN pg_class t ON t.oid = i2.indrelid
                       WHERE t.relnamespace = 'capture'::regnamespace AND NOT t.relispartition""")
    found = {name: (table, unique, definition) for name, table, unique, definition in rows}
    for name, (table, columns) in INDEXES.items():
        assert found[name][0] == table
        assert f"({columns})" in found[name][2], found[name][2]
    assert found["idx_users_email"][1] and found["users_github_id_key"][1]
    assert found["monthly_reports_report_month_start_key"][1]
    assert "WHERE (webstate_hash IS NOT NULL)" in found["idx_events_webstate_hash"][2]
    primary = {r[0]: r[1] for r in db.query(
        """SELECT c.conrelid::regclass::text, pg_get_constraintdef(c.oid) FROM pg_constraint c
           WHERE c.connamespace = 'capture'::regnamespace AND c.contype = 'p' AND c.conparentid = 0""")}
    assert primary == {
        "capture.users": "PRIMARY KEY (user_id)", "capture.webstates": "PRIMARY KEY (html_hash)",
        "capture.replays": "PRIMARY KEY (replay_id)", "capture.events": 'PRIMARY KEY (event_id, "timestamp")',
        "capture.monthly_reports": "PRIMARY KEY (report_id)",
    }
    foreign = {r[0]: r[1] for r in db.query(
        """SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
           WHERE c.connamespace = 'capture'::regnamespace AND c.contype = 'f' AND c.conparentid = 0""")}
    assert foreign == {
        "replays_user_id_fkey": "FOREIGN KEY (user_id) REFERENCES capture.users(user_id) ON DELETE CASCADE",
        "events_replay_id_fkey": "FOREIGN KEY (replay_id) REFERENCES capture.replays(replay_id) ON DELETE CASCADE",
        "events_webstate_hash_fkey": "FOREIGN KEY (webstate_hash) REFERENCES capture.webstates(html_hash)",
    }


def test_webstates_hash_is_generated_and_content_is_lz4(db: TestDB) -> None:
    generated = db.scalar("""SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d
                             JOIN pg_attribute a ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                             WHERE d.adrelid = 'capture.webstates'::regclass AND a.attname = 'html_hash'
                               AND a.attgenerated = 's'""")
    assert generated == "capture.webstate_hash(html_content)"
    assert db.scalar("""SELECT attcompression FROM pg_attribute
                        WHERE attrelid = 'capture.webstates'::regclass AND attname = 'html_content'""") == "l"


def test_events_are_partitioned_by_month_with_retention(db: TestDB) -> None:
    registry = db.query("""SELECT control_column, premake, retention::text, retention_mode
                           FROM ops.partitioned_tables WHERE parent_schema = 'capture'""")
    assert registry == [("timestamp", 3, "90 days", "drop")]
    children = [r[0] for r in db.query(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'capture.events'::regclass ORDER BY 1")]
    months = [r[0] for r in db.query(
        "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + g * interval '1 month', 'YYYY_MM')"
        " FROM generate_series(0, 3) g")]
    assert children == sorted([f"events_{m}" for m in months] + ["events_default"])
    # every child has row level security (reached through the parent only) and the parent's indexes
    assert db.scalar("""SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                        WHERE i.inhparent = 'capture.events'::regclass AND NOT c.relrowsecurity""") == 0
    assert db.scalar("""SELECT count(*) FROM pg_inherits i WHERE i.inhparent IN (
                            'capture.idx_events_replay_id_timestamp'::regclass,
                            'capture.idx_events_webstate_hash'::regclass)""") == 2 * len(children)


def test_rls_on_every_table_and_functions_documented(db: TestDB) -> None:
    assert db.query("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'capture'::regnamespace
                       AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity""") == []
    rows = db.query("""SELECT p.proname, obj_description(p.oid, 'pg_proc'), p.prosecdef, p.proconfig
                       FROM pg_proc p WHERE p.pronamespace = 'capture'::regnamespace""")
    assert [r[0] for r in rows if not r[1]] == []
    definers = {r[0] for r in rows if r[2]}
    assert definers == {"register_user", "find_user_id", "record_event", "record_events", "end_replay"}
    assert all(r[3] == ["search_path=pg_catalog, pg_temp"] for r in rows if r[2])


def test_round_trip_leaves_nothing_and_rebuilds_the_same_schema(empty_db: TestDB) -> None:
    run = empty_db.cli("migrate", "--system", "capture")
    assert run.returncode == 0, run.stderr
    empty_db.execute("SELECT capture.store_webstate('<html></html>')")
    run = empty_db.cli("rollback", "--system", "capture", "--count", "1")
    assert run.returncode == 0, run.stderr
    leftovers = empty_db.query(
        """SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'capture%%'
           UNION ALL SELECT 'role setting ' || setrole::regrole::text FROM pg_db_role_setting s
               JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()
           UNION ALL SELECT 'registry ' || parent_table FROM ops.partitioned_tables""")
    assert leftovers == []
    run = empty_db.cli("migrate", "--system", "capture")
    assert run.returncode == 0, run.stderr
    assert dump.snapshot(empty_db.url, "capture") == (paths.snapshots_dir() / "capture.sql").read_text()
