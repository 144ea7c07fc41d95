"""Helpers for the recorder tests: a data builder, acting as a signed-in user, savepoint attempts."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from pg import TestDB, insert_row

# The smallest step the canonical format accepts (section 2.2's required keys).
STEP = {"stepNumber": 1, "event": "click", "navigation": {"type": "same_page"}, "bundle": {"tag": "button"}}


def claims(user: uuid.UUID | str) -> dict[str, str]:
    """request.jwt.claims as PostgREST sets it for a signed-in user."""
    return {"request.jwt.claims": json.dumps({"sub": str(user), "role": "authenticated"})}


@contextlib.contextmanager
def as_user(db: TestDB, user: uuid.UUID) -> Iterator[psycopg.Connection]:
    """A transaction as role authenticated with the user's JWT claims (rolled back)."""
    with db.as_role("authenticated", claims(user)) as conn:
        yield conn


def attempt(conn: psycopg.Connection, query: str, params: Any = None) -> int:
    """Run a statement in a savepoint, then roll the savepoint back: the rows the statement
    affected (or returned). Errors propagate; the enclosing transaction stays usable."""
    affected = 0
    with conn.transaction() as savepoint:
        cur = conn.execute(query, params)
        affected = len(cur.fetchall()) if cur.description else cur.rowcount
        raise psycopg.Rollback(savepoint)
    return affected


class Builder:
    """Inserts rows as the superuser (RLS does not apply) and returns their ids."""

    def __init__(self, db: TestDB) -> None:
        self.db = db
        self.conn = psycopg.connect(db.url, autocommit=True)

    def insert(self, table: str, **cols: Any) -> Any:
        names = list(cols)
        values = [Jsonb(v) if isinstance(v, (dict, list)) else v for v in cols.values()]
        return insert_row(self.conn, "recorder", table, dict(zip(names, values)))

    def user(self, email: str | None = None) -> uuid.UUID:
        uid = uuid.uuid4()
        email = email or f"{uid.hex[:10]}@example.test"
        self.conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (uid, email))
        return self.insert("users", id=uid, email=email)

    def recording(self, user: uuid.UUID, steps: list | None = None, **cols: Any) -> uuid.UUID:
        return self.insert("recordings", user_id=user, name=cols.pop("name", "Login Flow"),
                           starting_url="https://example.com/login", steps=steps or [STEP], **cols)

    def job(self, recording: uuid.UUID, rows: int = 3, **cols: Any) -> uuid.UUID:
        user = cols.pop("user_id", None) or self.conn.execute(
            "SELECT user_id FROM recorder.recordings WHERE id = %s", (recording,)).fetchone()[0]
        csv = [{"email": f"row{i}@example.test", "password": f"secret-{i}"} for i in range(rows)]
        return self.insert("execution_jobs", recording_id=recording, user_id=user, csv_data=csv,
                           field_mapping={"email": "Email Address"}, total_rows=cols.pop("total_rows", rows), **cols)

    def result(self, job: uuid.UUID, row: int, status: str = "success", **cols: Any) -> uuid.UUID:
        return self.insert("execution_results", execution_job_id=job, row_index=row,
                           row_data={"email": f"row{row}@example.test"}, status=status, **cols)

    def log(self, job: uuid.UUID, level: str = "info", **cols: Any) -> uuid.UUID:
        return self.insert("execution_logs", execution_job_id=job, level=level,
                           message=cols.pop("message", "Element found using XPath strategy"), **cols)

    def healing(self, recording: uuid.UUID, step: int = 1, selector: str = "input#email",
                success: bool = True, **cols: Any) -> uuid.UUID:
        return self.insert("healing_logs", recording_id=recording, step_number=step,
                           original_selector=selector, success=success, **cols)

    def team(self, owner: uuid.UUID, **cols: Any) -> uuid.UUID:
        slug = cols.pop("slug", f"team-{uuid.uuid4().hex[:8]}")
        return self.insert("teams", name=slug, slug=slug, owner_id=owner, **cols)

    def member(self, team: uuid.UUID, user: uuid.UUID, role: str) -> uuid.UUID:
        return self.insert("team_members", team_id=team, user_id=user, role=role)

    def job_row(self, job: uuid.UUID) -> dict[str, Any]:
        cur = self.conn.execute("SELECT * FROM recorder.execution_jobs WHERE id = %s", (job,))
        names = [d.name for d in cur.description]
        return dict(zip(names, cur.fetchone()))

    def close(self) -> None:
        self.conn.close()
