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
                    "retention run", "maintain", "dump", "docs", "up", "down --purge"):
        assert f"schema-tool {command}" in readme
    assert "CALL ops.run_maintenance()" in readme


def test_docs_refer_to_nothing_outside_the_repository() -> None:
    """Every relative link in the README and docs/ names a file of this repository, and no
    document points at files that only exist beside it (a design card, the seeds' folder)."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" in target:
                continue
            resolved = (page.parent / target).resolve()
            if not resolved.is_relative_to(ROOT) or not resolved.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
        for outside in ("DESIGN.md", "../shared", "/work/"):
            if outside in text:
                broken.append(f"{page.relative_to(ROOT)}: mentions {outside}")
    assert not broken, broken
