"""Expected failures are one clear line and the exit code DESIGN.md gives: 1 for a
failed operation or check, 2 for bad usage. Never a traceback."""

from __future__ import annotations

import pytest

from pg import TestDB, run_cli


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


@pytest.mark.parametrize("command", [["migrate"], ["status"], ["rollback"], ["maintain"],
                                     ["partitions", "list"], ["retention", "run"]])
def test_unreachable_server(command: list[str]) -> None:
    result = run_cli(*command, url="postgresql://postgres@127.0.0.1:1/nowhere")
    assert result.returncode == 1
    line = _one_line(result.stderr)
    assert "cannot connect to 127.0.0.1:1/nowhere" in line


@pytest.mark.parametrize("url", ["postgresql://host:notaport/db", "this is not a url", "postgresql+psycopg://x/y"])
def test_bad_url(url: str) -> None:
    result = run_cli("status", url=url)
    assert result.returncode == 2
    assert "bad database URL" in _one_line(result.stderr)


def test_password_never_printed() -> None:
    result = run_cli("status", url="postgresql://me:s3cret@127.0.0.1:1/db")
    assert result.returncode == 1
    assert "s3cret" not in result.stderr + result.stdout


def test_no_database_given() -> None:
    result = run_cli("migrate")
    assert result.returncode == 2
    assert "DATABASE_URL" in _one_line(result.stderr)


def test_unknown_system(db: TestDB) -> None:
    result = db.cli("migrate", "--system", "nonesuch")
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "unknown system 'nonesuch'" in line and "ops" in line


def test_unknown_command_and_option() -> None:
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("migrate", "--no-such-flag").returncode == 2
    assert run_cli("maintain", "--reference-date", "yesterday", url="postgresql://127.0.0.1:1/x").returncode == 2


def test_maintenance_on_a_database_without_ops(empty_db: TestDB) -> None:
    result = empty_db.cli("maintain")
    assert result.returncode == 1
    assert "run `schema-tool migrate` first" in _one_line(result.stderr)


def test_database_url_flag_wins_over_environment(db: TestDB) -> None:
    result = run_cli("status", "--database-url", db.url, url="postgresql://127.0.0.1:1/wrong")
    assert result.returncode == 0, result.stderr


def test_help_lists_the_contract() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("migrate", "rollback", "status", "partitions", "retention", "maintain", "dump", "up", "down"):
        assert command in result.stdout
