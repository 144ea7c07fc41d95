"""`schema-tool partitions ensure|list`, `retention run` and `maintain`: the CLI path.

One advisory lock (the same one ops.run_maintenance() takes) so overlapping runs never
fight; one short transaction per partition with a lock_timeout; a parent that fails is
reported and the others still get their maintenance (exit code 1 then says: partial).
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TextIO

import psycopg

from schema_tool import dburl, locks
from schema_tool.errors import ToolError, UsageError
from schema_tool.partitions import Parent, Planner, Step, execute, load_parents, still_needed
from schema_tool.render import Renderer

LOG_SQL = """
INSERT INTO ops.maintenance_log
    (run_id, path, parent_schema, parent_table, action, partition_name, rows_moved, duration_ms, detail)
VALUES (%s, 'cli', %s, %s, %s, %s, %s, %s, %s)
"""
ACTION_KEYS = {"create": "created", "drain": "drained", "default": "created", "drop": "dropped",
               "detach": "detached"}


@dataclass
class TableReport:
    parent: str
    steps: list[Step] = field(default_factory=list)
    error: str | None = None
    duration_ms: float = 0.0

    def as_dict(self) -> dict[str, object]:
        out: dict[str, object] = {k: [] for k in ("created", "drained", "dropped", "detached")}
        for step in self.steps:
            out[ACTION_KEYS[step.action]].append(step.as_dict())  # type: ignore[union-attr]
        return {"parent": self.parent, **out, "error": self.error, "duration_ms": round(self.duration_ms, 3)}


def parse_reference(value: str | None) -> datetime:
    if not value:
        return datetime.now(timezone.utc)
    try:
        day = datetime.strptime(value, "%Y-%m-%d")
    except ValueError:
        raise UsageError(f"bad --reference-date {value!r}: use YYYY-MM-DD") from None
    return day.replace(tzinfo=timezone.utc)


def _open(url: str, lock_timeout: str) -> psycopg.Connection:
    conn = dburl.connect(url, app="schema-tool maintain", lock_timeout=lock_timeout)
    dburl.end_with_client(conn)
    if conn.execute("SELECT pg_catalog.to_regclass('ops.partitioned_tables')").fetchone()[0] is None:
        conn.close()
        raise ToolError(f"{dburl.describe(url)} has no partition registry: run `schema-tool migrate` first")
    return conn


def run(url: str, *, steps: tuple[str, ...], dry_run: bool = False, as_json: bool = False,
        reference: str | None = None, lock_timeout: str = "5s", months_ahead: int | None = None,
        wait: bool = False, quiet: bool = False, out: TextIO = sys.stdout) -> int:
    if months_ahead is not None and months_ahead < 0:
        raise UsageError("--months-ahead must be 0 or more")
    ref = parse_reference(reference)
    started = time.perf_counter()
    with _open(url, lock_timeout) as conn:
        if conn.execute("SELECT pg_catalog.pg_is_in_recovery()").fetchone()[0]:
            return _say(out, as_json, "this server is a standby: maintenance is a no-op here",
                        {"standby": True, "tables": []})
        if not dry_run:
            got = locks.acquire(conn, locks.MAINTAIN, 3600 * 24 if wait else 0)
            if not got:
                return _say(out, as_json, f"another maintenance run holds the lock "
                                          f"({locks.holder(conn, locks.MAINTAIN)}); nothing done",
                            {"locked_out": True, "tables": []})
        try:
            run_id = str(uuid.uuid4())
            reports = _maintain(conn, steps, dry_run, ref, months_ahead, run_id,
                               (sys.stderr if as_json else out) if dry_run else None)
            if not dry_run:
                conn.execute("DELETE FROM ops.maintenance_log WHERE logged_at < pg_catalog.now() - interval '90 days'")
        finally:
            if not dry_run:
                locks.unlock(conn, locks.MAINTAIN)
    failed = [r for r in reports if r.error]
    if as_json:
        json.dump({"run_id": run_id, "reference": ref.isoformat(), "dry_run": dry_run, "ok": not failed,
                   "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                   "tables": [r.as_dict() for r in reports]}, out, default=str)
        out.write("\n")
    elif not quiet:
        _print_text(reports, out, time.perf_counter() - started, show_steps=not dry_run)
    return 1 if failed else 0


def _maintain(conn: psycopg.Connection, steps: tuple[str, ...], dry_run: bool, ref: datetime,
              months_ahead: int | None, run_id: str, plan_out: TextIO | None) -> list[TableReport]:
    planner = Planner(conn, Renderer(conn))
    reports = []
    for parent in load_parents(conn):
        report = TableReport(parent.name)
        reports.append(report)
        started = time.perf_counter()
        if parent.oid is None:
            report.error = f"registered table {parent.name} does not exist"
            continue
        try:
            for step in _plan_and_run(conn, planner, parent, steps, dry_run, ref, months_ahead, run_id):
                if plan_out is not None:
                    plan_out.write(f"-- {step.action} {step.partition}: one transaction\nBEGIN;\n{step.sql}COMMIT;\n\n")
                report.steps.append(step)
        except psycopg.Error as exc:
            report.error = _describe(exc)
            if not dry_run:
                conn.execute(LOG_SQL, (run_id, parent.schema, parent.table, "error", None, None,
                                       round((time.perf_counter() - started) * 1000, 3), report.error))
        report.duration_ms = (time.perf_counter() - started) * 1000
    return reports


def _plan_and_run(conn: psycopg.Connection, planner: Planner, parent: Parent, steps: tuple[str, ...],
                  dry_run: bool, ref: datetime, months_ahead: int | None, run_id: str):
    """Yields each step once done (or, in a dry run, planned). Plans are made just before
    their step kind runs, so retention sees the partitions a drain just created."""
    if "drain" in steps or "ensure" in steps:
        first = planner.default_step(parent)
        for step in ([first] if first else []) + planner.create_steps(
                parent, ref, months_ahead, include_default_rows="drain" in steps):
            if dry_run or _run_step(conn, parent, step, run_id):
                yield step
        if not dry_run:
            parent.default = parent.default or _default_of(conn, parent)
    if "retention" in steps:
        for step in planner.retention_steps(parent, ref):
            if dry_run or _run_step(conn, parent, step, run_id):
                yield step


def _run_step(conn: psycopg.Connection, parent: Parent, step: Step, run_id: str) -> bool:
    with conn.transaction():
        if not still_needed(conn, parent, step):
            return False
        execute(conn, step)
        conn.execute(LOG_SQL, (run_id, parent.schema, parent.table,
                               "create" if step.action == "default" else step.action,
                               step.partition.split(".", 1)[1], step.rows_moved if step.action in ("create", "drain") else None,
                               round(step.duration_ms, 3), None))
    return True


def _default_of(conn: psycopg.Connection, parent: Parent) -> tuple[str, str] | None:
    row = conn.execute("SELECT d.relnamespace::regnamespace::text, d.relname FROM pg_catalog.pg_class AS d"
                       " WHERE d.oid = ops.default_partition(%s::oid::regclass)", (parent.oid,)).fetchone()
    return (row[0], row[1]) if row else None


def _describe(exc: psycopg.Error) -> str:
    text = dburl.error_line(exc)
    if isinstance(exc, psycopg.errors.LockNotAvailable):
        text = f"lock_timeout expired: {text}; the next run retries"
    return text


def _say(out: TextIO, as_json: bool, line: str, payload: dict[str, object]) -> int:
    if as_json:
        json.dump({"ok": True, "message": line, **payload}, out)
        out.write("\n")
    else:
        out.write(line + "\n")
    return 0


def _print_text(reports: list[TableReport], out: TextIO, seconds: float, show_steps: bool = True) -> None:
    changed = 0
    for report in reports:
        for step in report.steps:
            changed += 1
            moved = f", {step.rows_moved} rows moved from DEFAULT" if step.rows_moved else ""
            if show_steps:  # a dry run printed each step's SQL instead
                out.write(f"{ACTION_KEYS[step.action]:<8} {step.partition}{moved} ({step.duration_ms:.1f} ms)\n")
        if report.error:
            out.write(f"FAILED   {report.parent}: {report.error}\n")
    failed = sum(1 for r in reports if r.error)
    status = f"{failed} of {len(reports)} tables failed" if failed else "ok"
    out.write(f"{len(reports)} tables, {changed} changes, {seconds * 1000:.0f} ms: {status}\n")


LIST_SQL = """
SELECT p.parent_schema || '.' || p.parent_table, p.partition_schema || '.' || p.partition_name,
       p.is_default, ops.bound_literal(ops.control_type(p.parent), p.lower_bound),
       ops.bound_literal(ops.control_type(p.parent), p.upper_bound), p.row_estimate, p.total_bytes
