"""The manifest of released migrations (migrations/manifest.toml) and its command.

A migration on main is released: databases have applied it, so its files must not
change. The manifest records the SHA-256 of each released file (apply and rollback); a
test fails when a file no longer matches, or when a migration is missing from it.

The one sanctioned exception is a *correction* of a released file, which the manifest
records as an earlier revision beside the current one:
- `equivalent` (no catch_up): on every database where the earlier text applied, the
  current text creates the same objects (e.g. it finds an extension's schema in the
  catalog instead of assuming `public`, or takes its locks in another order). The reason
  says why. A database that applied the earlier text is accepted as it is;
- with a `catch_up` file: the earlier text left objects that differ (a function body that
  was fixed in place before the rule existed). The catch-up brings them to the current
  text; the runner applies it, once, before anything else, and records that it did.

    python -m schema_tool.manifest add          # record every migration not yet listed
    python -m schema_tool.manifest check        # exit 1 if a released file changed
    python -m schema_tool.manifest correct ID --reason "..." [--commit REV] [--catch-up PATH]
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from schema_tool import paths, sources
from schema_tool.errors import ToolError

FILE = "manifest.toml"

HEADER = """\
# Released migrations and the SHA-256 of their files (apply, rollback). A test fails when
# a released file changes: fix a released migration with a new one. Add new migrations
# with `python -m schema_tool.manifest add`. Corrections of a released file that create
# the same objects (or come with a catch-up) are recorded as [[<id>.earlier]] revisions
# with `python -m schema_tool.manifest correct`: see docs/conventions.md.
"""


@dataclass(frozen=True)
class Revision:
    """One text of a migration: its checksums and, for an earlier one, why it is accepted."""

    apply: str
    rollback: str | None
    commit: str | None = None
    reason: str | None = None
    catch_up: str | None = None  # path under migrations/, for a revision that needs one

    def describe(self) -> str:
        where = f"of {self.commit}" if self.commit else f"{self.apply[:12]}"
        return f"earlier text {where}"


@dataclass
class Released:
    current: Revision
    earlier: list[Revision] = field(default_factory=list)

    def match(self, recorded: sources.Checksum) -> Revision | None:
        """The revision a database recorded applying, if it is this migration's current or
        a listed earlier text (its rollback file also one of the listed texts)."""
        rollbacks = {self.current.rollback} | {e.rollback for e in self.earlier}
        if recorded.rollback not in rollbacks:
            return None
        return self.by_apply(recorded.apply)

    def by_apply(self, apply: str) -> Revision | None:
        for revision in (self.current, *self.earlier):
            if revision.apply == apply:
                return revision
        return None


def path(root: Path) -> Path:
    return root / FILE


def load(root: Path) -> dict[str, Released]:
    """The manifest of a migrations folder ({} when it has none)."""
    file = path(root)
    if not file.exists():
        return {}
    try:
        data = tomllib.loads(file.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ToolError(f"bad {file}: {exc}") from None
    out: dict[str, Released] = {}
    for mid, entry in data.items():
        earlier = [Revision(e["apply"], e.get("rollback"), e.get("commit"), e.get("reason"), e.get("catch_up"))
                   for e in entry.get("earlier", [])]
        out[mid] = Released(Revision(entry["apply"], entry.get("rollback")), earlier)
    return out


def _string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a valid TOML basic string


def render(entries: dict[str, Released]) -> str:
    lines = [HEADER]
    for mid in sorted(entries):
        entry = entries[mid]
        lines.append(f"[{mid}]")
        lines.append(f"apply = {_string(entry.current.apply)}")
        if entry.current.rollback is not None:
            lines.append(f"rollback = {_string(entry.current.rollback)}")
        for rev in entry.earlier:
            lines.append("")
            lines.append(f"[[{mid}.earlier]]")
            for key in ("commit", "apply", "rollback", "reason", "catch_up"):
                value = getattr(rev, key)
                if value is not None:
                    lines.append(f"{key} = {_string(value)}")
        lines.append("")
    return "\n".join(lines)


def save(root: Path, entries: dict[str, Released]) -> None:
    path(root).write_text(render(entries))


def on_disk(root: Path) -> dict[str, sources.Checksum]:
    """Every migration in the folder with the checksums of its files."""
    return {m.id: sources.checksum(m) for m in sources.load(sources.available_systems(root))}


def problems(root: Path) -> list[str]:
    """Released files that changed or vanished, catch-ups that are missing, and
    migrations not yet in the manifest."""
    released = load(root)
    files = on_disk(root)
    found: list[str] = []
    for mid, entry in sorted(released.items()):
        digest = files.get(mid)
        if digest is None:
            found.append(f"{mid}: released, but its file is gone")
            continue
        if digest.apply != entry.current.apply:
            found.append(f"{mid}: released, but {mid}.sql changed (fix it with a new migration)")
        if digest.rollback != entry.current.rollback:
            found.append(f"{mid}: released, but {mid}.rollback.sql changed (fix it with a new migration)")
        for rev in entry.earlier:
            if rev.catch_up and not (root / rev.catch_up).exists():
                found.append(f"{mid}: catch-up {rev.catch_up} of its {rev.describe()} is missing")
            if not rev.reason:
                found.append(f"{mid}: its {rev.describe()} is accepted without a reason")
    for mid in sorted(set(files) - set(released)):
        found.append(f"{mid}: not in {FILE} (run `python -m schema_tool.manifest add`)")
    return found


def add(root: Path) -> list[str]:
    """Record every migration not yet in the manifest; never touches a listed one."""
    released = load(root)
    added = []
    for mid, digest in sorted(on_disk(root).items()):
        if mid not in released:
            released[mid] = Released(Revision(digest.apply, digest.rollback))
            added.append(mid)
    if added or not path(root).exists():
        save(root, released)
    return added


def correct(root: Path, mid: str, reason: str, commit: str | None, catch_up: str | None) -> None:
    """Record the file's new text as current; its old one becomes an accepted earlier revision."""
    released = load(root)
    if mid not in released:
        raise ToolError(f"{mid} is not released (not in {FILE}): just edit it")
    digest = on_disk(root).get(mid)
    if digest is None:
        raise ToolError(f"{mid}: no such migration file")
    entry = released[mid]
    if digest == sources.Checksum(entry.current.apply, entry.current.rollback):
        raise ToolError(f"{mid}: its files are unchanged; nothing to correct")
    if catch_up and not (root / catch_up).exists():
        raise ToolError(f"catch-up file {root / catch_up} does not exist")
    old = entry.current
    entry.earlier.append(Revision(old.apply, old.rollback, commit, reason, catch_up))
    entry.current = Revision(digest.apply, digest.rollback)
    save(root, released)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m schema_tool.manifest",
                                     description="The manifest of released migrations.")
    parser.add_argument("--migrations-dir", type=Path, default=None, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="action", required=True)
    sub.add_parser("add", help="record every migration not yet in the manifest")
    sub.add_parser("check", help="exit 1 when a released file changed or a migration is unlisted")
    fix = sub.add_parser("correct", help="accept a corrected released file (see docs/conventions.md)")
    fix.add_argument("id")
    fix.add_argument("--reason", required=True, help="why the earlier text is equivalent, or what the catch-up brings")
    fix.add_argument("--commit", help="the commit that last held the earlier text")
    fix.add_argument("--catch-up", help="path under migrations/ of the catch-up for the earlier text")
    args = parser.parse_args(argv)
    root = (args.migrations_dir or paths.migrations_dir()).resolve()
    try:
        if args.action == "add":
            added = add(root)
            print("\n".join(f"added {mid}" for mid in added) or "nothing to add")
        elif args.action == "check":
            found = problems(root)
            print("\n".join(found) or f"{FILE} matches the migration files")
            return 1 if found else 0
        else:
            correct(root, args.id, args.reason, args.commit, args.catch_up)
            print(f"recorded {args.id}'s new text; its earlier text stays accepted")
    except ToolError as exc:
        print(f"schema-tool manifest: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
