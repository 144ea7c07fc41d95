"""The README's quickstart is what CI runs, and it names every CLI command."""

from __future__ import annotations

import re

from schema_tool import paths

ROOT = paths.project_root()


def _quickstart() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the quickstart has a sh code block"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_quickstart_has_exactly_two_commands_and_ci_runs_the_second() -> None:
    up, tests = _quickstart()
    assert up.endswith("schema-tool up")
    assert tests.endswith("pytest")
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci, ".ci/run must call the README's test command"


def test_readme_documents_every_command() -> None:
    readme = (ROOT / "README.md").read_text()
    for command in ("migrate", "rollback", "status", "partitions ensure", "partitions list",
                    "retention run", "maintain", "dump", "up", "down"):
        assert f"schema-tool {command}" in readme
    assert "CALL ops.run_maintenance()" in readme
