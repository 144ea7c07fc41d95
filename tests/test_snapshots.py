"""sql/<schema>.sql is what the migrations produce, and all SQL is lint-clean."""

from __future__ import annotations

import difflib
import subprocess
import sys
from pathlib import Path


from pg import TestDB
from schema_tool import dump, paths


def test_snapshots_match_a_fresh_migration(db: TestDB, migrated_systems: list[str]) -> None:
    problems = []
    for system in migrated_systems:
        committed_path = paths.snapshots_dir() / f"{system}.sql"
        fresh = dump.snapshot(db.url, system)
        committed = committed_path.read_text() if committed_path.exists() else ""
        if fresh != committed:
            diff = "".join(difflib.unified_diff(
                committed.splitlines(keepends=True), fresh.splitlines(keepends=True),
                f"committed sql/{system}.sql", "fresh migration", n=2,
            ))
            problems.append(f"sql/{system}.sql is stale (run `schema-tool dump --system {system}`):\n{diff[:6000]}")
    assert not problems, "\n".join(problems)


def test_sqlfluff_lint_is_clean() -> None:
    root = paths.project_root()
    targets = [str(root / d) for d in ("migrations", "sql", "templates") if any((root / d).rglob("*.sql*"))]
    sqlfluff = Path(sys.executable).parent / "sqlfluff"
    result = subprocess.run(
        [str(sqlfluff), "lint", "--processes", "2", "--disable-progress-bar", "--nocolor",
         *targets],
        capture_output=True, text=True, cwd=root, timeout=600,
    )
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]


def test_normalise_is_independent_of_the_server_minor_version() -> None:
    dumped = "\n".join([
        "\\restrict abc123",
        "SET statement_timeout = 0;",
        "--",
        "-- Name: f(); Type: FUNCTION; Schema: x; Owner: -",
        "--",
        "CREATE FUNCTION x.f() RETURNS void",
        "    LANGUAGE sql",
        "    BEGIN ATOMIC",
        "     UPDATE x.t AS k SET n = 1",
        "  END;",
        "CREATE FUNCTION x.g() RETURNS void",
        "    LANGUAGE plpgsql",
        "    AS $$ BEGIN",
        "    UPDATE x.t AS k SET n = 2;",
        "END $$;",
        "ALTER TABLE ONLY x.p ATTACH PARTITION x.p_default DEFAULT;",
        "\\unrestrict abc123",
    ])
    text = dump.normalise(dumped, "x")
    assert "UPDATE x.t k SET n = 1" in text  # the server's deparse: 15.18 and 15.20 agree
    assert "UPDATE x.t AS k SET n = 2;" in text  # source as written
    assert "restrict" not in text and "SET statement_timeout" not in text and "Owner" not in text
    assert "ATTACH PARTITION x.p_default DEFAULT;  -- noqa: PRS" in text
