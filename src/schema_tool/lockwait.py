"""How long a migration waits for a lock, per attempt and in all.

A migration that waits for a lock makes every later transaction on that table queue
behind it, and if it already holds a lock the application needs, the two deadlock:
PostgreSQL then aborts whichever transaction checks first, deadlock_timeout (1s by
default) after it began to wait. So a migration waits ATTEMPT seconds at most, less than
that, then gives up, keeps nothing, pauses and runs again, until its --lock-timeout
budget is spent: the application waits at most one attempt behind it, and never loses a
deadlock to it. (Migrations take their locks in their first statement, which keeps the
window in which they hold one lock and wait for another as short as it can be.)
"""

from __future__ import annotations

import random
import re
import time

ATTEMPT = 0.5  # seconds
PAUSE = (0.05, 0.25)  # between attempts, seconds (random: two waiters do not retry in step)
UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "min": 60.0, "h": 3600.0, "d": 86400.0}
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(us|ms|s|min|h|d)?\s*$")


def seconds(duration: str) -> float | None:
    """A PostgreSQL duration (a bare number is milliseconds) in seconds; None for 0 (no limit)."""
    match = DURATION.match(duration)
    if not match:
        raise ValueError(f"bad duration {duration!r}")
    value = float(match.group(1)) * UNITS[match.group(2) or "ms"]
    return value or None


def attempt(deadline: float | None) -> str:
    """lock_timeout for the next attempt, as a PostgreSQL duration."""
    if deadline is None:
        return "0"
    left = deadline - time.monotonic()
    return f"{max(int(min(ATTEMPT, left) * 1000), 1)}ms"


def retry(deadline: float | None) -> bool:
    """After a failed attempt: pause and say True if the budget allows another."""
    if deadline is None:
        return False  # no budget: the wait was unlimited, so this was a deadlock; give up
    pause = random.uniform(*PAUSE)
    if time.monotonic() + pause >= deadline:
        return False
    time.sleep(pause)
    return True
