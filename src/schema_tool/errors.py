"""Expected failures: each becomes one clear line on stderr and an exit code."""


class ToolError(Exception):
    """An operation or check failed (exit code 1)."""

    exit_code = 1


class UsageError(ToolError):
    """The command line asked for something that cannot be (exit code 2)."""

    exit_code = 2
