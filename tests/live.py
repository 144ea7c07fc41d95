"""Migrations applied to a live database: writers keep working while each migration runs.

A workload is what a system's application does all day, in short transactions: it is
seeded once its system's first migration is applied (`since`), then every later
migration of the system is applied while `writers` connections run `step` in a loop. The
writers must see no error at all (a deadlock, a failed statement); they may wait.

To cover a new system: write a Workload subclass below and add it to WORKLOADS.
"""

from __future__ import annotations

import shutil
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from schema_tool import paths, sources
from schema_tool.migrate import Runner


class Workload:
    since: str = ""  # the migration after which `step` works
    writers: int = 4
    pause: float = 0.005  # seconds between a writer's transactions (an application is never 100% busy)
    # Migrations that add columns to a table whose whole row a step reads through a
    # function (claim_execution_job RETURNS SETOF execution_jobs): a call that began
    # before such a migration committed fails once with 42P13 when it resumes, whatever
    # the migration does; the application retries it. Any other error fails the test.
    changes_row_type: frozenset[str] = frozenset()

    def seed(self, conn: psycopg.Connection) -> None:
        """Rows the steps need, committed before the first later migration."""

    def step(self, conn: psycopg.Connection, writer: int, n: int) -> None:
        """One transaction of the application (the caller commits it)."""
        raise NotImplementedError


class Ops(Workload):
    """Maintenance and an application writing into a registered partitioned table."""

    since = "ops_0002_partition_engine"

    def seed(self, conn: psycopg.Connection) -> None:
        conn.execute("CREATE SCHEMA live AUTHORIZATION schema_tool_owner")
        conn.execute("CREATE TABLE live.events (id bigint GENERATED ALWAYS AS IDENTITY, created_at timestamptz"
                     " NOT NULL, payload text, PRIMARY KEY (created_at, id)) PARTITION BY RANGE (created_at)")
        conn.execute("ALTER TABLE live.events OWNER TO schema_tool_owner")
        conn.execute("SELECT ops.register_partitioned_table('live.events'::regclass, 'created_at')")

    def step(self, conn: psycopg.Connection, writer: int, n: int) -> None:
        conn.execute("INSERT INTO live.events (created_at, payload) VALUES (now(), %s)", (f"{writer}:{n}",))
        conn.execute("SELECT count(*) FROM ops.partitions WHERE parent_table = 'events'")


class Replay(Workload):
    """Users recording sessions: a recording inserted, a user's recordings listed."""

    since = "replay_0001_schema"

    def seed(self, conn: psycopg.Connection) -> None:
        self.users = [conn.execute("INSERT INTO replay.users (email, password_hash, name) VALUES (%s, 'x', 'Live')"
                                   " RETURNING id", (f"live{i}@example.test",)).fetchone()[0] for i in range(4)]

    def step(self, conn: psycopg.Connection, writer: int, n: int) -> None:
        user = self.users[writer % len(self.users)]
        conn.execute("INSERT INTO replay.recordings (user_id, name, url) VALUES (%s, %s, 'https://example.test/')",
                     (user, f"session {n}"))
        conn.execute("SELECT id, name FROM replay.recordings WHERE user_id = %s ORDER BY created_at DESC LIMIT 5",
                     (user,))


class Recorder(Workload):
    """The issue's worker: inserts jobs (child first, then the foreign keys lock the
    recording and the user), reads a recording then inserts a job for it (parent first),
    claims jobs."""

    since = "recorder_0001_initial_schema"
    changes_row_type = frozenset({"recorder_0003_teams", "recorder_0004_queue_workers"})  # team_id, attempts

    def seed(self, conn: psycopg.Connection) -> None:
        self.recordings: list[tuple[uuid.UUID, uuid.UUID]] = []
        for i in range(4):
            user = uuid.uuid4()
            conn.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (user, f"live{i}@example.test"))
            conn.execute("INSERT INTO recorder.users (id, email) VALUES (%s, %s)", (user, f"live{i}@example.test"))
            recording = conn.execute(
                "INSERT INTO recorder.recordings (user_id, name, starting_url, steps) VALUES (%s, 'Flow',"
                " 'https://example.test/', '[{\"stepNumber\": 1, \"event\": \"click\", \"navigation\":"
                " {\"type\": \"same_page\"}, \"bundle\": {\"tag\": \"button\"}}]') RETURNING id", (user,)).fetchone()[0]
            self.recordings.append((recording, user))

    def _insert_job(self, conn: psycopg.Connection, recording: uuid.UUID, user: uuid.UUID) -> None:
        conn.execute("INSERT INTO recorder.execution_jobs (recording_id, user_id, csv_data, field_mapping,"
                     " total_rows) VALUES (%s, %s, '[{\"email\": \"a@example.test\"}]', '{}', 1)", (recording, user))

    def step(self, conn: psycopg.Connection, writer: int, n: int) -> None:
        recording, user = self.recordings[(writer + n) % len(self.recordings)]
        kind = n % 3
        if kind == 0:
            self._insert_job(conn, recording, user)
        elif kind == 1:
            conn.execute("SELECT name, steps FROM recorder.recordings WHERE id = %s", (recording,))
            self._insert_job(conn, recording, user)
        else:
            conn.execute("SELECT * FROM recorder.claim_execution_job(%s)", (f"worker-{writer}",))


