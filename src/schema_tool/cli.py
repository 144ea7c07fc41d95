"""The schema-tool command line: parse and check the arguments, dispatch, and turn
expected failures into one line on stderr and an exit code (0 ok, 1 failed, 2 bad usage).

Only the standard library is imported here, so `--help`, `--version` and usage errors
answer at once; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path

from schema_tool import __version__, partitions
from schema_tool.errors import ToolError, UsageError

DESCRIPTION = """\
Builds and keeps the PostgreSQL schemas of this package: applies and rolls back its SQL
migrations, creates monthly partitions ahead and drops old ones, and writes the schema
contract (sql/<system>.sql, docs/schema/<system>.md) from a freshly migrated database.

Which database: --database-url, else $DATABASE_URL, else the local PostgreSQL that
`schema-tool up` started (the command says so on stderr)."""

EPILOG = """\
Start with `schema-tool up` (a local PostgreSQL, migrated and maintained).
`schema-tool COMMAND --help` shows a command's options.
Exit codes: 0 success, 1 an operation or check failed, 2 bad usage."""

DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


class _Formatter(argparse.HelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


class _TopFormatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=20)


# -- argument types: bad values are usage errors, found before any database is asked --------

def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not 1 or more")
    return value


def _months_ahead(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    try:
        return partitions.check_months_ahead(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not 0 or more seconds")
    return value


def _date(text: str) -> str:
    try:
        partitions.parse_reference_date(text)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def _duration(text: str) -> str:
    value = text.strip()
    if not DURATION.match(value):
        raise argparse.ArgumentTypeError(f"{text!r}: use a PostgreSQL duration such as 5s or 500ms")
    return value


# -- shared options ----------------------------------------------------------------------

def _db(p: argparse.ArgumentParser, what: str = "the database") -> None:
    p.add_argument("--database-url", metavar="URL",
                   help=f"{what}, as a libpq URL (postgresql://...); default: $DATABASE_URL, "
                        "else the local PostgreSQL of `schema-tool up`")


def _json(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON object on one line (JSON Lines)")


def _lock_timeout(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lock-timeout", type=_duration, metavar="DURATION",
                   default=os.environ.get("SCHEMA_TOOL_LOCK_TIMEOUT", "5s"),
                   help="give up on a lock after this long (default 5s, or $SCHEMA_TOOL_LOCK_TIMEOUT)")


def _lock_wait(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lock-wait", type=_seconds, default=60.0, metavar="SECONDS",
                   help="how long to wait for another migration run (default 60)")


def _reference_date(p: argparse.ArgumentParser) -> None:
    p.add_argument("--reference-date", type=_date, metavar="YYYY-MM-DD",
                   help="plan as if today were this date (UTC)")


def _dry_run(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--dry-run", action="store_true", help=what)


def _sub(sub, name: str, help_text: str, description: str | None = None) -> argparse.ArgumentParser:
    return sub.add_parser(name, help=help_text, description=description or help_text[0].upper() + help_text[1:] + ".",
                          formatter_class=_Formatter)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="schema-tool", description=DESCRIPTION, epilog=EPILOG, formatter_class=_TopFormatter)
    parser.add_argument("--version", action="version", version=f"schema-tool {__version__}")
    parser.add_argument("--migrations-dir", type=Path, metavar="DIR",
                        help=argparse.SUPPRESS)  # tests and forks: another migrations/ folder
    sub = parser.add_subparsers(dest="command", metavar="COMMAND [options]", title="commands", parser_class=_Parser)

    p = _sub(sub, "migrate", "apply pending migrations",
             "Apply pending migrations, ops first; --system brings the systems it depends on. "
             "Each migration and its bookkeeping commit in one transaction.")
    _db(p)
    p.add_argument("--system", action="append", metavar="NAME", help="only this system (repeatable)")
    _dry_run(p, "print the SQL that would run, change nothing")
    p.add_argument("--allow-drift", action="store_true",
                   help="accept applied migrations whose files were edited since")
    _lock_wait(p)
    _lock_timeout(p)

    p = _sub(sub, "rollback", "roll back applied migrations (the last one by default)",
             "Roll back the last applied migration (or --count N, or --all), refusing to orphan "
             "a migration that depends on it.")
    _db(p)
    p.add_argument("--system", metavar="NAME", help="only this system's migrations")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--count", type=_positive_int, default=1, metavar="N", help="how many (default 1)")
    group.add_argument("--all", action="store_true", help="every applied migration (of --system)")
    _dry_run(p, "print the rollback SQL and its file, change nothing")
    _lock_wait(p)
    _lock_timeout(p)

    p = _sub(sub, "status", "applied, pending and edited migrations",
             "Applied, pending, edited (checksum changed) and unknown migrations; exit 1 when "
             "applied files were edited or are missing.")
    _db(p)
    _json(p)

    p = _sub(sub, "partitions", "create or list monthly partitions (ensure, list)")
    psub = p.add_subparsers(dest="action", metavar="ACTION [options]", title="actions", parser_class=_Parser)
    q = _sub(psub, "ensure", "create the partitions each registered table needs",
             "Create each registered table's DEFAULT partition and its months from the current "
             "one to its premake (or --months-ahead) ahead.")
    _db(q)
    q.add_argument("--months-ahead", type=_months_ahead, metavar="N",
                   help=f"override each table's premake (0 to {partitions.MONTHS_AHEAD_MAX})")
    _dry_run(q, "print the DDL, change nothing")
    _json(q)
    _reference_date(q)
    _lock_timeout(q)
    q = _sub(psub, "list", "registered tables and their partitions")
    _db(q)
    _json(q)

    p = _sub(sub, "retention", "drop or detach partitions past their retention (run)")
    rsub = p.add_subparsers(dest="action", metavar="ACTION [options]", title="actions", parser_class=_Parser)
    q = _sub(rsub, "run", "drop (or detach) partitions wholly older than their table's retention")
    _db(q)
    _dry_run(q, "print the DDL, change nothing")
    _json(q)
    _reference_date(q)
    _lock_timeout(q)

    p = _sub(sub, "maintain", "move rows out of DEFAULT partitions, create partitions, apply retention",
             "All partition maintenance under one run lock: rows that landed in DEFAULT partitions "
             "go to their months, partitions are created ahead, retention is applied. A second run "
             "at the same time exits 0 (or waits with --wait). For cron.")
    _db(p)
    _json(p)
    p.add_argument("--wait", action="store_true", help="wait for a running maintenance instead of exiting")
    _dry_run(p, "print the DDL, change nothing")
    _reference_date(p)
    _lock_timeout(p)

    p = _sub(sub, "dump", "regenerate sql/<system>.sql from a freshly migrated database",
             "Regenerate sql/<system>.sql (the contract) from a scratch database, migrated from "
             "nothing on the given server and dropped afterwards.")
    _db(p, "a server where a scratch database may be created")
    p.add_argument("--system", action="append", metavar="NAME", help="only this system (repeatable)")
    p.add_argument("--output-dir", type=Path, metavar="DIR", help="default: sql/ of the project")

    p = _sub(sub, "docs", "regenerate docs/schema/<system>.md from a freshly migrated database",
             "Write docs/schema/<system>.md (tables, columns, keys, indexes, partitions, policies, "
             "grants, triggers, functions, an ER diagram) from a scratch database, migrated from "
             "nothing on the given server and dropped afterwards.")
    _db(p, "a server where a scratch database may be created")
    p.add_argument("--system", action="append", metavar="NAME", help="only this system (repeatable)")
    p.add_argument("--output-dir", type=Path, metavar="DIR", help="default: docs/schema/ of the project")

    p = _sub(sub, "up", "start (or reuse) a local PostgreSQL, migrate, maintain, print its URL",
             "Start (or reuse) a local PostgreSQL under .schema-tool/ ($SCHEMA_TOOL_STATE_DIR), "
             "migrate it, run maintenance and print its URL. With --database-url or $DATABASE_URL: "
             "migrate and maintain that database instead.")
    p.add_argument("--database-url", metavar="URL",
                   help="migrate and maintain this database instead (default: $DATABASE_URL)")
    p = _sub(sub, "down", "stop the local PostgreSQL started by up",
             "Stop the local PostgreSQL started by `schema-tool up`. Takes no database URL.")
    p.add_argument("--purge", action="store_true", help="also delete its files (every database in it)")
    return parser


def _subcommands(parser: argparse.ArgumentParser) -> argparse._SubParsersAction:
    return next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))


def _overview(parser: argparse.ArgumentParser, command: str | None = None) -> str:
    """What `schema-tool` (or `schema-tool partitions`) alone prints: the choices and a hint."""
    target = _subcommands(parser).choices[command] if command else parser
    word = "ACTION" if command else "COMMAND"
    choices = _subcommands(target)._choices_actions
    width = max(len(c.dest) for c in choices)
    lines = [f"usage: {target.prog} {word} [options]", ""]
    lines += [f"  {c.dest:<{width}}  {c.help}" for c in choices]
    lines += ["", f"`{target.prog} {word} --help` shows its options"
              + ("." if command else "; new here? start with `schema-tool up`.")]
    return "\n".join(lines) + "\n"


def _check_systems(args: argparse.Namespace) -> None:
    """--system names a folder of migrations/ (checked before any database is asked)."""
    names = args.system if isinstance(getattr(args, "system", None), list) else (
        [args.system] if getattr(args, "system", None) else [])
    if not names:
        return
    from schema_tool import paths

    known = paths.available_systems(args.migrations_dir or paths.migrations_dir())
    unknown = [n for n in names if n not in known]
    if unknown:
        raise UsageError(f"unknown system {', '.join(repr(n) for n in unknown)} (known: {', '.join(known)})")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None or (args.command in ("partitions", "retention") and args.action is None):
        sys.stderr.write(_overview(parser, args.command))
        return 2
    try:
        _check_systems(args)
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
    except BrokenPipeError:  # `schema-tool ... | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
