"""sql/<schema>.sql is what the migrations produce, and all SQL is lint-clean."""

from __future__ import annotations

import difflib

import pytest

from lint_ahead import Lint
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


def test_sqlfluff_lint_is_clean(request: pytest.FixtureRequest) -> None:
    """sqlfluff on migrations, sql/ and templates (started in the background at collection)."""
    lint = getattr(request.config, "_st_lint", None) or Lint(processes=2)
    code, output = lint.result()
    assert code == 0, output


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
