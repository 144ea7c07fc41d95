"""The manifest of released migrations: its command, and how the runner treats a database
that applied an earlier text of a corrected released file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import migdirs
from pg import ROOT, TestDB, run_cli


def _manifest(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "schema_tool.manifest", "--migrations-dir", str(root), *args],
                          capture_output=True, text=True, cwd=str(ROOT))


def _status(db: TestDB, root: Path) -> dict[str, dict]:
    result = run_cli("--migrations-dir", str(root), "status", "--json", url=db.url)
    assert result.returncode == 0, result.stdout + result.stderr
    return {e["id"]: e for e in json.loads(result.stdout)["migrations"]}


FUNCTION = "CREATE FUNCTION public.zeta_answer() RETURNS integer LANGUAGE sql RETURN {};"


def _released(tmp_path: Path, answer: int = 1) -> tuple[Path, Path]:
    root = migdirs.make(tmp_path)
    migdirs.add(root, "zeta", "zeta_0001_schema", FUNCTION.format(answer),
                "DROP FUNCTION public.zeta_answer();", depends="ops_0001_foundation")
    assert _manifest(root, "add").returncode == 0
    return root, root / "zeta" / "zeta_0001_schema.sql"


def test_the_command_adds_new_migrations_and_catches_a_changed_released_file(tmp_path: Path) -> None:
    root, path = _released(tmp_path)
    assert _manifest(root, "check").returncode == 0
    again = _manifest(root, "add")
    assert again.returncode == 0 and again.stdout.strip() == "nothing to add"
    path.write_text(path.read_text() + "-- edited\n")
    migdirs.add(root, "zeta", "zeta_0002_more", "SELECT 1;")
    check = _manifest(root, "check")
    assert check.returncode == 1
    assert "zeta_0001_schema: released, but zeta_0001_schema.sql changed" in check.stdout
    assert "zeta_0002_more: not in manifest.toml" in check.stdout
    no_reason = _manifest(root, "correct", "zeta_0001_schema")
    assert no_reason.returncode == 2
    fixed = _manifest(root, "correct", "zeta_0001_schema", "--reason", "a comment only", "--commit", "abc1234")
    assert fixed.returncode == 0, fixed.stderr
    assert _manifest(root, "add").stdout.strip() == "added zeta_0002_more"
    assert _manifest(root, "check").returncode == 0


def test_an_equivalent_earlier_text_is_accepted_and_reported(empty_db: TestDB, tmp_path: Path) -> None:
    root, path = _released(tmp_path)
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    path.write_text(path.read_text().replace("-- test migration", "-- the test migration"))
    assert _manifest(root, "correct", "zeta_0001_schema", "--reason", "a comment only",
                     "--commit", "abc1234").returncode == 0
    entry = _status(empty_db, root)["zeta_0001_schema"]
    assert (entry["state"], entry["revision"], entry["catch_up"]) == ("applied", "earlier", None)
    assert entry["note"] == "earlier text of abc1234, accepted as equivalent: a comment only"
    result = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert "nothing to apply" in result.stdout


def test_a_catch_up_brings_an_earlier_text_to_the_current_one_once(empty_db: TestDB, tmp_path: Path) -> None:
    root, path = _released(tmp_path, answer=1)
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    path.write_text(path.read_text().replace("RETURN 1", "RETURN 2"))
    (root / "zeta" / "catch_up").mkdir()
    (root / "zeta" / "catch_up" / "zeta_0001_schema.sql").write_text(
        "-- catch-up\n\nCREATE OR REPLACE FUNCTION public.zeta_answer() RETURNS integer LANGUAGE sql RETURN 2;\n")
    assert _manifest(root, "correct", "zeta_0001_schema", "--reason", "the answer was wrong", "--commit",
                     "abc1234", "--catch-up", "zeta/catch_up/zeta_0001_schema.sql").returncode == 0
    assert _status(empty_db, root)["zeta_0001_schema"]["catch_up"] == "pending"
    assert empty_db.scalar("SELECT public.zeta_answer()") == 1

    result = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    assert "catching up zeta_0001_schema from its earlier text of abc1234 ... " in result.stdout
    assert empty_db.scalar("SELECT public.zeta_answer()") == 2
    entry = _status(empty_db, root)["zeta_0001_schema"]
    assert (entry["state"], entry["revision"], entry["catch_up"]) == ("applied", "current", "done")
    assert entry["note"].startswith("caught up from its earlier text of abc1234 at ")
    again = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert again.stdout.splitlines() == ["nothing to apply: the database is up to date"]

    back = run_cli("--migrations-dir", str(root), "rollback", "--system", "zeta", url=empty_db.url)
    assert back.returncode == 0, back.stderr
    assert empty_db.scalar("SELECT to_regprocedure('public.zeta_answer()')") is None


def test_an_edit_the_manifest_does_not_accept_is_still_refused(empty_db: TestDB, tmp_path: Path) -> None:
    root, path = _released(tmp_path)
    assert run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url).returncode == 0
    path.write_text(path.read_text().replace("RETURN 1", "RETURN 3"))
    refused = run_cli("--migrations-dir", str(root), "migrate", url=empty_db.url)
    assert refused.returncode == 1 and "zeta_0001_schema (edited: apply)" in refused.stderr
    assert _status_code(empty_db, root) == 1


def _status_code(db: TestDB, root: Path) -> int:
    return run_cli("--migrations-dir", str(root), "status", url=db.url).returncode


def test_migrate_prints_each_migration_with_its_time_and_a_total(empty_db: TestDB) -> None:
    result = run_cli("migrate", "--system", "ops", url=empty_db.url)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    ids = migdirs.ops_ids()
    assert [line.split(" ... ")[0] for line in lines[:-1]] == [f"applying {mid}" for mid in ids]
    assert all(line.split(" ... ")[1].endswith("s") for line in lines[:-1])
    assert lines[-1].startswith(f"applied {len(ids)} migrations in ") and lines[-1].endswith("s")
