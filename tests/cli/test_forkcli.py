"""The tests' fast way to run the CLI (tests/forkcli.py: a child forked from a process that
has already imported it) gives what the installed console script gives: the same exit
code, stdout and stderr, a fresh environment for every run, and exceptions as the
interpreter reports them."""

from __future__ import annotations

import re
import socket
import subprocess

import pytest

import forkcli
from pg import CLI, ROOT, TestDB, cli_env, run_script


def _untimed(text: str) -> str:
    """Output with its durations masked: they are the one thing two runs may print differently."""
    return re.sub(r"\b\d+(\.\d+)? ?(ms|s)\b", "<time>", text)


def _both(args: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess, subprocess.CompletedProcess]:
    real = run_script(*args, env=env)
    forked = forkcli.run([str(CLI), *args], env, str(ROOT), 120)
    return real, forked


@pytest.mark.parametrize("args", [
    [],
    ["--help"],
    ["migrate", "--no-such-flag"],
    ["rollback", "--count", "two"],
    ["status"],
    ["status", "--json"],
    ["migrate", "--dry-run", "--system", "replay"],
    ["partitions", "list", "--json"],
    ["maintain", "--dry-run", "--reference-date", "2031-01-15"],
])
def test_a_forked_run_prints_and_exits_as_the_script_does(args: list[str], db: TestDB) -> None:
    real, forked = _both(args, cli_env(db.url))
    assert forked.returncode == real.returncode
    assert _untimed(forked.stdout) == _untimed(real.stdout) and _untimed(forked.stderr) == _untimed(real.stderr)


def test_an_unreachable_server_is_reported_the_same() -> None:
    real, forked = _both(["status"], cli_env("postgresql://postgres@127.0.0.1:1/nowhere"))
    assert real.returncode == forked.returncode == 1
    assert forked.stderr == real.stderr and forked.stdout == real.stdout == ""


def test_each_run_has_only_its_own_environment(db: TestDB) -> None:
    first = forkcli.run([str(CLI), "status"], cli_env(db.url), str(ROOT), 120)
    assert first.returncode == 0, first.stderr
    second = forkcli.run([str(CLI), "status"], cli_env(), str(ROOT), 120)
    assert second.returncode == 2 and "no database given" in second.stderr


@pytest.mark.parametrize("outcome, code, printed", [
    (lambda: 3, 3, ""),
    (lambda: None, 0, ""),
    (lambda: 256 + 4, 4, ""),
    (lambda: (_ for _ in ()).throw(SystemExit(2)), 2, ""),
    (lambda: (_ for _ in ()).throw(SystemExit("gave up")), 1, "gave up"),
    (lambda: (_ for _ in ()).throw(LookupError("unforeseen")), 1, "Traceback"),
])
def test_the_exit_code_is_the_interpreters(outcome, code: int, printed: str, monkeypatch, capsys) -> None:
    """main()'s return or exception becomes the exit code as `sys.exit(main())` makes it."""
    import schema_tool.cli

    monkeypatch.setattr(schema_tool.cli, "main", lambda args: outcome())
    assert forkcli._exit_code([]) == code
    assert printed in capsys.readouterr().err


def test_a_run_past_its_timeout_is_killed() -> None:
    """A server that accepts the connection and never answers: the run is killed at its timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        url = f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/nowhere"
        with pytest.raises(subprocess.TimeoutExpired):
            forkcli.run([str(CLI), "status"], cli_env(url), str(ROOT), 1.5)
