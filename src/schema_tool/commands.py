"""One function per CLI command; each returns the exit code."""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from schema_tool import dburl, paths
from schema_tool.errors import UsageError

DURATION = re.compile(r"^\d+(\.\d+)?\s*(us|ms|s|min|h|d)?$")


def dispatch(args: argparse.Namespace) -> int:
    handler = {
        "migrate": cmd_migrate,
        "rollback": cmd_rollback,
        "status": cmd_status,
        "partitions": cmd_partitions,
        "retention": cmd_retention,
        "maintain": cmd_maintain,
        "dump": cmd_dump,
        "up": cmd_up,
        "down": cmd_down,
    }[args.command]
    return handler(args)


def _root(args: argparse.Namespace) -> Path:
    return (args.migrations_dir or paths.migrations_dir()).resolve()


def _lock_timeout(args: argparse.Namespace) -> str:
    value = args.lock_timeout.strip()
    if not DURATION.match(value):
        raise UsageError(f"bad --lock-timeout {value!r}: use a PostgreSQL duration such as 5s or 500ms")
    return value


def _runner(args: argparse.Namespace, url: str):
    from schema_tool.migrate import Runner

    return Runner(url, _root(args), lock_timeout=_lock_timeout(args),
                  lock_wait=getattr(args, "lock_wait", 60.0))


def cmd_migrate(args: argparse.Namespace) -> int:
    url = dburl.resolve(args.database_url)
    _runner(args, url).migrate(args.system, dry_run=args.dry_run, allow_drift=args.allow_drift)
    return 0


def cmd_rollback(args: argparse.Namespace) -> int:
    url = dburl.resolve(args.database_url)
    count = None if args.all else args.count
    _runner(args, url).rollback(args.system, count=count, dry_run=args.dry_run)
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    from schema_tool.migrate import Runner, print_status

    url = dburl.resolve(args.database_url)
    entries = Runner(url, _root(args)).status()
    print_status(entries, sys.stdout, args.json)
    return 1 if any(e.state in ("edited", "unknown") for e in entries) else 0


def cmd_partitions(args: argparse.Namespace) -> int:
    from schema_tool import maintain

    url = dburl.resolve(args.database_url)
    if args.action == "list":
        return maintain.list_partitions(url, as_json=args.json)
    return maintain.run(url, steps=("ensure",), dry_run=args.dry_run, as_json=args.json,
                        reference=args.reference_date, lock_timeout=_lock_timeout(args),
                        months_ahead=args.months_ahead)


def cmd_retention(args: argparse.Namespace) -> int:
    from schema_tool import maintain

    url = dburl.resolve(args.database_url)
    return maintain.run(url, steps=("retention",), dry_run=args.dry_run, as_json=args.json,
                        reference=args.reference_date, lock_timeout=_lock_timeout(args))


def cmd_maintain(args: argparse.Namespace) -> int:
    from schema_tool import maintain

    url = dburl.resolve(args.database_url)
    return maintain.run(url, steps=("drain", "ensure", "retention"), dry_run=args.dry_run,
                        as_json=args.json, reference=args.reference_date,
                        lock_timeout=_lock_timeout(args), wait=args.wait)


def cmd_dump(args: argparse.Namespace) -> int:
    from schema_tool import dump, local

    url = dburl.resolve(args.database_url, required=False) or local.running_url("postgres")
    written = dump.regenerate(url, _root(args), args.system, args.output_dir or paths.snapshots_dir())
    for path in written:
        print(f"wrote {path}")
    return 0


def cmd_up(args: argparse.Namespace) -> int:
    from schema_tool import local

    return local.up(dburl.resolve(args.database_url, required=False), _root(args))


def cmd_down(args: argparse.Namespace) -> int:
    from schema_tool import local

    return local.down()
