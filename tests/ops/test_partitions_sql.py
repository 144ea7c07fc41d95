"""The partition engine's in-database path (what pg_cron and seed functions call)."""

from __future__ import annotations

from datetime import datetime, timezone

import psycopg
import pytest

from demo_tables import children, make_parent, names, rows_by_partition
from pg import TestDB, concurrently, errors

UTC = timezone.utc


def test_register_creates_default_and_months_around_now(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=2, months_back=1)
    now = datetime.now(UTC)
    months = [((now.year * 12 + now.month - 1 + k) // 12, (now.year * 12 + now.month - 1 + k) % 12 + 1)
              for k in (-1, 0, 1, 2)]
    expected = ["events_default"] + [f"events_{y:04d}_{m:02d}" for y, m in months]
    assert names(db, parent) == expected
    for name, is_default, lower, upper in children(db, parent)[1:]:
        assert lower.day == 1 and lower.hour == 0 and lower.utcoffset().total_seconds() == 0
        assert (upper.year * 12 + upper.month) - (lower.year * 12 + lower.month) == 1
    assert db.query("SELECT * FROM ops.ensure_partitions(%s::regclass)", (parent,)) == []


@pytest.mark.parametrize("ctype", ["timestamp", "date"])
def test_timestamp_and_date_parents_use_utc_months(db: TestDB, ctype: str) -> None:
    parent = make_parent(db, "demo", ctype=ctype, premake=0)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2031-05-31 23:59:59'), ('2031-06-01')")
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 2
    made = db.query("SELECT partition_name, rows_moved FROM ops.ensure_partitions(%s::regclass,"
                    " '2031-05-10', 1)", (parent,))
    assert made == [("events_2031_05", 1), ("events_2031_06", 1)]
    bound = db.scalar("SELECT pg_get_expr(relpartbound, oid) FROM pg_class WHERE relname = 'events_2031_06'")
    literal = "'2031-06-01'" if ctype == "date" else "'2031-06-01 00:00:00'"
    assert bound == f"FOR VALUES FROM ({literal}) TO ({literal.replace('06', '07', 1)})"


def test_inserts_never_fail_and_maintenance_moves_them_home(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=1)
    db.execute("CREATE TABLE demo.deletes_seen (n int)")
    db.execute("CREATE FUNCTION demo.tg_seen() RETURNS trigger LANGUAGE plpgsql AS"
               " $$ BEGIN INSERT INTO demo.deletes_seen VALUES (1); RETURN OLD; END $$")
    db.execute(f"CREATE TRIGGER seen AFTER DELETE ON {parent} FOR EACH ROW EXECUTE FUNCTION demo.tg_seen()")
    stamps = ["2000-01-01", "2000-01-15", "2099-12-31 23:59:59.999999+00", "2042-06-30 23:59:59+00"]
    for stamp in stamps:
        db.execute(f"INSERT INTO {parent} (created_at, payload) VALUES (%s, 'x')", (stamp,))
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 4

    db.execute("CALL ops.run_maintenance()")
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 0
    assert rows_by_partition(db, parent) == {
        "demo.events_2000_01": 2, "demo.events_2042_06": 1, "demo.events_2099_12": 1,
    }
    assert db.scalar(f"SELECT count(*) FROM {parent}") == 4
    assert db.scalar("SELECT count(*) FROM demo.deletes_seen") == 0, "moving rows fired a delete trigger"
    assert db.scalar("SELECT tgenabled FROM pg_trigger WHERE tgname = 'seen'"
                     " AND tgrelid = 'demo.events_default'::regclass") == "O"
    log = db.query("SELECT action, partition_name, rows_moved FROM ops.maintenance_log"
                   " WHERE action = 'drain' ORDER BY partition_name")
    assert [r[2] for r in log] == [2, 1, 1]
    db.execute("CALL ops.run_maintenance()")
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action IN ('drain', 'create')"
                     " AND parent_schema = 'demo'") == len(names(db, parent)) - 1


def test_long_names_are_hashed_never_truncated_into_a_collision(db: TestDB) -> None:
    a = make_parent(db, "demo", "e" * 57 + "_alpha", premake=0)
    b = make_parent(db, "demo", "e" * 57 + "_bravo", premake=0)
    names_a, names_b = names(db, a), names(db, b)
    assert set(names_a).isdisjoint(names_b)
    for name in names_a + names_b:
        assert len(name.encode()) <= 63
        assert name.endswith(("_default", datetime.now(UTC).strftime("_%Y_%m")))
    again = db.query("SELECT * FROM ops.ensure_partitions()")
    assert again == []
    assert db.scalar("SELECT ops.fit_name(repeat('ä', 40), '_2026_11')").encode().__len__() <= 63


