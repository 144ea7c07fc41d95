"""The seed's eleven tables (plus projects, the tenant) under their names, with the seed's
columns, foreign keys and ON DELETE rules, its indexes, the partitions, row level security
everywhere, and a clean migrate / roll back / migrate round trip."""

from __future__ import annotations

from pg import TestDB
from schema_tool import dump, paths

TS = "timestamp with time zone"
V255 = "character varying(255)"

# The seed's columns in its order (project_id added; docs/deviations.md, insights).
COLUMNS = {
    "users": ["user_id uuid", "project_id uuid", f"external_user_id {V255}", f"email {V255}",
              "locale character varying(50)", "device_type character varying(50)", f"created_at {TS}"],
    "sessions": ["session_id uuid", "project_id uuid", "user_id uuid", f"device_id {V255}",
                 "ip_address character varying(50)", "user_agent text", "screen_resolution character varying(20)",
                 "app_version character varying(20)", f"started_at {TS}", f"ended_at {TS}", "duration_ms bigint"],
    "events": ["event_id bigint", "project_id uuid", "session_id uuid", "event_type character varying(64)",
               f"screen {V255}", f"element_id {V255}", "x integer", "y integer", "scroll integer", "metadata jsonb",
               f"occurred_at {TS}"],
    "rage_click_events": ["id bigint", "project_id uuid", "session_id uuid", f"element_id {V255}", f"screen {V255}",
                          "click_count integer", f"first_click_at {TS}", f"last_click_at {TS}", f"detected_at {TS}"],
    "heatmap_points": ["id bigint", "project_id uuid", "session_id uuid", f"screen {V255}", "x integer",
                       "y integer", "weight double precision", f"occurred_at {TS}"],
    "journey_steps": ["id bigint", "project_id uuid", "session_id uuid", "step_num integer", f"screen {V255}",
                      f"occurred_at {TS}"],
    "latency_metrics": ["id bigint", "project_id uuid", "session_id uuid", "api text", "latency_ms integer",
                        "status integer", f"occurred_at {TS}"],
    "emotion_predictions": ["id bigint", "project_id uuid", "session_id uuid", "event_id bigint",
                            f"event_occurred_at {TS}", "emotion character varying(64)",
                            "confidence double precision", f"occurred_at {TS}"],
    "experience_scores": ["id bigint", "project_id uuid", "session_id uuid", "score integer", "issues jsonb",
                          f"calculated_at {TS}"],
    "replay_chunks": ["id bigint", "project_id uuid", "session_id uuid", "chunk_index integer",
                      "chunk_data jsonb", f"recorded_at {TS}"],
    "error_logs": ["id bigint", "project_id uuid", "session_id uuid", f"screen {V255}", "message text",
                   "stack text", f"occurred_at {TS}"],
}

SESSION_FK = "REFERENCES insights.sessions(project_id, session_id)"
FOREIGN = {
    "users_project_id_fkey": "FOREIGN KEY (project_id) REFERENCES insights.projects(project_id) ON DELETE CASCADE",
    "sessions_project_id_fkey":
        "FOREIGN KEY (project_id) REFERENCES insights.projects(project_id) ON DELETE CASCADE",
    "sessions_user_id_fkey": "FOREIGN KEY (project_id, user_id) REFERENCES insights.users(project_id, user_id)"
                             " ON DELETE SET NULL (user_id)",
    "error_logs_project_id_fkey":
        "FOREIGN KEY (project_id) REFERENCES insights.projects(project_id) ON DELETE CASCADE",
    "error_logs_session_id_fkey": f"FOREIGN KEY (project_id, session_id) {SESSION_FK} ON DELETE SET NULL (session_id)",
    "emotion_predictions_event_id_fkey":
        "FOREIGN KEY (project_id, event_id, event_occurred_at) REFERENCES insights.events(project_id, event_id,"
        " occurred_at) ON DELETE SET NULL (event_id, event_occurred_at)",
    **{f"{t}_session_id_fkey": f"FOREIGN KEY (project_id, session_id) {SESSION_FK} ON DELETE CASCADE"
       for t in ("events", "rage_click_events", "heatmap_points", "journey_steps", "latency_metrics",
                 "emotion_predictions", "experience_scores", "replay_chunks")},
}

# the seed's indexes under its names (led by project_id), the unique ones the issue asks for
INDEXES = {
    "idx_sessions_user": "(project_id, user_id) WHERE (user_id IS NOT NULL)",
    "idx_sessions_started": "(project_id, started_at)",
    "idx_events_session": "(project_id, session_id, occurred_at)",
    "idx_events_type": "(project_id, event_type)",
    "idx_events_screen": "(project_id, screen)",
    "idx_rage_session": "(project_id, session_id, first_click_at)",
    "idx_heatmap_screen": "(project_id, screen, occurred_at)",
    "idx_journey_session": "UNIQUE INDEX idx_journey_session ON insights.journey_steps USING btree"
                           " (project_id, session_id, step_num)",
    "idx_emotion_session": "(project_id, session_id)",
    "idx_score_session": "UNIQUE INDEX idx_score_session ON insights.experience_scores USING btree"
                         " (project_id, session_id)",
    "idx_replay_session": "UNIQUE INDEX idx_replay_session ON insights.replay_chunks USING btree"
                          " (project_id, session_id, chunk_index)",
}

