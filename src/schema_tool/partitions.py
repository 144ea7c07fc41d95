"""The CLI path of the partition engine: registered parents, their plans (from the same
SQL functions the in-database path uses) and the DDL rendered from templates/."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

import psycopg

from schema_tool.render import Renderer

PARENTS_SQL = """
SELECT r.parent_schema, r.parent_table, r.control_column, r.default_partition,
       r.retention_mode, r.archive_schema, r.premake, r.retention::text,
       c.oid, pg_catalog.pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity,
       d.relnamespace::regnamespace::text, d.relname,
       (SELECT pg_catalog.array_agg(t.tgname::text ORDER BY t.tgname) FROM pg_catalog.pg_trigger AS t
         WHERE t.tgrelid = d.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D'),
       (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute AS a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
FROM ops.partitioned_tables AS r
LEFT JOIN pg_catalog.pg_namespace AS n ON n.nspname = r.parent_schema
LEFT JOIN pg_catalog.pg_class AS c ON c.relnamespace = n.oid AND c.relname = r.parent_table
LEFT JOIN pg_catalog.pg_class AS d ON d.oid = ops.default_partition(c.oid)
ORDER BY r.parent_schema, r.parent_table
"""


@dataclass
class Parent:
    schema: str
    table: str
    control_column: str
    wants_default: bool
    retention_mode: str
    archive_schema: str | None
    premake: int
    retention: str | None
    oid: int | None
    owner: str | None = None
    rls: bool = False
    force_rls: bool = False
    default: tuple[str, str] | None = None
    default_triggers: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class Step:
    """One change to make (or made): its DDL and, once run, what it did."""

    action: str  # create | drain | default | drop | detach
    partition: str  # schema.name, for people
    sql: str
    ident: str = ""  # quoted, for SQL
    lower: str | None = None
    upper: str | None = None
    month: object = None
    cutoff: datetime | None = None  # retention: partitions ending at or before it go
    rows_moved: int = 0
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {"partition": self.partition, "duration_ms": round(self.duration_ms, 3)}
        if self.lower is not None:
            out.update(lower=self.lower, upper=self.upper)
        if self.action in ("create", "drain"):
            out["rows_moved"] = self.rows_moved
        return out


def load_parents(conn: psycopg.Connection) -> list[Parent]:
    parents = []
    for row in conn.execute(PARENTS_SQL).fetchall():
        p = Parent(*row[:9])
        if p.oid is not None:
            p.owner, p.rls, p.force_rls = row[9], row[10], row[11]
            p.default = (row[12], row[13]) if row[13] else None
            p.default_triggers = list(row[14] or [])
            p.columns = list(row[15] or [])
        parents.append(p)
    return parents


class Planner:
    """Turns the SQL plans into rendered steps for one parent."""

    def __init__(self, conn: psycopg.Connection, renderer: Renderer):
        self.conn = conn
        self.r = renderer
        self.current_user = conn.execute("SELECT current_user").fetchone()[0]

    def _common(self, parent: Parent) -> dict[str, object]:
        r = self.r
        return {
            "parent": r.ident(parent.schema, parent.table),
            "parent_literal": r.literal(r.ident(parent.schema, parent.table)),
            "owner": r.ident(parent.owner or ""),
            "current_user": r.ident(self.current_user),
            "rls": parent.rls,
            "force_rls": parent.force_rls,
        }

    def default_step(self, parent: Parent) -> Step | None:
        if not parent.wants_default or parent.default is not None:
            return None
        name = self.conn.execute("SELECT ops.default_partition_name(%s)", (parent.table,)).fetchone()[0]
        child = self.r.ident(parent.schema, name)
        sql = self.r.render("partition_default.sql.j2", child=child, **self._common(parent))
        return Step("default", f"{parent.schema}.{name}", sql, ident=child)

    def create_steps(self, parent: Parent, reference: datetime, premake: int | None,
                     include_default_rows: bool) -> list[Step]:
        rows = self.conn.execute(
            "SELECT month, partition_schema, partition_name, lower_literal, upper_literal, default_rows, reason"
            " FROM ops.partition_plan(%s::oid::regclass, %s, %s)",
            (parent.oid, reference, premake),
        ).fetchall()
        steps = []
        r = self.r
        for month, schema, name, lower, upper, waiting, reason in rows:
            if reason == "default rows" and not include_default_rows:
                continue
            child = r.ident(schema, name)
            default = r.ident(*parent.default) if parent.default else None
            sql = r.render(
                "partition_create.sql.j2", child=child, default=default,
                default_triggers=[r.ident(t) for t in parent.default_triggers],
                column=r.ident(parent.control_column),
                columns=", ".join(r.ident(c) for c in parent.columns),
                lower=r.literal(lower), upper=r.literal(upper), **self._common(parent),
            )
            action = "drain" if waiting else "create"
            steps.append(Step(action, f"{schema}.{name}", sql, ident=child, lower=lower, upper=upper, month=month))
        return steps

    def retention_steps(self, parent: Parent, reference: datetime) -> list[Step]:
        rows = self.conn.execute(
            "SELECT partition_schema, partition_name,"
            " ops.bound_literal(ops.control_type(%(p)s::oid::regclass), lower_bound),"
            " ops.bound_literal(ops.control_type(%(p)s::oid::regclass), upper_bound), action, archive_schema,"
            " ops.retention_cutoff(%(p)s::oid::regclass, %(ref)s)"
            " FROM ops.retention_plan(%(p)s::oid::regclass, %(ref)s)",
            {"p": parent.oid, "ref": reference},
        ).fetchall()
        steps = []
        for schema, name, lower, upper, action, archive, cutoff in rows:
            child = self.r.ident(schema, name)
            sql = self.r.render(
                f"partition_{action}.sql.j2", child=child,
                lower=lower, upper=upper,
                archive_schema=self.r.ident(archive) if archive else "", **self._common(parent),
            )
            steps.append(Step(action, f"{schema}.{name}", sql, ident=child, lower=lower, upper=upper,
                              cutoff=cutoff))
        return steps


def still_needed(conn: psycopg.Connection, parent: Parent, step: Step) -> bool:
    """Re-checked inside the step's transaction, under the parent's lock."""
    conn.execute("SELECT pg_catalog.pg_advisory_xact_lock(ops.lock_key(%s::oid::regclass))", (parent.oid,))
    if step.action in ("create", "drain"):
        return bool(conn.execute("SELECT ops.month_is_free(%s::oid::regclass, %s)",
                                 (parent.oid, step.month)).fetchone()[0])
    if step.action == "default":
        return conn.execute("SELECT ops.default_partition(%s::oid::regclass)", (parent.oid,)).fetchone()[0] is None
    row = conn.execute(
        "SELECT b.upper_bound, b.is_default FROM ops.child_bounds(%s::oid::regclass) AS b"
        " WHERE b.partition = pg_catalog.to_regclass(%s)",
        (parent.oid, step.ident),
    ).fetchone()
    return bool(row) and not row[1] and step.cutoff is not None and row[0] <= step.cutoff


def execute(conn: psycopg.Connection, step: Step) -> None:
    """Runs a step's DDL (inside the caller's transaction), noting rows moved and duration."""
    started = time.perf_counter()
    cur = conn.execute(step.sql)
    while True:
        if cur.description and cur.description[0].name == "rows_moved":
            step.rows_moved = int(cur.fetchone()[0])
        if not cur.nextset():
            break
    step.duration_ms = (time.perf_counter() - started) * 1000
    if step.action == "drain" and step.rows_moved == 0:
        step.action = "create"
    elif step.action == "create" and step.rows_moved > 0:
        step.action = "drain"