def test_retention_boundaries(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0, retention="14 days")
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2026-03-10', 5)", (parent,))
    # reference 2026-06-15 00:00 UTC: cutoff = min(06-01, 06-15 - 14 days) = 06-01 exactly
    gone = db.query("SELECT partition_name, action FROM ops.apply_retention(%s::regclass,"
                    " '2026-06-15 00:00:00+00')", (parent,))
    assert gone == [("events_2026_03", "drop"), ("events_2026_04", "drop"), ("events_2026_05", "drop")]
    left = names(db, parent)
    assert "events_default" in left and "events_2026_06" in left and "events_2026_07" in left
    # a tiny retention never reaches the reference month, a later one, or DEFAULT
    assert db.query("SELECT * FROM ops.apply_retention(%s::regclass, '2026-06-15', interval '1 second')",
                    (parent,)) == []
    # one microsecond before the cutoff reaches the month before: nothing, it is gone already
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2026-05-01', 0)", (parent,))
    assert db.query("SELECT partition_name FROM ops.retention_plan(%s::regclass,"
                    " '2026-06-14 23:59:59.999999+00')", (parent,)) == []
    assert db.query("SELECT partition_name FROM ops.retention_plan(%s::regclass,"
                    " '2026-06-15 00:00:00+00')", (parent,)) == [("events_2026_05",)]


def test_detach_mode_keeps_the_data_in_the_archive_schema(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0, retention="1 month", mode="detach")
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2026-01-05', 1)", (parent,))
    db.execute(f"INSERT INTO {parent} (created_at, payload) VALUES ('2026-01-20', 'kept'), ('2026-02-02', 'kept')")
    gone = db.query("SELECT partition_name, action FROM ops.apply_retention(%s::regclass, '2026-04-10')", (parent,))
    assert gone == [("events_2026_01", "detach"), ("events_2026_02", "detach")]
    assert db.scalar(f"SELECT count(*) FROM {parent} WHERE created_at < '2026-03-01'") == 0
    assert db.scalar("SELECT count(*) FROM demo_archive.events_2026_01") == 1
    assert db.scalar("SELECT payload FROM demo_archive.events_2026_02") == "kept"
    assert db.scalar("SELECT relispartition FROM pg_class WHERE oid = 'demo_archive.events_2026_01'::regclass") is False


def test_two_run_maintenance_calls_at_once(db: TestDB) -> None:
    parents = [make_parent(db, f"demo{i}", register=True, premake=0) for i in range(4)]
    for p in parents:
        for month in range(1, 13):
            db.execute(f"INSERT INTO {p} (created_at) VALUES (%s)", (f"2001-{month:02d}-10",))
    notices: list[list[str]] = [[], [], []]

    def work(conn: psycopg.Connection, i: int) -> None:
        conn.add_notice_handler(lambda d: notices[i].append(d.message_primary))
        conn.execute("CALL ops.run_maintenance()")

    results = concurrently(3, db.url, work)
    assert errors(results) == []
    for p in parents:
        assert db.scalar(f"SELECT count(*) FROM {p}_default") == 0
        assert db.scalar(f"SELECT count(*) FROM {p}") == 12
    drained = db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'drain'"
                        " AND parent_schema LIKE 'demo%%'")
    assert drained == 4 * 12, "each month drained exactly once"
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error'") == 0


def test_a_failing_parent_does_not_stop_the_others(db: TestDB) -> None:
    stuck = make_parent(db, "demo_a", premake=0)
    fine = make_parent(db, "demo_b", premake=0)
    for p in (stuck, fine):
        db.execute(f"INSERT INTO {p} (created_at) VALUES ('2002-02-02')")
    with psycopg.connect(db.url) as blocker:
        blocker.execute(f"LOCK TABLE {stuck}_default IN ACCESS SHARE MODE")
        with db.connect() as conn:
            conn.execute("SET lock_timeout = '200ms'")
            conn.execute("CALL ops.run_maintenance()")
        blocker.rollback()
    assert db.scalar(f"SELECT count(*) FROM {fine}_default") == 0
    assert db.scalar(f"SELECT count(*) FROM {stuck}_default") == 1
    error = db.query("SELECT parent_schema, detail FROM ops.maintenance_log WHERE action = 'error'"
                     " AND parent_schema LIKE 'demo%%'")
    assert len(error) == 1 and error[0][0] == "demo_a" and error[0][1].startswith("55P03")
    db.execute("CALL ops.run_maintenance()")
    assert db.scalar(f"SELECT count(*) FROM {stuck}_default") == 0


