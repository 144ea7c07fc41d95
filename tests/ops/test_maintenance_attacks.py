"""Maintenance cannot be silenced or broken by others (issue 11, section 6).

Each attack is made as a login role that is not a maintenance role (CONNECT only, as
any application login has), and each test asserts that the attack fails and that
maintenance still does its work."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import conninfo

from demo_tables import make_parent, names, rows_by_partition
from pg import TestDB, run_cli

NAMESPACE = 0x5354


@contextlib.contextmanager
def outsider(db: TestDB) -> Iterator[psycopg.Connection]:
    """A session of a fresh login role with nothing but CONNECT (PUBLIC's default)."""
    role = f"st_outsider_{db.name}"[:63]
    db.execute(f'CREATE ROLE "{role}" LOGIN')
    url = conninfo.make_conninfo(db.url, user=role)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            yield conn
    finally:
        db.execute(f'DROP OWNED BY "{role}"')
        db.execute(f'DROP ROLE "{role}"')


def squat(conn: psycopg.Connection, parent_oid: int | None = None) -> None:
    """Take every advisory key maintenance and migrations ever used."""
    conn.execute("SELECT pg_advisory_lock(%s, 1), pg_advisory_lock(%s, 2)", (NAMESPACE, NAMESPACE))
    if parent_oid is not None:
        conn.execute("SELECT pg_advisory_lock(%s)", ((NAMESPACE << 32) | parent_oid,))


def oid_of(db: TestDB, table: str) -> int:
    return db.scalar("SELECT %s::regclass::oid", (table,))


def test_an_outsider_cannot_take_or_block_the_run_locks(db: TestDB) -> None:
    with outsider(db) as conn:
        for sql in ("SELECT * FROM ops.take_run_lock('maintain')",
                    "UPDATE ops.run_locks SET holder_pid = pg_backend_pid()",
                    "SELECT * FROM ops.run_locks FOR UPDATE",
                    "LOCK TABLE ops.run_locks IN ACCESS EXCLUSIVE MODE",
                    "SELECT ops.lock_parent('ops.partitioned_tables')",
                    "INSERT INTO ops.bound_cache VALUES (1, 1, 'x', false, now(), now())"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege), conn.transaction():
                conn.execute(sql)
    assert db.query("SELECT purpose FROM ops.run_locks WHERE holder_pid IS NOT NULL") == []


def test_an_outsider_holding_every_advisory_key_silences_neither_path(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2011-01-01'), ('2012-02-02')")
    with outsider(db) as conn:
        squat(conn, oid_of(db, parent))
        result = db.cli("maintain", "--json", "--lock-timeout", "2s")
        assert result.returncode == 0, result.stdout + result.stderr
        report = json.loads(result.stdout)
        assert "locked_out" not in report
        assert [d["partition"] for d in next(t for t in report["tables"] if t["parent"] == parent)["drained"]] == ["demo.events_2011_01",
                                                                             "demo.events_2012_02"]
        db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2013-03-03')")
        with db.connect() as owner:
            owner.execute("SET statement_timeout = '20s'")  # a blocked run would fail, not hang the suite
            notices: list[str] = []
            owner.add_notice_handler(lambda d: notices.append(d.message_primary))
            owner.execute("CALL ops.run_maintenance()")
        assert not any("holds the lock" in n for n in notices)
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 0
    assert set(rows_by_partition(db, parent)) == {"demo.events_2011_01", "demo.events_2012_02", "demo.events_2013_03"}
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error'") == 0


def test_a_live_maintenance_run_keeps_the_lock_and_a_dead_one_loses_it(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2014-04-04')")
    with db.connect() as other:
        assert other.execute("SELECT taken FROM ops.take_run_lock('maintain')").fetchone()[0] is True
        pid = other.info.backend_pid
        loser = db.cli("maintain")
        assert loser.returncode == 0 and "another maintenance run holds the lock" in loser.stdout
        assert f"pid {pid}" in loser.stdout
        notices: list[str] = []
        with db.connect() as conn:
            conn.add_notice_handler(lambda d: notices.append(d.message_primary))
            conn.execute("CALL ops.run_maintenance()")
        assert any("another maintenance run holds the lock" in n for n in notices)
        assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 1
    # that session ended without releasing: the next run takes over
    assert db.cli("maintain").returncode == 0
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 0
    assert db.query("SELECT purpose FROM ops.run_locks WHERE holder_pid IS NOT NULL") == []


def test_migrate_is_not_silenced_by_an_outsider(db: TestDB) -> None:
    with outsider(db) as conn:
        squat(conn)
        result = db.cli("migrate", "--lock-wait", "0")
    assert result.returncode == 0, result.stderr


def test_before_the_run_lock_table_exists_an_outsider_is_named(empty_db: TestDB) -> None:
    """A database never migrated has no ops.run_locks: the advisory key is all there is, so
    an outsider holding it gets named and the run fails instead of being silently skipped."""
    role = f"st_outsider_{empty_db.name}"[:63]
    empty_db.execute(f'CREATE ROLE "{role}" LOGIN')
    try:
        with psycopg.connect(conninfo.make_conninfo(empty_db.url, user=role), autocommit=True) as conn:
            squat(conn)
            pid = conn.info.backend_pid
            result = run_cli("migrate", "--lock-wait", "5", url=empty_db.url)
            maintain = run_cli("maintain", url=empty_db.url)
    finally:
        empty_db.execute(f'DROP ROLE "{role}"')
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and f"pid {pid}" in lines[0] and role in lines[0] and "not a maintenance role" in lines[0]
    assert maintain.returncode == 1  # no registry yet: a clear error, never "another run holds the lock"
    assert "holds the lock" not in maintain.stdout + maintain.stderr


def test_far_future_bc_and_infinite_rows_never_fail_maintenance(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    stamps = ["294276-12-31 00:00:00+00", "2031-05-10 00:00:00+00 BC", "infinity", "-infinity",
              "1999-12-31 23:59:59.999999+00", "2100-01-01 00:00:00+00", "2031-05-10"]
    for stamp in stamps:
        db.execute(f"INSERT INTO {parent} (created_at) VALUES (%s)", (stamp,))
    for _ in range(2):  # every run, not only the first
        db.execute("CALL ops.run_maintenance()")
        result = db.cli("maintain", "--json")
        assert result.returncode == 0, result.stdout + result.stderr
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error'") == 0
    assert rows_by_partition(db, parent) == {"demo.events_default": 6, "demo.events_2031_05": 1}
    kept = next(t for t in json.loads(result.stdout)["tables"] if t["parent"] == parent)["kept_in_default"]
    assert [(k["month"], k["rows"]) for k in kept] == [(None, 6)]
    skips = db.query("SELECT path, detail FROM ops.maintenance_log WHERE action = 'skip' ORDER BY id")
    assert {p for p, _ in skips} == {"sql", "cli"} and all(d.startswith("6 rows kept in DEFAULT") for _, d in skips)
    assert not [n for n in names(db, parent) if n.endswith("_bc")]


def test_bc_months_have_their_era_in_their_name(db: TestDB) -> None:
    assert db.scalar("SELECT ops.partition_name('events', '2031-05-01 BC')") == "events_2031_05_bc"
    assert db.scalar("SELECT ops.partition_name('events', '2031-05-01')") == "events_2031_05"


def test_a_bc_partition_of_an_earlier_engine_is_renamed_and_no_longer_collides(empty_db: TestDB) -> None:
    """ops_0002 named a BC month without its era: its partition took the name of the AD
    month and that month's creation failed with 42P07 on every run. ops_0007 renames it:
    rolled back (with the ops migrations after it) and re-applied over such a partition."""
    db = empty_db
    assert db.cli("migrate", "--system", "ops").returncode == 0
    parent = make_parent(db, "demo", premake=0)
    db.execute(f"CREATE TABLE demo.events_2031_05 PARTITION OF {parent}"
               " FOR VALUES FROM ('2031-05-01 00:00:00+00 BC') TO ('2031-06-01 00:00:00+00 BC')")
    db.execute("ALTER TABLE demo.events_2031_05 OWNER TO schema_tool_owner")  # as ops_0002 made it
    latest = db.scalar("SELECT max(migration_id) FROM schema_tool._yoyo_migration WHERE migration_id LIKE 'ops_%%'")
    after = db.scalar("SELECT count(*) FROM schema_tool._yoyo_migration WHERE migration_id > 'ops_0007'"
                      " AND migration_id LIKE 'ops_%%'")
    assert db.cli("rollback", "--system", "ops", "--count", str(after + 1)).returncode == 0
    assert db.scalar("SELECT max(migration_id) FROM schema_tool._yoyo_migration"
                     " WHERE migration_id LIKE 'ops_%%'") < "ops_0007"
    assert db.cli("migrate", "--system", "ops").returncode == 0, "re-applied"
    assert db.scalar("SELECT max(migration_id) FROM schema_tool._yoyo_migration WHERE migration_id LIKE 'ops_%%'") == latest
    kids = db.query("SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
                    " WHERE i.inhparent = %s::regclass", (parent,))
    assert ("events_2031_05_bc",) in kids  # (psycopg cannot load a BC bound: read names only)
    db.execute(f"INSERT INTO {parent} (created_at) VALUES ('2031-05-10')")
    db.execute("CALL ops.run_maintenance()")
    assert rows_by_partition(db, parent) == {"demo.events_2031_05": 1}
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'error'") == 0
    assert db.scalar("SELECT count(*) FROM demo.events_2031_05_bc") == 0


def test_one_run_creates_at_most_the_cap_from_default_rows(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=0)
    cap = db.scalar("SELECT ops.drain_cap()")
    assert cap == 12
    # 30 rows in 30 future months: a tenant's way to have partitions made
    db.execute(f"INSERT INTO {parent} (created_at) SELECT date_trunc('month', now()) + make_interval(months => g)"
               " + interval '3 days' FROM generate_series(1, 30) AS g")
    before = len(names(db, parent))
    db.execute("CALL ops.run_maintenance()")
    assert len(names(db, parent)) - before == cap
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 30 - cap
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log WHERE action = 'skip'") == 30 - cap
    # the nearest months first
    assert db.scalar(f"SELECT max(created_at) FROM {parent} WHERE tableoid <> '{parent}_default'::regclass") < \
        db.scalar(f"SELECT min(created_at) FROM {parent}_default")
    report = json.loads(db.cli("maintain", "--json").stdout)
    assert len(next(t for t in report["tables"] if t["parent"] == parent)["drained"]) == cap and len(next(t for t in report["tables"] if t["parent"] == parent)["kept_in_default"]) == 30 - 2 * cap
    made = db.query("SELECT * FROM ops.drain_default(%s::regclass)", (parent,))
    assert len(made) == 30 - 2 * cap
    assert db.scalar(f"SELECT count(*) FROM {parent}_default") == 0


BAD_CALLS = [
    ("SELECT * FROM ops.ensure_partitions(NULL, 'infinity')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, '-infinity')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, '1999-12-31 23:59:59+00')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, '2100-01-01 00:00:00+00')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.ensure_partitions(NULL, now(), 5000)", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, now(), -1)", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, now(), 3, -1)", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, now(), 3, 121)", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.ensure_partitions(NULL, now(), 3, NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.ensure_partitions('pg_class')", psycopg.errors.UndefinedObject),
    ("SELECT * FROM ops.create_partition(NULL, '2030-01-01')", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.create_partition('demo.events', NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.create_partition('demo.events', '1999-12-01')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.create_partition('demo.events', '2100-01-01')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.create_partition('demo.events', '2031-05-01 BC')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.create_partition('demo.events', 'infinity')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.drain_default('pg_class')", psycopg.errors.UndefinedObject),
    ("SELECT * FROM ops.apply_retention(NULL, now(), '-1 day')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.apply_retention(NULL, now(), '0')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.apply_retention(NULL, now(), '1000 years')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.apply_retention(NULL, 'infinity')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.apply_retention(NULL, NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.partition_plan(NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.partition_plan('demo.events', 'infinity')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.partition_plan('demo.events', now(), 121)", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.partition_plan('demo.events', now(), 1, 0, NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.retention_plan('demo.events', now(), '-1 day')", psycopg.errors.InvalidParameterValue),
    ("SELECT ops.retention_cutoff('demo.events', NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.maintenance_plan(NULL, now(), NULL, '{bogus}')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.maintenance_plan(NULL, now(), NULL, NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT * FROM ops.maintenance_plan(NULL, now(), 200)", psycopg.errors.InvalidParameterValue),
    ("SELECT ops.set_retention('demo.events', '-1 month')", psycopg.errors.InvalidParameterValue),
    ("SELECT ops.set_retention('demo.events', '1 month', 'archive')", psycopg.errors.InvalidParameterValue),
    ("SELECT ops.set_retention(NULL, '1 month')", psycopg.errors.NullValueNotAllowed),
    ("SELECT ops.set_retention('pg_class', '1 month')", psycopg.errors.UndefinedObject),
    ("SELECT ops.unregister_partitioned_table(NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT ops.register_partitioned_table('demo.events', 'created_at', p_premake => 5000)",
     psycopg.errors.InvalidParameterValue),
    ("SELECT ops.register_partitioned_table('demo.events', 'created_at', p_premake => -1)",
     psycopg.errors.InvalidParameterValue),
    ("SELECT ops.register_partitioned_table('demo.events', 'created_at', p_start_months_back => 200)",
     psycopg.errors.InvalidParameterValue),
    ("SELECT ops.register_partitioned_table('demo.events', 'created_at', p_retention_mode => 'archive')",
     psycopg.errors.InvalidParameterValue),
    ("SELECT ops.register_partitioned_table('demo.events', 'created_at', p_retention => '0')",
     psycopg.errors.InvalidParameterValue),
    ("SELECT ops.register_partitioned_table('demo.events', NULL)", psycopg.errors.NullValueNotAllowed),
    ("SELECT ops.register_partitioned_table(NULL, 'created_at')", psycopg.errors.NullValueNotAllowed),
    ("CALL ops.run_maintenance(NULL, 'infinity')", psycopg.errors.InvalidParameterValue),
    ("CALL ops.run_maintenance(NULL, '1970-01-01')", psycopg.errors.InvalidParameterValue),
    ("CALL ops.run_maintenance('pg_class')", psycopg.errors.UndefinedObject),
    ("SELECT * FROM ops.take_run_lock('bogus')", psycopg.errors.InvalidParameterValue),
    ("SELECT * FROM ops.take_run_lock(NULL)", psycopg.errors.NullValueNotAllowed),
]


def test_every_engine_function_checks_its_arguments(db: TestDB) -> None:
    parent = make_parent(db, "demo", premake=1)
    before = names(db, parent)
    with psycopg.connect(db.url) as conn:
        conn.execute("SET statement_timeout = '10s'")  # 'infinity' once ran until the disk was full
        for sql, error in BAD_CALLS:
            with pytest.raises(error):
                conn.execute(sql)
            conn.rollback()
    assert names(db, parent) == before


@pytest.mark.parametrize("args", [
    ("partitions", "ensure", "--months-ahead", "121"),
    ("partitions", "ensure", "--months-ahead", "-1"),
    ("partitions", "ensure", "--reference-date", "1999-12-31"),
    ("maintain", "--reference-date", "2100-01-01"),
    ("retention", "run", "--reference-date", "0001-01-01"),
])
def test_cli_options_outside_the_engine_limits_are_bad_usage(db: TestDB, args: tuple[str, ...]) -> None:
    logged = db.scalar("SELECT count(*) FROM ops.maintenance_log")
    result = db.cli(*args)
    assert result.returncode == 2, result.stdout + result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert db.scalar("SELECT count(*) FROM ops.maintenance_log") == logged


def test_a_reattached_partition_is_read_with_its_new_bounds(db: TestDB) -> None:
    """Bounds are cached by the content of the catalog's bound: never stale."""
    parent = make_parent(db, "demo", premake=0, register=False)
    db.execute("SELECT ops.register_partitioned_table(%s::regclass, 'created_at', 0)", (parent,))
    db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2030-01-10', 0)", (parent,))
    db.execute(f"ALTER TABLE {parent} DETACH PARTITION demo.events_2030_01")
    db.execute(f"ALTER TABLE {parent} ATTACH PARTITION demo.events_2030_01"
               " FOR VALUES FROM ('2030-06-01 00:00:00+00') TO ('2030-07-01 00:00:00+00')")
    bounds = dict(db.query("SELECT partition_name, lower_bound::text FROM ops.child_bounds(%s::regclass)"
                           " WHERE NOT is_default", (parent,)))
    assert bounds["events_2030_01"] == "2030-06-01 00:00:00+00"
    assert db.scalar("SELECT ops.month_is_free(%s::regclass, '2030-01-01')", (parent,)) is True
    assert db.scalar("SELECT ops.month_is_free(%s::regclass, '2030-06-01')", (parent,)) is False
    with pytest.raises(psycopg.errors.DuplicateTable):  # January's name is June's now: said, not guessed
        db.query("SELECT * FROM ops.ensure_partitions(%s::regclass, '2030-01-10', 0)", (parent,))
