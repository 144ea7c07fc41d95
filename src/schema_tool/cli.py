"""The schema-tool command line: parse, dispatch, turn expected failures into one line."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from schema_tool import __version__
from schema_tool.errors import ToolError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message}\n")


def _db(p: argparse.ArgumentParser) -> None:
    p.add_argument("--database-url", metavar="URL",
                   help="libpq URL (postgresql://...); default: $DATABASE_URL")


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="machine-readable output")


def _lock_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lock-timeout", default=os.environ.get("SCHEMA_TOOL_LOCK_TIMEOUT", "5s"),
                   metavar="DURATION", help="lock_timeout for DDL (default 5s)")


def _reference_date(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reference-date", metavar="YYYY-MM-DD",
                   help="plan as if today were this date (UTC)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="schema-tool", description=__doc__)
    parser.add_argument("--version", action="version", version=f"schema-tool {__version__}")
    parser.add_argument("--migrations-dir", type=Path, metavar="DIR",
                        help=argparse.SUPPRESS)  # tests and forks: another migrations/ folder
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    p = sub.add_parser("migrate", help="apply pending migrations")
    _db(p)
    p.add_argument("--system", action="append", metavar="NAME", help="only this system (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="print the SQL that would run")
    p.add_argument("--allow-drift", action="store_true",
                   help="accept applied migrations whose files were edited since")
    p.add_argument("--lock-wait", type=float, default=60.0, metavar="SECONDS",
                   help="how long to wait for another migration run (default 60)")
    _lock_timeout(p)

    p = sub.add_parser("rollback", help="roll back applied migrations (the last one by default)")
    _db(p)
    p.add_argument("--system", metavar="NAME", help="only this system's migrations")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--count", type=int, default=1, metavar="N", help="how many (default 1)")
    group.add_argument("--all", action="store_true", help="every applied migration (of --system)")
    p.add_argument("--dry-run", action="store_true", help="print the SQL that would run")
    p.add_argument("--lock-wait", type=float, default=60.0, metavar="SECONDS")
    _lock_timeout(p)

    p = sub.add_parser("status", help="applied, pending and edited migrations")
    _db(p)
    _json(p)

    p = sub.add_parser("partitions", help="monthly partitions")
    psub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    q = psub.add_parser("ensure", help="create the partitions each registered table needs")
    _db(q)
    q.add_argument("--months-ahead", type=int, metavar="N", help="override each table's premake")
    q.add_argument("--dry-run", action="store_true", help="print the DDL, change nothing")
    _json(q)
    _reference_date(q)
    _lock_timeout(q)
    q = psub.add_parser("list", help="registered tables and their partitions")
    _db(q)
    _json(q)

    p = sub.add_parser("retention", help="drop or detach partitions past retention")
    rsub = p.add_subparsers(dest="action", required=True, parser_class=_Parser)
    q = rsub.add_parser("run", help="apply retention")
    _db(q)
    q.add_argument("--dry-run", action="store_true", help="print the DDL, change nothing")
    _json(q)
    _reference_date(q)
    _lock_timeout(q)

    p = sub.add_parser("maintain", help="drain default partitions, ensure partitions, retention")
    _db(p)
    _json(p)
    p.add_argument("--wait", action="store_true", help="wait for a running maintenance instead of exiting")
    p.add_argument("--dry-run", action="store_true", help="print the DDL, change nothing")
    _reference_date(p)
    _lock_timeout(p)

    p = sub.add_parser("dump", help="regenerate sql/<system>.sql from a freshly migrated database")
    _db(p)
    p.add_argument("--system", action="append", metavar="NAME", help="only this system (repeatable)")
    p.add_argument("--output-dir", type=Path, metavar="DIR", help="default: sql/ of the project")

    p = sub.add_parser("up", help="start (or reuse) a local PostgreSQL, migrate, maintain, print the URL")
    _db(p)
    p = sub.add_parser("down", help="stop the local PostgreSQL started by up")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        from schema_tool import commands

        return commands.dispatch(args)
    except UsageError as exc:
        print(f"schema-tool: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ToolError as exc:
        print(f"schema-tool: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("schema-tool: interrupted", file=sys.stderr)
        return 130
