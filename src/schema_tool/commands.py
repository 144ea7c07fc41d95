"""One function per CLI command; each returns the exit code. The arguments were checked
by the parser already; here the database is found and the work is handed to its module."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from schema_tool import paths
from schema_tool.errors import UsageError

NO_DATABASE = ("no database given: pass --database-url, set DATABASE_URL, "
               "or start a local PostgreSQL with `schema-tool up`")


def dispatch(args: argparse.Namespace) -> int:
    handler = {
        "migrate": cmd_migrate,
        "rollback": cmd_rollback,
        "status": cmd_status,
        "partitions": cmd_partitions,
        "retention": cmd_retention,
        "maintain": cmd_maintain,
        "dump": cmd_dump,
        "docs": cmd_docs,
        "up": cmd_up,
        "down": cmd_down,
    }[args.command]
    return handler(args)


def database_url(args: argparse.Namespace, local_dbname: str | None = None) -> str:
    """--database-url, else DATABASE_URL, else the running local cluster of `up` (said on
    stderr, so that --json output stays clean); none of them is a usage error."""
    from schema_tool import dburl  # psycopg: only for commands that reach a database

    url = dburl.resolve(args.database_url, required=False)
    if url is not None:
        return url
    from schema_tool import local

    url = local.running_url(local_dbname or local.DATABASE)
    if url is None:
        raise UsageError(NO_DATABASE)
    print(f"schema-tool: no --database-url or DATABASE_URL given: using the local PostgreSQL "
          f"of `schema-tool up`, {url}", file=sys.stderr, flush=True)
    return url


def _root(args: argparse.Namespace) -> Path:
    return (args.migrations_dir or paths.migrations_dir()).resolve()


def _runner(args: argparse.Namespace, url: str):
    from schema_tool.migrate import Runner

    return Runner(url, _root(args), lock_timeout=args.lock_timeout, lock_wait=args.lock_wait)


def cmd_migrate(args: argparse.Namespace) -> int:
    _runner(args, database_url(args)).migrate(args.system, dry_run=args.dry_run, allow_drift=args.allow_drift)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    count = None if args.all else args.count
    _runner(args, database_url(args)).rollback(args.system, count=count, dry_run=args.dry_run)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from schema_tool.migrate import Runner, print_status

    entries = Runner(database_url(args), _root(args)).status()
    drifted = any(e.state in ("edited", "unknown") for e in entries)
    if args.json:
        counts: dict[str, int] = {}
        for e in entries:
            counts[e.state] = counts.get(e.state, 0) + 1
        emit_json({"ok": not drifted, "counts": counts, "migrations": [e.as_dict() for e in entries]})
    else:
        print_status(entries, sys.stdout, False)
    return 1 if drifted else 0


def cmd_partitions(args: argparse.Namespace) -> int:
    url = database_url(args)
    from schema_tool import maintain

    if args.action == "list":
        return maintain.list_partitions(url, as_json=args.json)
    return maintain.run(url, steps=("ensure",), dry_run=args.dry_run, as_json=args.json,
                        reference=args.reference_date, lock_timeout=args.lock_timeout,
                        months_ahead=args.months_ahead)


def cmd_retention(args: argparse.Namespace) -> int:
    url = database_url(args)
    from schema_tool import maintain

    return maintain.run(url, steps=("retention",), dry_run=args.dry_run, as_json=args.json,
                        reference=args.reference_date, lock_timeout=args.lock_timeout)


def cmd_maintain(args: argparse.Namespace) -> int:
    url = database_url(args)
    from schema_tool import maintain

    return maintain.run(url, steps=("drain", "ensure", "retention"), dry_run=args.dry_run,
                        as_json=args.json, reference=args.reference_date,
                        lock_timeout=args.lock_timeout, wait=args.wait)


def cmd_dump(args: argparse.Namespace) -> int:
    from schema_tool import dump

    url = database_url(args, "postgres")
    written = dump.regenerate(url, _root(args), args.system, args.output_dir or paths.snapshots_dir())
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_docs(args: argparse.Namespace) -> int:
    from schema_tool import docs

    url = database_url(args, "postgres")
    written = docs.regenerate(url, _root(args), args.system, args.output_dir or paths.docs_dir())
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from schema_tool import dburl, local

    return local.up(dburl.resolve(args.database_url, required=False), _root(args))


def cmd_down(args: argparse.Namespace) -> int:
    from schema_tool import local

    return local.down(purge=args.purge)


def emit_json(payload: dict[str, object], out=None) -> None:
    """One JSON object on one line (JSON Lines: cron appends runs to one .jsonl file)."""
    out = out or sys.stdout
    out.write(json.dumps(payload, default=str) + "\n")
    out.flush()
