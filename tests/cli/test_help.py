"""What a newcomer sees first: `schema-tool` alone, `--help`, a group without its action."""

from __future__ import annotations

from pg import run_cli

COMMANDS = ("migrate", "rollback", "status", "partitions", "retention", "maintain", "dump", "docs", "up", "down")


def test_no_arguments_lists_the_commands_and_a_hint() -> None:
    result = run_cli()
    assert result.returncode == 2
    assert result.stdout == ""
    listed = [line.split()[0] for line in result.stderr.splitlines() if line.startswith("  ")]
    assert listed == list(COMMANDS)
    assert "--help" in result.stderr and "schema-tool up" in result.stderr
    assert "required" not in result.stderr and "Traceback" not in result.stderr


def test_a_group_without_its_action_lists_the_actions() -> None:
    for group, actions in (("partitions", ["ensure", "list"]), ("retention", ["run"])):
        result = run_cli(group)
        assert result.returncode == 2
        assert [line.split()[0] for line in result.stderr.splitlines() if line.startswith("  ")] == actions


def test_help_speaks_to_the_user() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    for command in COMMANDS:
        assert f"\n    {command} " in result.stdout or f"\n    {command}\n" in result.stdout
    assert "DATABASE_URL" in result.stdout and "schema-tool up" in result.stdout
    assert "Exit codes: 0 success, 1" in result.stdout
    assert "dispatch" not in result.stdout and "module" not in result.stdout


def test_each_command_has_help() -> None:
    for command in (*[[c] for c in COMMANDS if c not in ("partitions", "retention")],
                    ["partitions", "ensure"], ["partitions", "list"], ["retention", "run"]):
        result = run_cli(*command, "--help")
        assert result.returncode == 0, command
        assert result.stdout.startswith(f"usage: schema-tool {' '.join(command)}")
    assert "--purge" in run_cli("down", "--help").stdout
    assert "--database-url" not in run_cli("down", "--help").stdout