FROM ops.partitions AS p
ORDER BY 1, p.is_default DESC, p.lower_bound
"""


def list_partitions(url: str, *, as_json: bool, out: TextIO = sys.stdout) -> int:
    with _open(url, "5s") as conn:
        parents = load_parents(conn)
        rows = conn.execute(LIST_SQL).fetchall()
    by_parent: dict[str, list[dict[str, object]]] = {p.name: [] for p in parents}
    for parent, part, is_default, lower, upper, est, size in rows:
        by_parent.setdefault(parent, []).append({
            "partition": part, "default": is_default,
            "lower": lower, "upper": upper,
            "row_estimate": est, "bytes": size,
        })
    if as_json:
        json.dump({"tables": [{"parent": p.name, "control_column": p.control_column, "premake": p.premake,
                    "retention": p.retention, "retention_mode": p.retention_mode, "exists": p.oid is not None,
                    "partitions": by_parent.get(p.name, [])} for p in parents]}, out)
        out.write("\n")
        return 0
    for p in parents:
        keep = f"keeps {p.retention}, then {p.retention_mode}" if p.retention else "keeps everything"
        out.write(f"{p.name} (by {p.control_column}, {p.premake} months ahead, {keep})\n")
        for part in by_parent.get(p.name, []):
            span = "DEFAULT" if part["default"] else f"[{part['lower']}, {part['upper']})"
            out.write(f"  {part['partition']:<48} {span:<52} ~{part['row_estimate']} rows\n")
    return 0
