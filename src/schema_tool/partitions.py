"""The CLI path of the partition engine: the limits its options obey, the plan (from the
SQL function the in-database path uses, ops.maintenance_plan) and the steps it becomes,
with their DDL rendered from templates/.

Importing this module is cheap (no database driver, no template engine): the command
line checks its options with check_months_ahead() and parse_reference_date() before it
connects anywhere.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from schema_tool.errors import UsageError

if TYPE_CHECKING:
    import psycopg

    from schema_tool.render import Renderer

# The engine's limits (the SQL functions check the same ones; docs/security.md, ops).
MONTHS_AHEAD_MAX = 120  # --months-ahead, ops premake / months back: 0..120
KEY_RANGE = (date(2000, 1, 1), date(2100, 1, 1))  # ops.key_range(): [lower, upper), UTC
DRAIN_CAP = 12  # ops.drain_cap(): months one run creates per table for rows waiting in DEFAULT


def check_months_ahead(value: int | None) -> int | None:
    """--months-ahead: None (each table's premake) or 0..120; else bad usage (exit 2)."""
    if value is not None and not 0 <= value <= MONTHS_AHEAD_MAX:
        raise UsageError(f"--months-ahead must be between 0 and {MONTHS_AHEAD_MAX}, not {value}")
    return value


def parse_reference_date(value: str | None) -> datetime:
    """--reference-date YYYY-MM-DD inside the partition key range (UTC midnight); None: now."""
    if not value:
        return datetime.now(timezone.utc)
    try:
        day = datetime.strptime(value, "%Y-%m-%d").date()
    except ValueError:
        raise UsageError(f"bad --reference-date {value!r}: use YYYY-MM-DD") from None
    if not KEY_RANGE[0] <= day < KEY_RANGE[1]:
        raise UsageError(f"--reference-date {value} is outside the partition key range "
                         f"[{KEY_RANGE[0]}, {KEY_RANGE[1]})")
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


PLAN_SQL = """
WITH plan AS MATERIALIZED (
    SELECT p.*
    FROM ops.maintenance_plan(NULL, %(ref)s, %(premake)s, %(steps)s) WITH ORDINALITY AS p (
        parent, parent_schema, parent_table, step, month, partition_schema, partition_name, partition,
        lower_literal, upper_literal, rows_waiting, cutoff, archive_schema, detail, n)
)
SELECT r.parent_schema, r.parent_table, p.parent::oid, p.step, p.month, p.partition_schema, p.partition_name,
       p.partition::oid, p.lower_literal, p.upper_literal, p.rows_waiting, p.cutoff, p.archive_schema, p.detail
FROM ops.partitioned_tables AS r
LEFT JOIN plan AS p ON p.parent_schema = r.parent_schema AND p.parent_table = r.parent_table
ORDER BY r.parent_schema, r.parent_table, p.n
"""

PARENTS_SQL = """
SELECT c.oid, n.nspname, c.relname, pg_catalog.pg_get_userbyid(c.relowner), c.relrowsecurity,
       c.relforcerowsecurity, dn.nspname, d.relname, r.control_column,
       (SELECT pg_catalog.array_agg(t.tgname::text ORDER BY t.tgname) FROM pg_catalog.pg_trigger AS t
         WHERE t.tgrelid = d.oid AND NOT t.tgisinternal AND t.tgenabled <> 'D'),
       (SELECT pg_catalog.array_agg(a.attname::text ORDER BY a.attnum) FROM pg_catalog.pg_attribute AS a
         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '')
FROM pg_catalog.pg_class AS c
JOIN pg_catalog.pg_namespace AS n ON n.oid = c.relnamespace
JOIN ops.partitioned_tables AS r ON r.parent_schema = n.nspname AND r.parent_table = c.relname
LEFT JOIN pg_catalog.pg_partitioned_table AS pt ON pt.partrelid = c.oid
LEFT JOIN pg_catalog.pg_class AS d ON d.oid = nullif(pt.partdefid, 0)
LEFT JOIN pg_catalog.pg_namespace AS dn ON dn.oid = d.relnamespace
WHERE c.oid = %s
"""


@dataclass
class Parent:
    """What rendering a parent's DDL needs (loaded only for parents with work to do)."""

    oid: int
    schema: str
    table: str
    owner: str
    rls: bool
    force_rls: bool
    default: tuple[str, str] | None
    control_column: str
    default_triggers: list[str]
    columns: list[str]

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


@dataclass
class Step:
    """One change to make (or made), as planned by ops.maintenance_plan; sql once rendered."""

    action: str  # default | create | drain | drop | detach | skip | error
    partition: str | None = None  # schema.name, for people
    schema: str | None = None
    name: str | None = None
    month: date | None = None
    oid: int | None = None  # an existing partition (retention)
    lower: str | None = None
    upper: str | None = None
    rows_waiting: int = 0
    cutoff: datetime | None = None
    archive_schema: str | None = None
    detail: str | None = None
    sql: str = ""
    ident: str = ""
    rows_moved: int = 0
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, object]:
        if self.action == "skip":
            return {"partition": self.partition, "month": self.month.isoformat()[:7] if self.month else None,
                    "rows": self.rows_waiting, "reason": self.detail}
        out: dict[str, object] = {"partition": self.partition, "duration_ms": round(self.duration_ms, 3)}
        if self.lower is not None:
            out.update(lower=self.lower, upper=self.upper)
        if self.action in ("create", "drain"):
            out["rows_moved"] = self.rows_moved
        return out


