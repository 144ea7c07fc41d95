"""`schema-tool partitions ensure|list`, `retention run` and `maintain`: the CLI path.

One run lock (the one ops.run_maintenance() takes; only maintenance roles can hold it) so
overlapping runs never fight; one plan for every table from ops.maintenance_plan (a run
with nothing to do is that one query); one short transaction per step with a lock_timeout;
a table that fails is reported and the others still get their maintenance (exit code 1
then says: partial). Rows the engine will not place (outside the partition key range, or
over the per-run cap) stay in DEFAULT and are reported.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO

from schema_tool import dburl, locks
from schema_tool.errors import ToolError
from schema_tool.partitions import (Parent, Planner, Step, TablePlan, check_months_ahead, execute, load_parent,
                                    load_plan, parse_reference_date, rows_waiting, still_needed)

if TYPE_CHECKING:
    import psycopg

PROBE_SQL = """
SELECT pg_catalog.set_config('lock_timeout', %s, false),
       pg_catalog.set_config('client_connection_check_interval', '1s', false),
       pg_catalog.to_regclass('ops.partitioned_tables') IS NOT NULL,
       pg_catalog.to_regprocedure('ops.maintenance_plan(regclass, timestamptz, integer, text[])') IS NOT NULL,
       pg_catalog.pg_is_in_recovery(),
       pg_catalog.gen_random_uuid()::text
"""
LOG_SQL = """
INSERT INTO ops.maintenance_log
    (run_id, path, parent_schema, parent_table, action, partition_name, rows_moved, duration_ms, detail)