class Scrapifie(Workload):
    """API clients submitting scrape jobs and polling them."""

    since = "scrapifie_0001_schema"

    def seed(self, conn: psycopg.Connection) -> None:
        self.orgs = [conn.execute("INSERT INTO scrapifie.organizations (name, slug, billing_email) VALUES"
                                  " ('Live', %s, 'billing@example.test') RETURNING id", (f"live-{i}",)).fetchone()[0]
                     for i in range(4)]

    def step(self, conn: psycopg.Connection, writer: int, n: int) -> None:
        org = self.orgs[writer % len(self.orgs)]
        conn.execute("INSERT INTO scrapifie.scrape_jobs (organization_id, url, url_hash) VALUES"
                     " (%s, 'https://example.test/', md5(%s))", (org, f"{writer}:{n}"))
        conn.execute("SELECT id, status FROM scrapifie.scrape_jobs WHERE organization_id = %s"
                     " ORDER BY created_at DESC LIMIT 10", (org,))


class Capture(Workload):
    """The ingest API: events with their page's HTML recorded into users' open replays (as
    capture_app, through record_event), a replay's events read back in time order."""

    since = "capture_0001_schema"

    def seed(self, conn: psycopg.Connection) -> None:
        self.replays: list[tuple[uuid.UUID, uuid.UUID]] = []
        for i in range(4):
            user = conn.execute("INSERT INTO capture.users (email, name) VALUES (%s, 'Live') RETURNING user_id",
                                (f"live{i}@example.test",)).fetchone()[0]
            replay = conn.execute("INSERT INTO capture.replays (user_id, start_time, initial_url)"
                                  " VALUES (%s, now(), 'https://example.test/') RETURNING replay_id",
                                  (user,)).fetchone()[0]
            self.replays.append((replay, user))

    def step(self, conn: psycopg.Connection, writer: int, n: int) -> None:
        replay, user = self.replays[writer % len(self.replays)]
        conn.execute("SET LOCAL ROLE capture_app")
        conn.execute("SELECT set_config('app.user_id', %s, true)", (str(user),))
        conn.execute("SELECT capture.record_event(%s, now(), 'click', '{\"x\": 1, \"y\": 2}', %s)",
                     (replay, f"<html>{n % 7}</html>"))
        conn.execute("SELECT event_id, event_type FROM capture.events WHERE replay_id = %s"
                     " ORDER BY timestamp DESC LIMIT 10", (replay,))


class Insights(Workload):
    """The analytics ingest: clicks written into sessions as insights_app (acting for a
    project), a session's events read back."""

    since = "insights_0001_schema"

    def seed(self, conn: psycopg.Connection) -> None:
        self.sessions: list[tuple[uuid.UUID, uuid.UUID]] = []
        for i in range(4):
            project = conn.execute("INSERT INTO insights.projects (name) VALUES (%s) RETURNING project_id",
                                   (f"live {i}",)).fetchone()[0]
            session = conn.execute("INSERT INTO insights.sessions (project_id, started_at) VALUES (%s, now())"
                                   " RETURNING session_id", (project,)).fetchone()[0]
            self.sessions.append((session, project))

    def step(self, conn: psycopg.Connection, writer: int, n: int) -> None:
        session, project = self.sessions[writer % len(self.sessions)]
        conn.execute("SET LOCAL ROLE insights_app")
        conn.execute("SELECT set_config('app.project_id', %s, true)", (str(project),))
        conn.execute("INSERT INTO insights.events (session_id, event_type, screen, x, y, occurred_at)"
                     " VALUES (%s, 'click', 'home', %s, 10, now())", (session, n % 500))
        conn.execute("SELECT event_type, x, y FROM insights.events WHERE session_id = %s"
                     " ORDER BY occurred_at DESC LIMIT 10", (session,))