@dataclass
class TablePlan:
    schema: str
    table: str
    oid: int | None = None
    steps: list[Step] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.schema}.{self.table}"


def load_plan(conn: psycopg.Connection, reference: datetime, premake: int | None,
              steps: tuple[str, ...]) -> list[TablePlan]:
    """Every registered table with the steps maintenance would take on it (one query)."""
    tables: dict[tuple[str, str], TablePlan] = {}
    rows = conn.execute(PLAN_SQL, {"ref": reference, "premake": premake, "steps": list(steps)}).fetchall()
    for (schema, table, oid, action, month, pschema, pname, poid, lower, upper, waiting, cutoff,
         archive, detail) in rows:
        plan = tables.setdefault((schema, table), TablePlan(schema, table))
        if action is None:
            continue
        plan.oid = plan.oid or oid
        if action == "create" and waiting:
            action = "drain"
        plan.steps.append(Step(
            action, f"{pschema}.{pname}" if pname else None, pschema, pname, month, poid, lower, upper,
            int(waiting or 0), cutoff, archive, detail,
        ))
    return list(tables.values())


def load_parent(conn: psycopg.Connection, oid: int) -> Parent | None:
    row = conn.execute(PARENTS_SQL, (oid,)).fetchone()
    if row is None:
        return None
    c_oid, schema, table, owner, rls, force, d_schema, d_name, column, triggers, columns = row
    return Parent(c_oid, schema, table, owner, rls, force, (d_schema, d_name) if d_name else None, column,
                  list(triggers or []), list(columns or []))


class Planner:
    """Renders a planned step's DDL (templates/) for one parent."""

    def __init__(self, conn: psycopg.Connection, renderer: Renderer):
        self.conn = conn
        self.r = renderer
        self.current_user = conn.execute("SELECT current_user").fetchone()[0]

    def _common(self, parent: Parent) -> dict[str, object]:
        r = self.r
        return {
            "parent": r.ident(parent.schema, parent.table),
            "parent_literal": r.literal(r.ident(parent.schema, parent.table)),
            "owner": r.ident(parent.owner),
            "current_user": r.ident(self.current_user),
            "rls": parent.rls,
            "force_rls": parent.force_rls,
        }

    def render(self, parent: Parent, step: Step) -> None:
        r = self.r
        step.ident = r.ident(step.schema or parent.schema, step.name or "")
        if step.action == "default":
            step.sql = r.render("partition_default.sql.j2", child=step.ident, **self._common(parent))
        elif step.action in ("create", "drain"):
            step.sql = r.render(
                "partition_create.sql.j2", child=step.ident,
                default=r.ident(*parent.default) if parent.default else None,
                drain=step.action == "drain",
                default_triggers=[r.ident(t) for t in parent.default_triggers],
                column=r.ident(parent.control_column),
                columns=", ".join(r.ident(c) for c in parent.columns),
                lower=r.literal(step.lower or ""), upper=r.literal(step.upper or ""), **self._common(parent),
            )
        elif step.action in ("drop", "detach"):
            step.sql = r.render(
                f"partition_{step.action}.sql.j2", child=step.ident, child_literal=r.literal(step.ident),
                lower=step.lower, upper=step.upper,
                archive_schema=r.ident(step.archive_schema) if step.archive_schema else "",
                **self._common(parent),
            )


def still_needed(conn: psycopg.Connection, parent: Parent, step: Step) -> bool:
    """Re-checked inside the step's transaction, under the parent's lock."""
    if not conn.execute("SELECT ops.lock_parent(%s::oid::regclass)", (parent.oid,)).fetchone()[0]:
        return False
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


def _ident(*parts: str) -> str:
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def _literal(value: str | None) -> str:
    return "'" + (value or "").replace("'", "''") + "'"


def rows_waiting(conn: psycopg.Connection, parent: Parent, step: Step) -> bool:
    """Locks new rows out of the DEFAULT partition and says whether it holds rows of the
    step's month now (they must move in before the attach)."""
    if parent.default is None:
        return False
    default, column = _ident(*parent.default), _ident(parent.control_column)
    # a parent other tables reference: their foreign keys are suspended before the lock below
    conn.execute("SELECT ops.prepare_drain(%s::oid::regclass, %s)", (parent.oid, step.month))
    conn.execute(f"LOCK TABLE {default} IN EXCLUSIVE MODE")
    return bool(conn.execute(
        f"SELECT EXISTS (SELECT FROM ONLY {default} WHERE {column} >= {_literal(step.lower)}"
        f" AND {column} < {_literal(step.upper)})").fetchone()[0])


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
