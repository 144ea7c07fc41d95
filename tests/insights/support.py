"""Helpers for the insights tests: a data builder (as the superuser, any project) and acting
for a project through insights_app."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg

from pg import TestDB

APP = "insights_app"
T0 = "2030-03-10 12:00:00+00"  # inside a month the tests create partitions for as they need


class Builder:
    """Rows written as the superuser (row level security does not apply)."""

    def __init__(self, db: TestDB) -> None:
        self.db = db
        self.conn = psycopg.connect(db.url, autocommit=True)

    def project(self, name: str = "project") -> uuid.UUID:
        return self.conn.execute("INSERT INTO insights.projects (name) VALUES (%s) RETURNING project_id",
                                 (name,)).fetchone()[0]

    def user(self, project: uuid.UUID, email: str | None = "someone@example.test", **cols: Any) -> uuid.UUID:
        return self.insert("users", project, {"email": email, **cols}, "user_id")

    def session(self, project: uuid.UUID, user: uuid.UUID | None = None, started_at: str = T0,
                **cols: Any) -> uuid.UUID:
        return self.insert("sessions", project, {"user_id": user, "started_at": started_at, **cols}, "session_id")

    def insert(self, table: str, project: uuid.UUID, cols: dict[str, Any], returning: str = "id") -> Any:
        names = ["project_id", *cols]
        return self.conn.execute(
            f"INSERT INTO insights.{table} ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
            f" RETURNING {returning}", [project, *cols.values()]).fetchone()[0]

    def clicks(self, project: uuid.UUID, session: uuid.UUID, clicks: list[tuple], kind: str = "click") -> None:
        """clicks: (milliseconds after T0, x, y[, screen[, element_id]]) each."""
        rows = [(project, session, kind, c[3] if len(c) > 3 else "home", c[4] if len(c) > 4 else None,
                 c[1], c[2], c[0]) for c in clicks]
        with self.conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO insights.events (project_id, session_id, event_type, screen, element_id, x, y,"
                f" occurred_at) VALUES (%s, %s, %s, %s, %s, %s, %s, '{T0}'::timestamptz + %s * interval '1 ms')",
                rows)

    def close(self) -> None:
        self.conn.close()


class App:
    """Acting for a project through insights_app (app.project_id set per transaction)."""

    def __init__(self, db: TestDB) -> None:
        self.db = db

    @contextlib.contextmanager
    def as_project(self, project: uuid.UUID | str | None) -> Iterator[psycopg.Connection]:
        """A transaction as insights_app with app.project_id = `project` (unset if None); rolled back."""
        settings = {"app.project_id": str(project)} if project is not None else {}
        with self.db.as_role(APP, settings) as conn:
            yield conn

    @staticmethod
    def error(conn: psycopg.Connection, statement: str, params: Any = None) -> str | None:
        """The SQLSTATE a statement fails with (in a savepoint), or None when it succeeds."""
        try:
            with conn.transaction():
                conn.execute(statement, params)
        except psycopg.Error as exc:
            return exc.sqlstate
        return None
