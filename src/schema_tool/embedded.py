"""A local PostgreSQL cluster from the machine's server binaries.

Used by `schema-tool up`/`down`, by the test suite and by the benchmarks. When run
as root the server runs as an unprivileged OS user (initdb and postgres refuse root).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import pwd
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from schema_tool.errors import ToolError

SERVER_HINT = (
    "install the PostgreSQL server binaries (Debian/Ubuntu: apt-get install postgresql-15; "
    "or put the directory holding initdb, pg_ctl and postgres on PATH)"
)


def find_bindir() -> Path:
    """Where initdb/pg_ctl/postgres live: PATH, pg_config --bindir, /usr/lib/postgresql/*/bin."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    pg_config = shutil.which("pg_config")
    if pg_config:
        try:
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=True)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.CalledProcessError):
            pass
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin"),
                      key=lambda p: [int(x) for x in re.findall(r"\d+", p)], reverse=True)
    candidates.extend(Path(p) for p in versions)
    for directory in candidates:
        if all((directory / tool).exists() for tool in ("initdb", "pg_ctl", "postgres")):
            return directory
    raise ToolError(f"no PostgreSQL server binaries found: {SERVER_HINT}")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@dataclass
class Cluster:
    """One cluster: its files live in `pgdir` (owned by the server's OS user)."""

    pgdir: Path
    port: int
    os_user: str | None = None  # None: the current user runs the server
    superuser: str = "postgres"

    @property
    def data(self) -> Path:
        return self.pgdir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.pgdir / "run"

    @property
    def logfile(self) -> Path:
        return self.pgdir / "postgres.log"

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{self.superuser}@localhost:{self.port}/{dbname}"

    # -- lifecycle --------------------------------------------------------------

    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def init(self, settings: dict[str, str] | None = None) -> None:
        self.pgdir.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(exist_ok=True)
        if self.os_user:
            entry = pwd.getpwnam(self.os_user)
            for path in (self.pgdir, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)
            if self._run(["test", "-w", str(self.pgdir)], check=False).returncode != 0:
                raise ToolError(f"the '{self.os_user}' OS user cannot write {self.pgdir}")
        locale = "C.UTF-8" if _has_c_utf8() else "C"
        self._run([str(find_bindir() / "initdb"), "-D", str(self.data), "-U", self.superuser,
                   "--auth=trust", "--encoding=UTF8", f"--locale={locale}", "--no-instructions"])
        conf = {
            "listen_addresses": "'localhost'",
            "unix_socket_directories": f"'{self.socket_dir}'",
            "max_connections": "100",
        }
        conf.update(settings or {})
        lines = ["", "# written by schema-tool"] + [f"{k} = {v}" for k, v in conf.items()]
        with open(self.data / "postgresql.conf", "a", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")

    def running(self) -> bool:
        if not self.initialized():
            return False
        return self._pg_ctl(["status"], check=False).returncode == 0

    def start(self) -> None:
        result = self._pg_ctl(["start", "-w", "-t", "60", "-l", str(self.logfile),
                               "-o", f"-p {self.port}"], check=False)
        if result.returncode != 0:
            raise ToolError(f"PostgreSQL did not start: {self.log_tail()}")

    def stop(self) -> None:
        result = self._pg_ctl(["stop", "-m", "fast", "-w", "-t", "60"], check=False)
        if result.returncode != 0 and self.running():
            raise ToolError(f"PostgreSQL did not stop: {result.stderr.strip() or result.stdout.strip()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self._run(["tail", "-n", str(lines), str(self.logfile)], check=False).stdout
        except OSError:
            return "(no log)"
        return " | ".join(line.strip() for line in text.splitlines() if line.strip()) or "(empty log)"

    # -- helpers ------------------------------------------------------------------

    def _pg_ctl(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        return self._run([str(find_bindir() / "pg_ctl"), "-D", str(self.data), *args], check=check)

    def _run(self, cmd: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        if self.os_user:
            cmd = ["runuser", "-u", self.os_user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, cwd="/")
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise ToolError(f"{Path(cmd[0] if not self.os_user else cmd[4]).name} failed: "
                            f"{detail[-1] if detail else 'exit ' + str(result.returncode)}")
        return result


def server_os_user() -> str | None:
    """The OS user that runs the server: none needed unless we are root."""
    if os.geteuid() != 0:
        return None
    name = os.environ.get("SCHEMA_TOOL_SERVER_USER", "postgres")
    try:
        pwd.getpwnam(name)
    except KeyError:
        raise ToolError(f"running as root needs an unprivileged OS user for the server; "
                        f"'{name}' does not exist (create it, or set SCHEMA_TOOL_SERVER_USER)") from None
    return name


def _has_c_utf8() -> bool:
    try:
        out = subprocess.run(["locale", "-a"], capture_output=True, text=True).stdout.lower()
    except OSError:
        return False
    return "c.utf8" in out or "c.utf-8" in out


# -- the project's own cluster under .schema-tool/ -------------------------------------

STATE_FILE = "cluster.json"


def state_dir() -> Path:
    return Path(os.environ.get("SCHEMA_TOOL_STATE_DIR", Path.cwd() / ".schema-tool")).resolve()


def load_local() -> Cluster | None:
    """The cluster recorded in .schema-tool/cluster.json, if any."""
    path = state_dir() / STATE_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
        return Cluster(Path(data["pgdir"]), int(data["port"]), data.get("os_user"),
                       data.get("superuser", "postgres"))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ToolError(f"cannot read {path} ({type(exc).__name__}: {exc}): delete it and run "
                        "`schema-tool up` again") from None


@dataclass
class Placement:
    """Where `up` keeps the cluster's files, and why there (None: the usual place)."""

    pgdir: Path
    reason: str | None = None


def local_placement() -> Placement:
    """.schema-tool/pg, unless the server's OS user cannot reach it (root in a private
    directory): then a folder under /var/tmp named after the state directory, so that the
    same project finds the same cluster again even if .schema-tool/ was deleted."""
    base = state_dir()
    base.mkdir(parents=True, exist_ok=True)
    os_user = server_os_user()
    if os_user and not _reachable_by(base, os_user):
        digest = hashlib.sha1(str(base).encode()).hexdigest()[:10]
        return Placement(Path("/var/tmp") / f"schema-tool-{digest}",
                         f"the '{os_user}' OS user that runs the server cannot enter {base}")
    return Placement(base / "pg")


def create_local(placement: Placement) -> Cluster:
    """A new cluster at the placement (a half-made one left there is removed first)."""
    state_dir().mkdir(parents=True, exist_ok=True)
    cluster = Cluster(placement.pgdir, _pick_port(), server_os_user())
    if cluster.data.exists() and not cluster.initialized():
        shutil.rmtree(cluster.data)  # an initdb that died: nothing in it to keep
    cluster.init()
    save_local(cluster)
    return cluster


def adopt_local(placement: Placement) -> Cluster | None:
    """A cluster already at the placement whose pointer (cluster.json) was lost: reuse it,
    on the port it runs on, or on a free one."""
    cluster = Cluster(placement.pgdir, 0, server_os_user())
    if not cluster.initialized():
        return None
    cluster.port = _running_port(cluster) or _pick_port()
    state_dir().mkdir(parents=True, exist_ok=True)
    save_local(cluster)
    return cluster


OWN_FILES = {"data", "run", "postgres.log"}  # all that a cluster directory of ours holds


def purge_local(cluster: Cluster) -> None:
    """Delete the cluster's files and its pointer (the cluster must be stopped). Only a
    directory holding nothing but a cluster's files is deleted, whatever the record says."""
    if cluster.pgdir.exists():
        others = {p.name for p in cluster.pgdir.iterdir()} - OWN_FILES
        if others:
            raise ToolError(f"not deleting {cluster.pgdir}: it holds more than a PostgreSQL cluster "
                            f"({', '.join(sorted(others))})")
    shutil.rmtree(cluster.pgdir, ignore_errors=True)
    if cluster.pgdir.exists():
        raise ToolError(f"could not delete {cluster.pgdir}")
    (state_dir() / STATE_FILE).unlink(missing_ok=True)


def _running_port(cluster: Cluster) -> int | None:
    """The port in postmaster.pid (4th line) when the server runs."""
    if not cluster.running():
        return None
    try:
        lines = (cluster.data / "postmaster.pid").read_text().splitlines()
        return int(lines[3])
    except (OSError, IndexError, ValueError):
        return None


def save_local(cluster: Cluster) -> None:
    (state_dir() / STATE_FILE).write_text(json.dumps({
        "pgdir": str(cluster.pgdir), "port": cluster.port,
        "os_user": cluster.os_user, "superuser": cluster.superuser,
    }, indent=2) + "\n")


def _pick_port() -> int:
    for port in range(54320, 54400):
        if not port_in_use(port):
            return port
    return free_port()


def _reachable_by(path: Path, os_user: str) -> bool:
    result = subprocess.run(["runuser", "-u", os_user, "--", "test", "-x", str(path)],
                            capture_output=True, cwd="/")
    return result.returncode == 0


def wait_ready(cluster: Cluster, timeout: float = 30.0) -> None:
    """Until the server accepts connections (pg_ctl -w already waits; this covers reuse)."""
    import psycopg

    deadline = time.monotonic() + timeout
    while True:
        try:
            with psycopg.connect(cluster.url(), connect_timeout=2):
                return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise ToolError(f"PostgreSQL on port {cluster.port} does not accept connections") from None
            time.sleep(0.2)
