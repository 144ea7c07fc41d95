"""sqlfluff over migrations, sql/ and templates, started in the background.

The lint only needs the CPU; the database tests mostly wait on the server. Started when
the suite is collected (tests/conftest.py), it runs beside them, and
tests/test_snapshots.py::test_sqlfluff_lint_is_clean collects its result.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path
from typing import IO

from schema_tool import paths


class Lint:
    def __init__(self, processes: int = 1) -> None:
        root = paths.project_root()
        targets = [str(root / d) for d in ("migrations", "sql", "templates") if any((root / d).rglob("*.sql*"))]
        sqlfluff = Path(sys.executable).parent / "sqlfluff"
        self._out: IO[bytes] = tempfile.TemporaryFile()
        self._run = subprocess.Popen(
            [str(sqlfluff), "lint", "--processes", str(processes), "--disable-progress-bar", "--nocolor",
             *targets],
            stdout=self._out, stderr=subprocess.STDOUT, cwd=root,
        )

    def result(self, timeout: float = 600) -> tuple[int, str]:
        """The lint's exit code and the end of its output."""
        code = self._run.wait(timeout=timeout)
        self._out.seek(0)
        return code, self._out.read().decode(errors="replace")[-10000:]

    def stop(self) -> None:
        if self._run.poll() is None:
            self._run.kill()
            self._run.wait()
        self._out.close()
