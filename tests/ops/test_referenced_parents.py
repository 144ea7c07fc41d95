"""ops_0009: parents that other tables reference by foreign key. Moving rows out of the DEFAULT
partition fires none of the keys' ON DELETE actions (SQL and CLI paths); retention applies them
(SET NULL with its column list, CASCADE) before the partition goes, and a NO ACTION key keeps it;
a transaction cannot commit with a key left suspended."""

from __future__ import annotations

import psycopg
import pytest

from demo_tables import make_parent
from pg import TestDB

KEY = "(created_at, id)"


def _referenced(db: TestDB, *, retention: str | None = None, no_action: bool = False) -> str:
    """demo.events (premake 0) and three tables referencing it: SET NULL (some columns), CASCADE,
    and optionally NO ACTION; one row each referencing an event of May 2031 (in DEFAULT)."""
    parent = make_parent(db, "demo", premake=0, retention=retention)
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("SET ROLE schema_tool_owner")
        conn.execute("CREATE TABLE demo.notes (id int PRIMARY KEY, tag text NOT NULL, at timestamptz, event bigint,"
                     f" CONSTRAINT notes_event_fkey FOREIGN KEY (at, event) REFERENCES {parent} {KEY}"
                     " ON DELETE SET NULL (event))")
        conn.execute("COMMENT ON CONSTRAINT notes_event_fkey ON demo.notes IS 'kept'")
        conn.execute("CREATE TABLE demo.marks (id int PRIMARY KEY, at timestamptz, event bigint,"
                     f" FOREIGN KEY (at, event) REFERENCES {parent} {KEY} ON DELETE CASCADE)")
        if no_action:
            conn.execute("CREATE TABLE demo.pins (id int PRIMARY KEY, at timestamptz, event bigint,"
                         f" FOREIGN KEY (at, event) REFERENCES {parent} {KEY})")
        conn.execute("RESET ROLE")
        event = conn.execute(f"INSERT INTO {parent} (created_at) VALUES ('2031-05-02') RETURNING id").fetchone()[0]
        conn.execute(f"INSERT INTO {parent} (created_at) VALUES ('2031-07-02')")
        conn.execute("INSERT INTO demo.notes VALUES (1, 'n', '2031-05-02', %s), (2, 'free', '2031-05-02', NULL)",
                     (event,))
        conn.execute("INSERT INTO demo.marks VALUES (1, '2031-05-02', %s)", (event,))
        if no_action:
            conn.execute("INSERT INTO demo.pins VALUES (1, '2031-05-02', %s)", (event,))
    return parent


def _keys(db: TestDB) -> list[tuple]:
    return db.query("""SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid), convalidated,
                              obj_description(oid, 'pg_constraint')
                       FROM pg_constraint WHERE contype = 'f' AND conparentid = 0
                         AND connamespace = 'demo'::regnamespace ORDER BY 1""")


def _references(db: TestDB) -> list[tuple]:
    return db.query("SELECT 'notes', id, at, event FROM demo.notes UNION ALL"
                    " SELECT 'marks', id, at, event FROM demo.marks ORDER BY 1, 2")


@pytest.mark.parametrize("path", ["create_partition", "run_maintenance", "cli"])
def test_a_drain_keeps_every_reference(db: TestDB, path: str) -> None:
    parent = _referenced(db)
    keys, refs = _keys(db), _references(db)
    if path == "create_partition":
        assert db.query("SELECT partition_name, rows_moved FROM ops.create_partition(%s::regclass, '2031-05-01')",
                        (parent,)) == [("events_2031_05", 1)]
    elif path == "run_maintenance":
        db.execute("CALL ops.run_maintenance(%s::regclass, '2031-05-10')", (parent,))
    else:
        run = db.cli("maintain", "--reference-date", "2031-05-10")
        assert run.returncode == 0, run.stdout + run.stderr
    assert db.scalar(f"SELECT tableoid::regclass::text FROM {parent} WHERE created_at = '2031-05-02'") \
        == "demo.events_2031_05"
    assert _references(db) == refs
    assert _keys(db) == keys  # same definitions, validated, comment kept
    assert db.scalar("SELECT count(*) FROM ops.suspended_references") == 0
    with pytest.raises(psycopg.errors.ForeignKeyViolation):  # enforced again
        db.execute("INSERT INTO demo.marks VALUES (9, '2031-05-02', -1)")


def test_retention_applies_each_keys_on_delete(db: TestDB) -> None:
    parent = _referenced(db, retention="30 days")
    db.execute("SELECT ops.create_partition(%s::regclass, '2031-05-01')", (parent,))
    removed = db.query("SELECT partition_name, action FROM ops.apply_retention(%s::regclass, '2031-08-10')",
                       (parent,))
    assert removed[-1] == ("events_2031_05", "drop")
    assert db.scalar("SELECT to_regclass('demo.events_2031_05')") is None
    # SET NULL (event): only that column; CASCADE: deleted; a row that referenced nothing untouched
    assert _references(db) == [("notes", 1, db.scalar("SELECT '2031-05-02'::timestamptz"), None),
                               ("notes", 2, db.scalar("SELECT '2031-05-02'::timestamptz"), None)]
    assert db.scalar("SELECT tag FROM demo.notes WHERE id = 1") == "n"


