"""Demo partitioned parents for partition-engine tests."""

from __future__ import annotations

import psycopg

from pg import TestDB


def make_parent(db: TestDB, schema: str, table: str = "events", ctype: str = "timestamptz", *,
                register: bool = True, premake: int = 3, months_back: int = 0,
                retention: str | None = None, mode: str = "drop", rls: bool = False) -> str:
    """A parent range-partitioned by created_at, owned by schema_tool_owner; returns schema.table."""
    qualified = f"{schema}.{table}"
    with psycopg.connect(db.url, autocommit=True) as conn:
        # as a migration does: the schema by the session user, for the owner role
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION schema_tool_owner")
        conn.execute("SET ROLE schema_tool_owner")
        conn.execute(
            f"CREATE TABLE {qualified} ("
            " id bigint GENERATED ALWAYS AS IDENTITY,"
            f" created_at {ctype} NOT NULL,"
            " payload text,"
            " score integer CONSTRAINT chk_score CHECK (score >= 0),"
            " PRIMARY KEY (created_at, id)"
            ") PARTITION BY RANGE (created_at)"
        )
        conn.execute(f"CREATE INDEX ON {qualified} (payload)")
        if rls:
            conn.execute(f"ALTER TABLE {qualified} ENABLE ROW LEVEL SECURITY")
            conn.execute(f"ALTER TABLE {qualified} FORCE ROW LEVEL SECURITY")
        conn.execute("RESET ROLE")
        if register:
            conn.execute(
                "SELECT ops.register_partitioned_table(%s::regclass, 'created_at', p_premake => %s,"
                " p_start_months_back => %s, p_retention => %s::interval, p_retention_mode => %s)",
                (qualified, premake, months_back, retention, mode),
            )
    return qualified


def register_only(db: TestDB, qualified: str, *, premake: int = 3, retention: str | None = None,
                  mode: str = "drop", archive: str | None = None) -> None:
    """A registry row without running the in-database setup (to compare the two paths)."""
    schema, table = qualified.split(".")
    db.execute(
        "INSERT INTO ops.partitioned_tables (parent_schema, parent_table, control_column, premake,"
        " retention, retention_mode, archive_schema) VALUES (%s, %s, 'created_at', %s, %s::interval, %s, %s)",
        (schema, table, premake, retention, mode, archive),
    )


def children(db: TestDB, qualified: str) -> list[tuple[str, bool, object, object]]:
    """(name, is_default, lower, upper) of every partition, oldest first, DEFAULT first."""
    return db.query(
        "SELECT c.relname, b.is_default, b.lower_bound, b.upper_bound FROM pg_inherits i"
        " JOIN pg_class c ON c.oid = i.inhrelid CROSS JOIN LATERAL ops.partition_bounds(c.oid) b"
        " WHERE i.inhparent = %s::regclass ORDER BY b.is_default DESC, b.lower_bound",
        (qualified,),
    )


def names(db: TestDB, qualified: str) -> list[str]:
    return [row[0] for row in children(db, qualified)]


def rows_by_partition(db: TestDB, qualified: str) -> dict[str, int]:
    return dict(db.query(f"SELECT tableoid::regclass::text, count(*) FROM {qualified} GROUP BY 1"))