VALUES (%s, 'cli', %s, %s, %s, %s, %s, %s, %s)
"""
FINISH_SQL = ("DELETE FROM ops.maintenance_log WHERE logged_at < pg_catalog.now() - interval '90 days';"
              " SELECT ops.release_run_lock('maintain')")
ACTION_KEYS = {"create": "created", "drain": "drained", "default": "created", "drop": "dropped",
               "detach": "detached"}


@dataclass
class TableReport:
    parent: str
    steps: list[Step] = field(default_factory=list)
    kept: list[Step] = field(default_factory=list)  # rows that stay in DEFAULT
    error: str | None = None
    duration_ms: float = 0.0

    def as_dict(self, with_sql: bool = False) -> dict[str, object]:
        out: dict[str, object] = {k: [] for k in ("created", "drained", "dropped", "detached")}
        for step in self.steps:
            entry = step.as_dict()
            if with_sql:
                entry["sql"] = step.sql
            out[ACTION_KEYS[step.action]].append(entry)  # type: ignore[union-attr]
        return {"parent": self.parent, **out, "kept_in_default": [s.as_dict() for s in self.kept],
                "error": self.error, "duration_ms": round(self.duration_ms, 3)}

    def line(self) -> str | None:
        """One line for a table that changed, or has rows kept in DEFAULT; None otherwise."""
        counts: dict[str, int] = {}
        for step in self.steps:
            counts[ACTION_KEYS[step.action]] = counts.get(ACTION_KEYS[step.action], 0) + 1
        parts = [f"{counts[k]} {k}" + (f" ({sum(s.rows_moved for s in self.steps)} rows moved)"
                                       if k == "drained" else "")
                 for k in ("created", "drained", "dropped", "detached") if k in counts]
        kept = sum(s.rows_waiting for s in self.kept)
        if kept:
            parts.append(f"{kept} rows kept in DEFAULT ({'; '.join(sorted({s.detail or '' for s in self.kept}))})")
        if not parts:
            return None
        return f"{self.parent}: {', '.join(parts)} ({self.duration_ms:.1f} ms)"


def _open(url: str, lock_timeout: str) -> tuple[psycopg.Connection, bool, str]:
    """A connection ready for maintenance (one round trip after connecting): the
    connection, whether the server is a standby, and a run id."""
    conn = dburl.connect(url, app="schema-tool maintain")
    registry, engine, standby, run_id = conn.execute(PROBE_SQL, (lock_timeout,)).fetchone()[2:]
    if not registry or not engine:
        conn.close()
        missing = "no partition registry" if not registry else "an older partition engine"
        raise ToolError(f"{dburl.describe(url)} has {missing}: run `schema-tool migrate` first")
    return conn, standby, run_id


def run(url: str, *, steps: tuple[str, ...], dry_run: bool = False, as_json: bool = False,
        reference: str | None = None, lock_timeout: str = "5s", months_ahead: int | None = None,
        wait: bool = False, quiet: bool = False, out: TextIO = sys.stdout) -> int:
    check_months_ahead(months_ahead)
    ref = parse_reference_date(reference)
    started = time.perf_counter()
    conn, standby, run_id = _open(url, lock_timeout)
    with conn:
        if standby:
            return _say(out, as_json, "this server is a standby: maintenance is a no-op here",
                        {"standby": True, "tables": []})
        if not dry_run and not locks.acquire(conn, locks.MAINTAIN, 3600 * 24 if wait else 0, run_locks=True):
            return _say(out, as_json, f"another maintenance run holds the lock "
                                      f"({locks.holder(conn, locks.MAINTAIN)}); nothing done",
                        {"locked_out": True, "tables": []})
        try:
            plans = load_plan(conn, ref, months_ahead, steps)
            reports = _Run(conn, run_id, dry_run).all(plans)
        finally:
            if not dry_run and not conn.closed:
                conn.execute(FINISH_SQL)
    failed = [r for r in reports if r.error]
    seconds = time.perf_counter() - started
    if as_json:
        out.write(json.dumps({"run_id": run_id, "reference": ref.isoformat(), "dry_run": dry_run, "ok": not failed,
                              "duration_ms": round(seconds * 1000, 3),
                              "tables": [r.as_dict(with_sql=dry_run) for r in reports]}, default=str) + "\n")
    if dry_run and not quiet:
        # the SQL a dry run plans: on stdout before the summary, or on stderr beside JSON
        sql_out = sys.stderr if as_json else out
        for report in reports:
            for step in report.steps:
                sql_out.write(f"-- {step.action} {step.partition}: one transaction\nBEGIN;\n{step.sql}COMMIT;\n\n")
    if not as_json and not quiet:
        _print_text(reports, out, seconds)
    return 1 if failed else 0


class _Run:
    """Executes (or, dry, renders) the planned steps of every table."""

    def __init__(self, conn: psycopg.Connection, run_id: str, dry_run: bool):
        self.conn = conn
        self.run_id = run_id
        self.dry_run = dry_run
        self._planner: Planner | None = None

    @property
    def planner(self) -> Planner:
        if self._planner is None:
            from schema_tool.render import Renderer

            self._planner = Planner(self.conn, Renderer(self.conn))
        return self._planner

    def all(self, plans: list[TablePlan]) -> list[TableReport]:
        reports = []
        for plan in plans:
            report = TableReport(plan.name)
            reports.append(report)
            started = time.perf_counter()
            self.table(plan, report)
            report.duration_ms = (time.perf_counter() - started) * 1000
        return reports

    def table(self, plan: TablePlan, report: TableReport) -> None:
        import psycopg

        parent: Parent | None = None
        for step in plan.steps:
            started = time.perf_counter()
            if step.action == "error":
                report.error = step.detail
                self._log(plan, "error", None, None, started, step.detail)
                return
            if step.action == "skip":
                report.kept.append(step)
                self._log(plan, "skip", step.name, None, started, f"{step.rows_waiting} rows kept in DEFAULT: "
                                                                  f"{step.detail}")
                continue
            try:
                if parent is None:
                    parent = load_parent(self.conn, plan.oid) if plan.oid else None
                    if parent is None:
                        raise ToolError(f"registered table {plan.name} is gone")
                self.planner.render(parent, step)
                if self.dry_run or self._run_step(parent, step):
                    report.steps.append(step)
                if step.action == "default" and not self.dry_run:
                    parent = load_parent(self.conn, parent.oid)  # later steps lock and drain it
            except (psycopg.Error, ToolError) as exc:
                report.error = _describe(exc)
                self._log(plan, "error", step.name, None, started, report.error)
                return

    def _run_step(self, parent: Parent, step: Step) -> bool:
        with self.conn.transaction():
            if not still_needed(self.conn, parent, step):
                return False
            if step.action in ("create", "drain") and rows_waiting(self.conn, parent, step) != (step.action == "drain"):
                step.action = "create" if step.action == "drain" else "drain"  # rows came or went since the plan
                self.planner.render(parent, step)
            execute(self.conn, step)
            if step.action == "drain" and step.rows_moved == 0:
                step.action = "create"
            self.conn.execute("SELECT ops.remember_bounds(%s::oid::regclass)", (parent.oid,))
            self.conn.execute(LOG_SQL, (self.run_id, parent.schema, parent.table,
                                        "create" if step.action == "default" else step.action, step.name,
                                        step.rows_moved if step.action in ("create", "drain") else None,
                                        round(step.duration_ms, 3), None))
        return True

    def _log(self, plan: TablePlan, action: str, partition: str | None, rows: int | None, started: float,
             detail: str | None) -> None:
        if self.dry_run:
            return
        self.conn.execute(LOG_SQL, (self.run_id, plan.schema, plan.table, action, partition, rows,
                                    round((time.perf_counter() - started) * 1000, 3), detail))


def _describe(exc: Exception) -> str:
    import psycopg

    if not isinstance(exc, psycopg.Error):
        return str(exc)
    text = dburl.error_line(exc)
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        text = f"lock_timeout expired: {text}; the next run retries"
    return text


def _say(out: TextIO, as_json: bool, line: str, payload: dict[str, object]) -> int:
    if as_json:
        out.write(json.dumps({"ok": True, "message": line, **payload}) + "\n")
    else:
        out.write(line + "\n")
    return 0


def _print_text(reports: list[TableReport], out: TextIO, seconds: float) -> None:
    for report in reports:
        line = report.line()
        if line:
            out.write(line + "\n")
        if report.error:
            out.write(f"FAILED   {report.parent}: {report.error}\n")
    changes = sum(len(r.steps) for r in reports)
    failed = sum(1 for r in reports if r.error)
    status = f"{failed} of {len(reports)} tables failed" if failed else "ok"
    out.write(f"{len(reports)} tables, {changes} changes, {seconds * 1000:.0f} ms: {status}\n")


LIST_SQL = """
SELECT r.parent_schema || '.' || r.parent_table, r.control_column, r.premake, r.retention::text, r.retention_mode,
       pg_catalog.to_regclass(pg_catalog.format('%I.%I', r.parent_schema, r.parent_table)) IS NOT NULL,
       p.partition_schema || '.' || p.partition_name, p.is_default,
       ops.bound_literal(ops.control_type(p.parent), p.lower_bound),
       ops.bound_literal(ops.control_type(p.parent), p.upper_bound), p.row_estimate, p.total_bytes