def test_registration_rejects_what_it_cannot_maintain(db: TestDB) -> None:
    db.execute("CREATE TABLE public.by_id (id int) PARTITION BY RANGE (id)")
    db.execute("CREATE TABLE public.by_list (d date) PARTITION BY LIST (d)")
    with pytest.raises(psycopg.errors.DatatypeMismatch):
        db.execute("SELECT ops.register_partitioned_table('public.by_id', 'id')")
    with pytest.raises(psycopg.errors.InvalidTableDefinition):
        db.execute("SELECT ops.register_partitioned_table('public.by_list', 'd')")
    with pytest.raises(psycopg.errors.InvalidParameterValue):
        make_parent(db, "demo", retention="-1 day")


def test_rows_without_a_month_stay_in_default_and_never_stop_maintenance(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('infinity'), ('-infinity'), ('2004-04-04')")
    db.execute("CALL ops.run_maintenance()")
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error'") == 0
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 2
    assert "events_2004_04" in names(db, parent)
    assert db.query("SELECT * FROM ops.drain_default(%s::regclass)", (parent,)) == []


CHILD_SHAPE = """
SELECT c.relowner::regrole::text, c.relrowsecurity, c.relforcerowsecurity,
       (SELECT array_agg(replace(pg_get_indexdef(i.indexrelid), c.relname, 'CHILD') ORDER BY 1)
          FROM pg_index i WHERE i.indrelid = c.oid),
       (SELECT array_agg(replace(x.conname, c.relname, 'CHILD') || ' ' || pg_get_constraintdef(x.oid) ORDER BY 1)
          FROM pg_constraint x WHERE x.conrelid = c.oid),
       (SELECT array_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
                         || coalesce(pg_get_expr(d.adbin, d.adrelid), '') ORDER BY a.attnum)
          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped)
FROM pg_class c WHERE c.oid = %s::regclass
"""


def test_a_new_parent_gets_children_created_partition_of_like_attached_ones(db: TestDB) -> None:
    """Registering a parent that has no partition yet takes ACCESS EXCLUSIVE on it (nothing
    can be using it) and creates each child with one CREATE TABLE ... PARTITION OF; a child
    maintenance attaches later looks the same."""
    with psycopg.connect(db.url) as conn:
        conn.execute("CREATE SCHEMA demo AUTHORIZATION schema_tool_owner")
        conn.execute("SET LOCAL ROLE schema_tool_owner")
        conn.execute("CREATE TABLE demo.events (id bigint GENERATED ALWAYS AS IDENTITY, created_at timestamptz"
                     " NOT NULL DEFAULT now(), payload text, score integer CONSTRAINT chk_score CHECK (score >= 0),"
                     " PRIMARY KEY (created_at, id)) PARTITION BY RANGE (created_at)")
        conn.execute("CREATE INDEX ON demo.events (payload)")
        conn.execute("ALTER TABLE demo.events ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY")
        conn.commit()
    with psycopg.connect(db.url) as conn:
        conn.execute("SELECT ops.register_partitioned_table('demo.events', 'created_at', 1)")
        held = conn.execute("SELECT mode FROM pg_locks WHERE relation = 'demo.events'::regclass"
                            " AND pid = pg_backend_pid() AND mode = 'AccessExclusiveLock'").fetchall()
        assert held == [("AccessExclusiveLock",)]
    made_at_setup = names(db, "demo.events")[1]
    db.execute("INSERT INTO demo.events (created_at) VALUES ('2035-03-03')")
    db.execute("CALL ops.run_maintenance()")  # ATTACH, with the row moved in
    assert db.scalar("SELECT count(*) FROM demo.events_2035_03") == 1
    assert db.query(CHILD_SHAPE, (f"demo.{made_at_setup}",)) == db.query(CHILD_SHAPE, ("demo.events_2035_03",))
    # a parent that has partitions is never locked more than SHARE UPDATE EXCLUSIVE by maintenance
    with psycopg.connect(db.url) as conn:
        conn.execute("SELECT ops.register_partitioned_table('demo.events', 'created_at', 2)")
        held = conn.execute("SELECT mode FROM pg_locks WHERE relation = 'demo.events'::regclass"
                            " AND pid = pg_backend_pid()").fetchall()
        assert ("AccessExclusiveLock",) not in held
