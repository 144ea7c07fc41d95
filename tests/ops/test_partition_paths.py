"""The CLI path (templates) and the SQL path (ops functions) produce identical partitions."""

from __future__ import annotations

from demo_tables import make_parent, register_only
from pg import TestDB

DESCRIBE = """
SELECT c.relname,
       pg_get_expr(c.relpartbound, c.oid),
       c.relowner::regrole::text,
       coalesce(c.relacl::text, ''),
       c.relrowsecurity, c.relforcerowsecurity, c.relpersistence,
       (SELECT string_agg(replace(pg_get_indexdef(i.indexrelid), %(schema)s || '.', 'S.'), '; ' ORDER BY 1)
          FROM pg_index i WHERE i.indrelid = c.oid),
       (SELECT string_agg(x.conname || ' ' || pg_get_constraintdef(x.oid), '; ' ORDER BY 1)
          FROM pg_constraint x WHERE x.conrelid = c.oid),
       (SELECT string_agg(t.tgname || ' ' || t.tgenabled::text, '; ' ORDER BY 1)
          FROM pg_trigger t WHERE t.tgrelid = c.oid),
       (SELECT string_agg(a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull
                          || ' ' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''), ', ' ORDER BY a.attnum)
          FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
       (SELECT count(*) FROM ONLY {table})
FROM pg_class c
WHERE c.oid = %(child)s::regclass
"""


def _describe(db: TestDB, parent: str) -> list[tuple]:
    schema = parent.split(".")[0]
    rows = []
    for child in db.query("SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
                          (parent,)):
        rows.extend(db.query(DESCRIBE.replace("{table}", child[0]), {"schema": schema, "child": child[0]}))
    return sorted(rows)


def _setup(db: TestDB, schema: str) -> str:
    parent = make_parent(db, schema, register=False, rls=True)
    db.execute(f"CREATE FUNCTION {schema}.tg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$")
    db.execute(f"CREATE TRIGGER audit AFTER INSERT ON {parent} FOR EACH ROW EXECUTE FUNCTION {schema}.tg()")
    db.execute(f"GRANT SELECT ON {parent} TO schema_tool_readonly")
    register_only(db, parent, premake=2)
    db.execute(f"CREATE TABLE {schema}.events_default PARTITION OF {parent} DEFAULT")
    db.execute(f"ALTER TABLE {schema}.events_default OWNER TO schema_tool_owner")
    db.execute(f"ALTER TABLE {schema}.events_default ENABLE ROW LEVEL SECURITY")
    db.execute(f"ALTER TABLE {schema}.events_default FORCE ROW LEVEL SECURITY")
    db.execute(f"INSERT INTO {parent} (created_at, payload, score) VALUES ('2030-03-03', 'a', 1),"
               " ('2030-03-04', 'b', 2), ('2005-05-05', 'c', 3)")
    return parent


def test_cli_and_sql_paths_build_identical_partitions(db: TestDB) -> None:
    via_cli = _setup(db, "demo_cli")
    via_sql = _setup(db, "demo_sql")

    result = db.cli("maintain", "--reference-date", "2030-02-10")
    assert result.returncode == 0, result.stdout + result.stderr
    db.execute("CALL ops.run_maintenance(%s::regclass, '2030-02-10')", (via_sql,))

    cli, sql = _describe(db, via_cli), _describe(db, via_sql)
    assert len(cli) == 5  # DEFAULT, 2005-05 (drained), 2030-02, 2030-03 (drained), 2030-04
    assert cli == sql

    # idempotent, both ways
    assert db.cli("maintain", "--reference-date", "2030-02-10").returncode == 0
    db.execute("CALL ops.run_maintenance(%s::regclass, '2030-02-10')", (via_sql,))
    assert _describe(db, via_cli) == cli and _describe(db, via_sql) == sql
