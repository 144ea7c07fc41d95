"""Each `schema-tool` run of the tests in a fresh process forked from one that has
already imported the CLI.

The suite runs the CLI some 250 times. Started as the console script, each run spends
0.3-0.5 s on this machine starting Python and importing psycopg and yoyo before it does
anything: about a third of the suite's time. Here one helper process (single-threaded,
started on first use) imports those modules once and forks a child for each run. The
child is a new process as the script would be: it takes the run's arguments, environment
and working directory, has stdin on /dev/null and stdout and stderr on the caller's files,
calls `schema_tool.cli:main` as the console script does (`sys.exit(main())`), runs the
exit handlers and exits with that code.

Tests that need the script itself (runs started with Popen side by side, a SIGKILL) start
it themselves, and SCHEMA_TOOL_TEST_REAL_CLI=1 makes every run the real script
(tests/cli/test_forkcli.py compares the two).
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from typing import IO

# what a command imports on its way; the children find them already loaded
PRELOAD = ("psycopg", "psycopg.sql", "yoyo", "jinja2", "schema_tool.cli", "schema_tool.commands",
           "schema_tool.migrate", "schema_tool.maintain", "schema_tool.partitions", "schema_tool.status",
           "schema_tool.render", "schema_tool.dump", "schema_tool.docs", "schema_tool.local")


class Runner:
    """The caller's side: one helper process, one connection per run."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="schema-tool-forkcli-")
        self._path = os.path.join(self._dir, "socket")
        self._helper = subprocess.Popen([sys.executable, __file__, self._path], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while not os.path.exists(self._path):
            if self._helper.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the CLI fork helper did not start: {self._helper.stderr.read().decode()}")
            time.sleep(0.02)

    def run(self, argv: list[str], env: dict[str, str], cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
        request = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
                socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as conn:
            conn.connect(self._path)
            socket.send_fds(conn, [request], [out.fileno(), err.fileno()])
            conn.settimeout(timeout)
            pid = int(conn.recv(64))
            try:
                reply = conn.recv(64)
            except TimeoutError:
                os.kill(pid, signal.SIGKILL)
                raise subprocess.TimeoutExpired(argv, timeout, _read(out), _read(err)) from None
            if not reply:  # the child died without reporting: killed by a signal (which one is not known here)
                code = -signal.SIGKILL
            else:
                code = int(reply)
            return subprocess.CompletedProcess(argv, code, _read(out), _read(err))

    def close(self) -> None:
        self._helper.kill()
        self._helper.wait()
        for name in os.listdir(self._dir):
            os.unlink(os.path.join(self._dir, name))
        os.rmdir(self._dir)


def _read(file: IO[bytes]) -> str:
    file.seek(0)
    return file.read().decode("utf-8", errors="replace")


_runner: Runner | None = None
_lock = threading.Lock()


def run(argv: list[str], env: dict[str, str], cwd: str, timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the CLI (argv[0] is the script's path) like subprocess.run(capture_output=True, text=True)."""
    global _runner
    with _lock:
        if _runner is None:
            _runner = Runner()
            atexit.register(_runner.close)
    return _runner.run(argv, env, cwd, timeout)


# --- the helper process ---------------------------------------------------------------

def _serve(path: str) -> None:
    for name in PRELOAD:
        __import__(name)
    parent = os.getppid()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path + ".new")
    os.rename(path + ".new", path)  # the caller waits for the name: it appears when bound
    listener.listen(64)
    listener.settimeout(1.0)
    while os.getppid() == parent:  # the tests' process is gone: so is the helper
        _reap()
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        conn.settimeout(None)
        message, fds, _flags, _addr = socket.recv_fds(conn, 1 << 20, 2)
        if os.fork() == 0:
            listener.close()
            _child(conn, json.loads(message), fds)
        conn.close()
        for fd in fds:
            os.close(fd)


def _reap() -> None:
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def _child(conn: socket.socket, request: dict, fds: list[int]) -> None:
    code = 1
    try:
        null = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((null, 0), (fds[0], 1), (fds[1], 2)):
            os.dup2(fd, target)
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["env"])
        sys.argv = list(request["argv"])
        conn.send(str(os.getpid()).encode())
        code = _exit_code(sys.argv[1:])
        atexit._run_exitfuncs()
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):
                code = code or 120  # as Python does when it cannot flush stdout at exit
        conn.send(str(code).encode())
    finally:
        os._exit(code)


def _exit_code(args: list[str]) -> int:
    """The exit code the console script's `sys.exit(main())` gives."""
    try:
        from schema_tool.cli import main

        status: object = main(args)
    except SystemExit as exc:
        status = exc.code
    except BaseException:
        traceback.print_exc()
        status = 1
    if status is None:
        code = 0
    elif isinstance(status, int):
        code = status & 0xFF
    else:
        print(status, file=sys.stderr)
        code = 1
    return code


if __name__ == "__main__":
    # the import path the console script has: its own directory first, not tests/
    sys.path[0] = os.path.dirname(os.path.abspath(sys.executable))
    _serve(sys.argv[1])