WORKLOADS: dict[str, type[Workload]] = {
    "ops": Ops,
    "replay": Replay,
    "recorder": Recorder,
    "capture": Capture,
    "insights": Insights,
    "scrapifie": Scrapifie,
}


@dataclass
class Writers:
    """`count` connections running a workload's step in a loop until stopped."""

    url: str
    workload: Workload
    count: int
    errors: list[BaseException] = field(default_factory=list)
    retried: list[BaseException] = field(default_factory=list)  # row type changed under a call
    done: list[int] = field(default_factory=list)
    longest: float = 0.0

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(self.count)]
        self.done = [0] * self.count

    def _run(self, writer: int) -> None:
        try:
            # no server-side prepared statements (as behind a transaction-mode pooler): a
            # prepared SELECT * would fail for good once a column is added
            conn = psycopg.connect(self.url, prepare_threshold=None)
        except BaseException as exc:
            self.errors.append(exc)
            return
        with conn:
            n = 0
            while not self._stop.is_set():
                started = time.monotonic()
                try:
                    with conn.transaction():
                        self.workload.step(conn, writer, n)
                except psycopg.errors.InvalidFunctionDefinition as exc:  # 42P13: see changes_row_type
                    self.retried.append(exc)
                    continue
                except BaseException as exc:  # every other error fails the test
                    self.errors.append(exc)
                    return
                self.longest = max(self.longest, time.monotonic() - started)
                self.done[writer] += 1
                n += 1
                time.sleep(self.workload.pause)

    def __enter__(self) -> "Writers":
        for thread in self._threads:
            thread.start()
        deadline = time.monotonic() + 30
        while min(self.done) < 3 and not self.errors and time.monotonic() < deadline:
            time.sleep(0.01)  # every writer is under way before the migration starts
        return self

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.2)  # and keeps writing after it
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)


def migrations_of(system: str) -> list[str]:
    """The system's migration ids, in order."""
    folder = paths.migrations_dir() / system
    return sorted(p.stem for p in folder.glob(f"{system}_*.sql") if not p.name.endswith(".rollback.sql"))


def folder_upto(tmp: Path, system: str, last: str) -> Path:
    """A migrations/ folder with ops (up to `last` when system is ops) and the system's
    migrations up to `last`."""
    root = tmp / f"migrations-{last}"
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    systems = ["ops"] if system == "ops" else ["ops", system]
    for name in systems:
        (root / name).mkdir()
        for mid in migrations_of(name):
            if name == system and mid > last:
                break
            for suffix in (".sql", ".rollback.sql"):
                source = paths.migrations_dir() / name / f"{mid}{suffix}"
                if source.exists():
                    shutil.copy(source, root / name / source.name)
    return root


def apply_live(url: str, tmp: Path, system: str, log: list[str]) -> list[tuple[str, float, int]]:
    """Migrate up to the workload's `since`, seed, then apply each later migration of the
    system with writers running. Returns (migration, longest writer transaction, writes)."""
    workload = WORKLOADS[system]()
    ids = migrations_of(system)
    out = []
    root = folder_upto(tmp, system, workload.since)
    with open("/dev/null", "w") as quiet:
        Runner(url, root, out=quiet).migrate()
    with psycopg.connect(url, autocommit=True) as conn:
        workload.seed(conn)
    for mid in ids[ids.index(workload.since) + 1:]:
        root = folder_upto(tmp, system, mid)
        with Writers(url, workload, workload.writers) as writers:
            Runner(url, root, out=_Lines(log)).migrate()
        if writers.errors:
            raise AssertionError(f"while {mid} was applied, writers failed: "
                                 + "; ".join(f"{type(e).__name__}: {e}" for e in writers.errors[:3]))
        if writers.retried and mid not in workload.changes_row_type:
            raise AssertionError(f"while {mid} was applied, calls failed with a changed row type: "
                                 f"{writers.retried[0]}")
        out.append((mid, writers.longest, sum(writers.done)))
    assert sources.load(sources.available_systems(root))  # the folder was well formed
    return out


class _Lines:
    """A text sink that keeps the runner's output lines."""

    def __init__(self, lines: list[str]):
        self.lines = lines

    def write(self, text: str) -> None:
        self.lines.append(text)

    def flush(self) -> None:
        pass