PARTITIONED = [("error_logs", "180 days"), ("events", "365 days"), ("heatmap_points", "180 days"),
               ("latency_metrics", "90 days")]


def test_tables_columns_and_keys(db: TestDB) -> None:
    tables = [r[0] for r in db.query("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'insights'::regnamespace
                                        AND c.relkind IN ('r', 'p') AND NOT c.relispartition ORDER BY 1""")]
    assert tables == sorted([*COLUMNS, "projects"])
    for table, columns in COLUMNS.items():
        got = db.query("""SELECT attname || ' ' || format_type(atttypid, atttypmod) FROM pg_attribute
                          WHERE attrelid = %s::regclass AND attnum > 0 AND NOT attisdropped ORDER BY attnum""",
                       (f"insights.{table}",))
        assert [r[0] for r in got] == columns, table
    foreign = dict(db.query("""SELECT c.conname, pg_get_constraintdef(c.oid) FROM pg_constraint c
                               WHERE c.connamespace = 'insights'::regnamespace AND c.contype = 'f'
                                 AND c.conparentid = 0"""))
    assert foreign == FOREIGN
    indexes = dict(db.query("""SELECT i.relname, pg_get_indexdef(i.oid) FROM pg_index x
                               JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid
                               WHERE t.relnamespace = 'insights'::regnamespace AND NOT t.relispartition"""))
    for name, definition in INDEXES.items():
        assert indexes[name].endswith(definition) or indexes[name].startswith(f"CREATE {definition}"), name
    assert db.scalar("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'events_pkey'"
                     " AND conrelid = 'insights.events'::regclass") == "PRIMARY KEY (event_id, occurred_at, project_id)"
    assert db.scalar("""SELECT pg_get_expr(d.adbin, d.adrelid) FROM pg_attrdef d JOIN pg_attribute a
                        ON a.attrelid = d.adrelid AND a.attnum = d.adnum
                        WHERE d.adrelid = 'insights.sessions'::regclass AND a.attname = 'duration_ms'
                          AND a.attgenerated = 's'""") is not None


def test_time_series_are_partitioned_by_month_with_retention(db: TestDB) -> None:
    registry = db.query("""SELECT parent_table, control_column, premake, retention::text, retention_mode
                           FROM ops.partitioned_tables WHERE parent_schema = 'insights' ORDER BY 1""")
    assert registry == [(t, "occurred_at", 3, r, "drop") for t, r in PARTITIONED]
    months = [r[0] for r in db.query(
        "SELECT to_char(date_trunc('month', now() AT TIME ZONE 'UTC') + g * interval '1 month', 'YYYY_MM')"
        " FROM generate_series(0, 3) g")]
    for table, _ in PARTITIONED:
        children = [r[0] for r in db.query("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                                           " WHERE i.inhparent = %s::regclass ORDER BY 1", (f"insights.{table}",))]
        assert children == sorted([f"{table}_{m}" for m in months] + [f"{table}_default"])
    assert db.scalar("""SELECT count(*) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                        JOIN pg_class p ON p.oid = i.inhparent
                        WHERE p.relnamespace = 'insights'::regnamespace AND c.relkind = 'r'
                          AND NOT c.relrowsecurity""") == 0


def test_rls_on_every_table_and_functions_documented(db: TestDB) -> None:
    assert db.query("""SELECT c.relname FROM pg_class c WHERE c.relnamespace = 'insights'::regnamespace
                       AND c.relkind IN ('r', 'p') AND NOT c.relrowsecurity""") == []
    rows = db.query("""SELECT p.proname, obj_description(p.oid, 'pg_proc'), p.prosecdef, p.proconfig
                       FROM pg_proc p WHERE p.pronamespace = 'insights'::regnamespace""")
    assert [r[0] for r in rows if not r[1]] == []
    assert {r[0] for r in rows if r[2]} == {"detect_rage_clicks", "build_journey", "calculate_experience_score"}
    assert all(r[3] == ["search_path=pg_catalog, pg_temp"] for r in rows if r[2])


def test_round_trip_leaves_nothing_and_rebuilds_the_same_schema(empty_db: TestDB) -> None:
    run = empty_db.cli("migrate", "--system", "insights")
    assert run.returncode == 0, run.stderr
    empty_db.execute("INSERT INTO insights.projects (name) VALUES ('p')")
    run = empty_db.cli("rollback", "--system", "insights", "--count", "1")
    assert run.returncode == 0, run.stderr
    leftovers = empty_db.query(
        """SELECT 'schema ' || nspname FROM pg_namespace WHERE nspname LIKE 'insights%%'
           UNION ALL SELECT 'role setting ' || setrole::regrole::text FROM pg_db_role_setting s
               JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = current_database()
           UNION ALL SELECT 'registry ' || parent_table FROM ops.partitioned_tables""")
    assert leftovers == []
    run = empty_db.cli("migrate", "--system", "insights")
    assert run.returncode == 0, run.stderr
    assert dump.snapshot(empty_db.url, "insights") == (paths.snapshots_dir() / "insights.sql").read_text()
