"""Expected failures are one clear line and the exit code the contract gives: 1 for a
failed operation or check, 2 for bad usage. Never a traceback. Arguments are checked
before the database is looked for."""

from __future__ import annotations

import pytest

from pg import TestDB, run_cli

DATABASE_COMMANDS = [["migrate"], ["status"], ["rollback"], ["maintain"], ["partitions", "list"],
                     ["partitions", "ensure"], ["retention", "run"], ["dump"], ["docs"]]


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


@pytest.mark.parametrize("url", ["postgresql://host:notaport/db", "this is not a url", "postgresql+psycopg://x/y",
                                 "postgresql://localhost:0/db", "postgresql://localhost:99999/db",
                                 "host=localhost port=70000 dbname=db"])
def test_bad_url_is_bad_usage(url: str) -> None:
    result = run_cli("status", url=url)
    assert result.returncode == 2
    assert "bad database URL" in _one_line(result.stderr)


def test_password_never_printed() -> None:
    result = run_cli("status", url="postgresql://me:s3cret@127.0.0.1:1/db")
    assert result.returncode == 1
    assert "s3cret" not in result.stderr + result.stdout


@pytest.mark.parametrize("command", DATABASE_COMMANDS)
def test_no_database_given_is_bad_usage_everywhere(command: list[str]) -> None:
    result = run_cli(*command)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert "no database given" in line and "DATABASE_URL" in line and "schema-tool up" in line


@pytest.mark.parametrize("args, argument", [
    (["rollback", "--count", "0"], "--count"),
    (["rollback", "--count", "two"], "--count"),
    (["partitions", "ensure", "--months-ahead", "-1"], "--months-ahead"),
    (["partitions", "ensure", "--months-ahead", "1000000"], "--months-ahead"),
    (["partitions", "ensure", "--months-ahead", "soon"], "--months-ahead"),
    (["maintain", "--reference-date", "2024-02-30"], "--reference-date"),
    (["retention", "run", "--reference-date", "yesterday"], "--reference-date"),
    (["maintain", "--lock-timeout", "5 parsecs"], "--lock-timeout"),
    (["migrate", "--lock-wait", "-1"], "--lock-wait"),
    (["migrate", "--system", "nonesuch"], "nonesuch"),
    (["rollback", "--system", "nonesuch"], "nonesuch"),
    (["dump", "--system", "nonesuch"], "nonesuch"),
    (["docs", "--system", "nonesuch"], "nonesuch"),
])
def test_arguments_are_checked_before_the_database(args: list[str], argument: str) -> None:
    """No database is given, yet the bad argument is what the user hears about."""
    result = run_cli(*args)
    assert result.returncode == 2, result.stderr
    line = _one_line(result.stderr)
    assert argument in line and "no database given" not in line


def test_unknown_system_names_the_known_ones(db: TestDB) -> None:
    result = db.cli("migrate", "--system", "nonesuch")
    assert result.returncode == 2
    line = _one_line(result.stderr)
    assert "unknown system 'nonesuch'" in line and "ops" in line


def test_unknown_command_and_option() -> None:
    assert run_cli("frobnicate").returncode == 2
    assert run_cli("migrate", "--no-such-flag").returncode == 2
    assert run_cli("down", "--database-url", "postgresql://x/y").returncode == 2  # down takes none


def test_maintenance_on_a_database_without_ops(empty_db: TestDB) -> None:
    result = empty_db.cli("maintain")
    assert result.returncode == 1
    assert "run `schema-tool migrate` first" in _one_line(result.stderr)


def test_database_url_flag_wins_over_environment(db: TestDB) -> None:
    result = run_cli("status", "--database-url", db.url, url="postgresql://127.0.0.1:1/wrong")
    assert result.returncode == 0, result.stderr