FROM ops.partitioned_tables AS r
LEFT JOIN ops.partitions AS p ON p.parent_schema = r.parent_schema AND p.parent_table = r.parent_table
ORDER BY 1, p.is_default DESC, p.lower_bound
"""


def list_partitions(url: str, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    conn, _, _ = _open(url, "5s")
    with conn:
        rows = conn.execute(LIST_SQL).fetchall()
    parents: dict[str, dict[str, object]] = {}
    for name, column, premake, retention, mode, exists, part, is_default, lower, upper, est, size in rows:
        entry = parents.setdefault(name, {"parent": name, "control_column": column, "premake": premake,
                                          "retention": retention, "retention_mode": mode, "exists": exists,
                                          "partitions": []})
        if part is not None:
            entry["partitions"].append({"partition": part, "default": is_default, "lower": lower,  # type: ignore[union-attr]
                                        "upper": upper, "row_estimate": est, "bytes": size})
    if as_json:
        out.write(json.dumps({"tables": list(parents.values())}) + "\n")
        return 0
    for p in parents.values():
        keep = f"keeps {p['retention']}, then {p['retention_mode']}" if p["retention"] else "keeps everything"
        out.write(f"{p['parent']} (by {p['control_column']}, {p['premake']} months ahead, {keep})\n")
        for part in p["partitions"]:  # type: ignore[union-attr]
            span = "DEFAULT" if part["default"] else f"[{part['lower']}, {part['upper']})"
            out.write(f"  {part['partition']:<48} {span:<52} ~{part['row_estimate']} rows\n")
    return 0