def test_detach_mode_releases_references_then_archives(db: TestDB) -> None:
    parent = _referenced(db, retention="30 days")
    db.execute("SELECT ops.set_retention(%s::regclass, '30 days', 'detach')", (parent,))
    db.execute("SELECT ops.create_partition(%s::regclass, '2031-05-01')", (parent,))
    run = db.cli("retention", "run", "--reference-date", "2031-08-10")
    assert run.returncode == 0, run.stdout + run.stderr
    assert db.scalar("SELECT count(*) FROM demo_archive.events_2031_05") == 1
    assert db.query("SELECT count(*) FROM demo.marks") == [(0,)]
    assert db.query("SELECT event FROM demo.notes ORDER BY id") == [(None,), (None,)]


def test_a_no_action_key_keeps_its_partition(db: TestDB) -> None:
    parent = _referenced(db, retention="30 days", no_action=True)
    db.execute("SELECT ops.create_partition(%s::regclass, '2031-05-01')", (parent,))
    refs = _references(db)
    db.execute("CALL ops.run_maintenance(%s::regclass, '2031-08-10')", (parent,))
    assert db.scalar("SELECT to_regclass('demo.events_2031_05')::text") == "demo.events_2031_05"
    assert _references(db) == refs, "nothing half done"
    assert db.scalar("SELECT detail FROM ops.maintenance_log WHERE action = 'error' AND parent_schema = 'demo'"
                     ).startswith("23503")


def test_a_key_left_suspended_cannot_commit(db: TestDB) -> None:
    parent = _referenced(db)
    with psycopg.connect(db.url) as conn:
        assert conn.execute("SELECT ops.suspend_references(%s::regclass)", (parent,)).fetchone()[0] == 2
        assert conn.execute("SELECT ops.suspend_references(%s::regclass)", (parent,)).fetchone()[0] == 0
        with pytest.raises(psycopg.errors.ObjectNotInPrerequisiteState):
            conn.commit()
    assert len(_keys(db)) == 2
    with psycopg.connect(db.url) as conn:
        assert conn.execute("SELECT ops.suspend_references(%s::regclass)", (parent,)).fetchone()[0] == 2
        assert conn.execute("SELECT ops.restore_references(%s::regclass)", (parent,)).fetchone()[0] == 2
        conn.commit()
    assert len(_keys(db)) == 2
    assert db.scalar("SELECT ops.restore_references(%s::regclass)", (parent,)) == 0
    for call in ("ops.suspend_references(NULL)", "ops.restore_references(NULL)",
                 "ops.prepare_drain(NULL, '2031-05-01')", "ops.release_references(NULL, NULL)"):
        with pytest.raises(psycopg.errors.NullValueNotAllowed):
            db.execute(f"SELECT {call}")


# -- ops_0010: the lookup of the keys that reference a parent ------------------------------

SCAN = """SELECT coalesce(array_agg(c.oid ORDER BY c.oid), '{}') FROM pg_constraint AS c
          WHERE c.contype = 'f' AND c.confrelid = %(rel)s::regclass AND c.conparentid = 0"""
INDEXED = "SELECT coalesce(array_agg(k ORDER BY k), '{}') FROM ops.referencing_keys(%(rel)s::regclass) AS k"


def test_referencing_keys_are_the_keys_a_catalog_scan_finds(db: TestDB) -> None:
    """Every table of the migrated systems, plus a partitioned parent referenced by three keys
    (PostgreSQL copies each onto every partition: the copies are not listed), a self-reference
    and a table nobody references: the same keys as reading all of pg_constraint."""
    parent = _referenced(db, no_action=True)
    db.execute("CREATE TABLE demo.tree (id int PRIMARY KEY, up int REFERENCES demo.tree)")
    db.execute("CREATE TABLE demo.alone (id int PRIMARY KEY)")
    tables = [r[0] for r in db.query("SELECT oid::regclass::text FROM pg_class WHERE relkind IN ('r', 'p')"
                                     " AND relnamespace <> 'pg_catalog'::regnamespace")]
    differ = [rel for rel in tables if db.scalar(SCAN, {"rel": rel}) != db.scalar(INDEXED, {"rel": rel})]
    assert differ == []
    assert len(db.scalar(INDEXED, {"rel": parent})) == 3
    assert len(db.scalar(INDEXED, {"rel": "demo.tree"})) == 1
    assert db.scalar(INDEXED, {"rel": "demo.alone"}) == []
    assert db.scalar("SELECT count(*) FROM pg_class WHERE relkind IN ('r', 'p')"
                     " AND EXISTS (SELECT FROM ops.referencing_keys(oid))") > 3  # the systems' own


def test_referencing_keys_read_an_index_not_the_catalog(db: TestDB) -> None:
    """Inlined where it is called, it reaches pg_constraint by oid from pg_depend's index on the
    referenced object: no pass over pg_constraint, whose size is every constraint of the
    database (it was one such pass per partition created)."""
    parent = _referenced(db)
    plan = "\n".join(r[0] for r in db.query(
        f"EXPLAIN (COSTS OFF) SELECT EXISTS (SELECT FROM ops.referencing_keys('{parent}'::regclass))"))
    assert "pg_depend_reference_index" in plan
    assert "Seq Scan on pg_constraint" not in plan
    assert "Function Scan" not in plan  # inlined, so the planner sees the catalogs
