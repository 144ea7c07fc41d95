"""Fixtures for the replay schema: skip unless migrated, a data builder, a small world of
tenants, and acting as a user through replay_app."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from psycopg import sql

from conftest import skip_unless_migrated
from pg import TestDB, insert_row

APP = "replay_app"


@pytest.fixture(autouse=True)
def _needs_system(migrated_systems: list[str]) -> None:
    skip_unless_migrated(migrated_systems, "replay")


class Builder:
    """Inserts rows as the superuser (row level security does not apply); returns ids."""

    def __init__(self, db: TestDB) -> None:
        self.db = db
        self.conn = psycopg.connect(db.url, autocommit=True)

    def insert(self, table: str, **cols: Any) -> Any:
        return insert_row(self.conn, "replay", table, cols)

    def user(self, name: str = "user", **cols: Any) -> uuid.UUID:
        cols.setdefault("email", f"{name}.{uuid.uuid4().hex[:8]}@example.test")
        cols.setdefault("password_hash", f"hash-of-{name}")
        return self.insert("users", name=name, **cols)

    def org(self, slug: str | None = None, **cols: Any) -> uuid.UUID:
        slug = slug or f"org-{uuid.uuid4().hex[:10]}"
        return self.insert("organizations", name=cols.pop("name", slug), slug=slug, **cols)

    def member(self, org: uuid.UUID, user: uuid.UUID, role: str = "member", **cols: Any) -> uuid.UUID:
        return self.insert("organization_members", organization_id=org, user_id=user, role=role, **cols)

    def recording(self, user: uuid.UUID, org: uuid.UUID | None = None, visibility: str = "private",
                  **cols: Any) -> uuid.UUID:
        cols.setdefault("name", f"recording {uuid.uuid4().hex[:6]}")
        return self.insert("recordings", user_id=user, organization_id=org, visibility=visibility,
                           url=cols.pop("url", "https://app.example.test/"), **cols)

    def step(self, recording: uuid.UUID, number: int, kind: str = "click", **cols: Any) -> uuid.UUID:
        return self.insert("recording_steps", recording_id=recording, step_number=number,
                           timestamp_ms=cols.pop("timestamp_ms", number * 100), interaction_type=kind,
                           element_selector=cols.pop("element_selector", '{"primarySelector": "#b"}'), **cols)

    def session(self, recording: uuid.UUID, user: uuid.UUID | None, **cols: Any) -> uuid.UUID:
        return self.insert("playback_sessions", recording_id=recording, user_id=user,
                           total_steps=cols.pop("total_steps", 3),
                           environment=cols.pop("environment", '{"browser": "chrome"}'), **cols)

    def result(self, session: uuid.UUID, number: int, **cols: Any) -> uuid.UUID:
        return self.insert("playback_step_results", session_id=session, step_number=number,
                           status=cols.pop("status", "completed"), **cols)

    def file(self, recording: uuid.UUID | None = None, session: uuid.UUID | None = None, **cols: Any) -> uuid.UUID:
        return self.insert("file_storage", recording_id=recording, session_id=session,
                           file_type=cols.pop("file_type", "screenshot"), file_name="f.png",
                           file_path="/f.png", file_size_bytes=cols.pop("file_size_bytes", 10),
                           checksum="c" * 64, storage_provider="local", storage_key="k", **cols)

    def webhook(self, user: uuid.UUID, org: uuid.UUID | None = None, **cols: Any) -> uuid.UUID:
        return self.insert("webhooks", user_id=user, organization_id=org, name=cols.pop("name", "hook"),
                           url=cols.pop("url", "https://hooks.example.test/"),
                           events=cols.pop("events", ["recording_created"]), **cols)

    def delivery(self, webhook: uuid.UUID, **cols: Any) -> uuid.UUID:
        return self.insert("webhook_deliveries", webhook_id=webhook, event_type="recording_created",
                           payload=cols.pop("payload", "{}"), **cols)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def make(db: TestDB) -> Iterator[Builder]:
    builder = Builder(db)
    yield builder
    builder.close()


@dataclass
class World:
    """Two organizations and their people.

    acme: alice (owner), bob (member), vic (viewer), mona (manager), ian (inactive member).
    umbrella: carol (owner). dave belongs to no organization.
    """

    acme: uuid.UUID
    umbrella: uuid.UUID
    alice: uuid.UUID
    bob: uuid.UUID
    vic: uuid.UUID
    mona: uuid.UUID
    ian: uuid.UUID
    carol: uuid.UUID
    dave: uuid.UUID


@pytest.fixture
def world(make: Builder) -> World:
    people = {name: make.user(name) for name in ("alice", "bob", "vic", "mona", "ian", "carol", "dave")}
    acme, umbrella = make.org("acme"), make.org("umbrella")
    make.member(acme, people["alice"], "owner")
    make.member(acme, people["bob"], "member")
    make.member(acme, people["vic"], "viewer")
    make.member(acme, people["mona"], "manager")
    make.member(acme, people["ian"], "member", is_active=False)
    make.member(umbrella, people["carol"], "owner")
    return World(acme=acme, umbrella=umbrella, **people)


class App:
    """Acting as a user through replay_app (app.user_id set per transaction)."""

    def __init__(self, db: TestDB) -> None:
        self.db = db

    @contextlib.contextmanager
    def as_user(self, user: uuid.UUID | None) -> Iterator[psycopg.Connection]:
        """A transaction as replay_app with app.user_id = `user` (unset if None); rolled back."""
        settings = {"app.user_id": str(user)} if user else {}
        with self.db.as_role(APP, settings) as conn:
            yield conn

    @staticmethod
    def visible(conn: psycopg.Connection, table: str, ids: list[uuid.UUID]) -> set[uuid.UUID]:
        """Which of `ids` the connection sees in replay.<table>."""
        rows = conn.execute(
            sql.SQL("SELECT id FROM replay.{} WHERE id = ANY(%s)").format(sql.Identifier(table)), (ids,)
        ).fetchall()
        return {r[0] for r in rows}

    @staticmethod
    def affected(conn: psycopg.Connection, statement: str, params: Any = None) -> int:
        """Rows an UPDATE/DELETE touched (in a savepoint, rolled back with the transaction)."""
        with conn.transaction():
            return conn.execute(statement, params).rowcount

    @staticmethod
    def denied(conn: psycopg.Connection, statement: str, params: Any = None) -> type[Exception] | None:
        """The error class a statement fails with (in a savepoint), or None when it succeeds."""
        try:
            with conn.transaction():
                conn.execute(statement, params)
        except psycopg.Error as exc:
            return type(exc)
        return None


@pytest.fixture
def app(db: TestDB) -> App:
    return App(db)
