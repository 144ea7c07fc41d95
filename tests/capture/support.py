"""Helpers for the capture tests: page contents and their hashes, a data builder, and acting
as a user through capture_app."""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg

from pg import TestDB

APP = "capture_app"


def sha(html: str) -> str:
    """What the database must compute for a page: lowercase hex SHA-256 of its UTF-8 bytes."""
    return hashlib.sha256(html.encode()).hexdigest()


def page(n: int, size: int = 3000) -> str:
    """A page of about `size` characters, distinct per n."""
    body = "".join(f"<p class='c{i % 7}'>item {n}-{i}</p>" for i in range(size // 24 + 1))
    return f"<html><body data-n='{n}'>{body}</body></html>"


class Builder:
    """Rows written as the superuser (row level security does not apply)."""

    def __init__(self, db: TestDB) -> None:
        self.db = db
        self.conn = psycopg.connect(db.url, autocommit=True)

    def user(self, name: str = "user", **cols: Any) -> uuid.UUID:
        email = cols.pop("email", f"{name}.{uuid.uuid4().hex[:8]}@example.test")
        return self.conn.execute(
            "SELECT capture.register_user(%s, %s, %s)", (email, name, cols.pop("github_id", None))
        ).fetchone()[0]

    def replay(self, user: uuid.UUID, url: str = "https://app.example.test/", **cols: Any) -> uuid.UUID:
        names = ["user_id", "initial_url", *cols]
        return self.conn.execute(
            f"INSERT INTO capture.replays ({', '.join(names)}) VALUES ({', '.join(['%s'] * len(names))})"
            " RETURNING replay_id", [user, url, *cols.values()],
        ).fetchone()[0]

    def event(self, replay: uuid.UUID, at: str = "now()", kind: str = "click",
              data: str = '{"x": 1, "y": 2}', html: str | None = None) -> int:
        """An event written directly (any time); its page stored with store_webstate()."""
        webstate = self.conn.execute("SELECT capture.store_webstate(%s)", (html,)).fetchone()[0] if html else None
        return self.conn.execute(
            f"INSERT INTO capture.events (replay_id, timestamp, event_type, event_data, webstate_hash)"
            f" VALUES (%s, {at}, %s, %s, %s) RETURNING event_id", (replay, kind, data, webstate),
        ).fetchone()[0]

    def close(self) -> None:
        self.conn.close()


class App:
    """Acting as a user through capture_app (app.user_id set per transaction)."""

    def __init__(self, db: TestDB) -> None:
        self.db = db

    @contextlib.contextmanager
    def as_user(self, user: uuid.UUID | str | None) -> Iterator[psycopg.Connection]:
        """A transaction as capture_app with app.user_id = `user` (unset if None); rolled back."""
        settings = {"app.user_id": str(user)} if user is not None else {}
        with self.db.as_role(APP, settings) as conn:
            yield conn

    def connect(self, user: uuid.UUID) -> psycopg.Connection:
        """An autocommit session as capture_app acting for `user` (for committed, concurrent work)."""
        return self.db.connect(role=APP, settings={"app.user_id": str(user)})

    @staticmethod
    def error(conn: psycopg.Connection, statement: str, params: Any = None) -> str | None:
        """The SQLSTATE a statement fails with (in a savepoint), or None when it succeeds."""
        try:
            with conn.transaction():
                conn.execute(statement, params)
        except psycopg.Error as exc:
            return exc.sqlstate
        return None
