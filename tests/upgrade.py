"""Earlier releases for upgrade tests: their runner and migration files, taken from git.

A database "migrated with an earlier release" is migrated by that release's own code
(its src/ on PYTHONPATH, so its bookkeeping lands where it used to, in public) with that
release's migration files, exactly as a user did it then. Tests then migrate it with the
current code and compare it with a fresh migration.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PREVIOUS_RELEASE = "526aab5"  # main when issue 12 was taken on
# The oldest runner whose bookkeeping layout every earlier commit shares (public._yoyo_*,
# public._schema_tool_checksums since 790def9): it migrates the older files too.
RUNNER_RELEASE = PREVIOUS_RELEASE

_cache: dict[str, Path] = {}
_base: Path | None = None


class Unavailable(Exception):
    """The earlier release cannot be had here (no git, or a shallow clone without it)."""


def tree(rev: str) -> Path:
    """src/ and migrations/ of a commit, extracted once per process."""
    global _base
    if rev in _cache:
        return _cache[rev]
    if shutil.which("git") is None:
        raise Unavailable("git is not installed")
    result = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", rev, "src", "migrations"],
                            capture_output=True)
    if result.returncode != 0:
        raise Unavailable(f"git cannot produce commit {rev} here: "
                          f"{result.stderr.decode(errors='replace').strip().splitlines()[-1:]}")
    if _base is None:
        _base = Path(tempfile.mkdtemp(prefix="schema-tool-releases-"))
        atexit.register(shutil.rmtree, _base, True)
    target = _base / rev
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        archive.extractall(target, filter="data")
    _cache[rev] = target
    return target


def systems_of(rev: str) -> list[str]:
    return sorted(p.name for p in (tree(rev) / "migrations").iterdir() if p.is_dir() and any(p.glob("*.sql")))


def migrate_with(rev: str, url: str, systems: list[str] | None = None, runner: str = RUNNER_RELEASE) -> str:
    """Migrate the database at `url` with the migration files of `rev`, by the runner of
    `runner` (a release's own code); returns its output. Systems the release lacks are skipped."""
    code = tree(runner)
    files = tree(rev) / "migrations"
    args = [sys.executable, "-m", "schema_tool", "--migrations-dir", str(files), "migrate", "--database-url", url]
    if systems:
        present = set(systems_of(rev))
        for system in systems:
            if system in present:
                args += ["--system", system]
    env = {**os.environ, "PYTHONPATH": str(code / "src")}
    env.pop("DATABASE_URL", None)
    result = subprocess.run(args, capture_output=True, text=True, env=env, cwd=str(code), timeout=600)
    if result.returncode != 0:
        raise RuntimeError(f"migrating with {rev}'s files (runner of {runner}) failed: {result.stderr.strip()}")
    return result.stdout


def schema_dump(url: str) -> str:
    """The whole database's schema (owners and privileges included), the migration
    bookkeeping aside: what a fresh migration and an upgraded one must share."""
    from schema_tool.dump import pg_dump_binary

    result = subprocess.run([pg_dump_binary(), "--schema-only", "--exclude-schema=schema_tool", "--dbname", url],
                            capture_output=True, text=True, check=True)
    return "\n".join(line for line in result.stdout.splitlines()
                     if not line.startswith(("\\restrict", "\\unrestrict")))


DATABASE_STATE_SQL = """
SELECT 'setting', r.rolname, array_to_string(s.setconfig, ';')
FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole
WHERE s.setdatabase = (SELECT oid FROM pg_database WHERE datname = current_database())
UNION ALL
SELECT 'grant', a.grantee::regrole::text, a.privilege_type
FROM pg_database d, aclexplode(d.datacl) a
WHERE d.datname = current_database() AND a.grantee <> 0 AND a.grantee <> d.datdba
ORDER BY 1, 2, 3
"""


def database_state(url: str) -> list[tuple]:
    """Per-database state outside any schema: roles' settings here, grants on the database."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(DATABASE_STATE_SQL).fetchall()
