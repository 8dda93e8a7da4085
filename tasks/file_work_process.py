"""Runs an ingestion's file work (tasks/file_work.py) in a child process that is killed at a
deadline: native polars/pyarrow calls cannot be interrupted by a flow's time limit, a process
can. The children are forked by a warm server (tasks/file_work_server.py) this process starts
once and reuses, so each costs a fork, not a new interpreter. Errors of this project come back
as the same exception with the same message."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import core.errors
from core.errors import AutomlError

CHILD_MODULE = "tasks.file_work"  # what the children run: its `main(request_json)`
POLL_SECONDS = 0.05  # short waits: Prefect's own limit may arrive between two of them


class FileWorkTimeoutError(Exception):
    """The child passed its deadline and was killed; the flow ends `TimedOut`."""


class FileWorkCrashedError(Exception):
    """The child ended without a result (killed by the system, out of memory, a native crash);
    the details stay in the run's logs."""


def _error_from(error: dict[str, Any]) -> Exception:
    """The exception the child raised: a class of core/errors.py by name, with its message."""
    found = getattr(core.errors, str(error.get("type")), None)
    if isinstance(found, type) and issubclass(found, AutomlError):
        return found(str(error["message"]))
    return RuntimeError(f"file work failed in its child process: {error['message']}")


class _FileWorkServer:
    """One `python -m tasks.file_work_server MODULE` process: the warm parent that forks the
    children (tasks/file_work_server.py), one request at a time."""

    def __init__(self, module: str) -> None:
        self.module = module
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tasks.file_work_server", module],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,  # unbuffered: `select` then sees every line the server wrote
        )
        self.child_pid: int | None = None

    def fork_child(self, request: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        message = {"request": json.dumps(request), "environment": dict(os.environ)}
        self.process.stdin.write(json.dumps(message).encode() + b"\n")
        self.process.stdin.flush()
        self.child_pid = int(self._read(None)["pid"])

    def wait_for_child(self, deadline: float | None) -> int | None:
        """The child's exit code once the server has reaped it; None past `deadline` (the child
        is left to `close`, which kills it)."""
        while True:
            timeout = POLL_SECONDS
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    return None
            ended = self._read(timeout)
            if ended:
                self.child_pid = None
                return int(ended["exit"])

    def _read(self, timeout: float | None) -> dict[str, Any]:
        """The server's next message; {} if none came within `timeout`."""
        assert self.process.stdout is not None
        if timeout is not None and not select.select([self.process.stdout], [], [], timeout)[0]:
            return {}
        line = self.process.stdout.readline()
        if not line:
            raise FileWorkCrashedError(
                f"the file work's server process ended with {self.process.wait()}"
            )
        message: dict[str, Any] = json.loads(line)
        return message

    def close(self) -> None:
        """Kills the child if one is running and stops the server, waiting for both."""
        if self.child_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.child_pid, signal.SIGKILL)
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)  # it reaps the child first (closed stdin)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


# Idle servers by module, ready for the next request of this process (a flow run does its
# file work one request at a time; tests run many flows in one process).
_idle_servers: dict[str, list[_FileWorkServer]] = {}
_idle_lock = threading.Lock()


def _take_server(module: str) -> _FileWorkServer:
    with _idle_lock:
        idle = _idle_servers.get(module, [])
        while idle:
            server = idle.pop()
            if server.process.poll() is None:
                return server
            server.close()
    return _FileWorkServer(module)


def _give_back(server: _FileWorkServer) -> None:
    with _idle_lock:
        _idle_servers.setdefault(server.module, []).append(server)


def stop_file_work_servers() -> None:
    """Stops this process's idle servers (at exit, and where a measurement needs their
    children's resource use counted: it reaches this process when a server is reaped)."""
    with _idle_lock:
        servers = [server for idle in _idle_servers.values() for server in idle]
        _idle_servers.clear()
    for server in servers:
        server.close()


atexit.register(stop_file_work_servers)


def run_file_work(request: dict[str, Any], workdir: Path, seconds: float | None) -> dict[str, Any]:
    """The profile the child returns for `request` (see tasks/file_work.py `run_request`).

    Past `seconds` (None: no deadline) the child is killed (SIGKILL) and FileWorkTimeoutError is
    raised; the child is killed too when anything stops this wait (Prefect's own time limit, a
    cancellation), so no orphan keeps converting a file that nothing will read. A server that
    saw anything but a normal end is stopped, never reused.
    """
    result_path = workdir / "file-work-result.json"
    result_path.unlink(missing_ok=True)
    deadline = None if seconds is None else time.monotonic() + max(seconds, 0.0)
    server = _take_server(CHILD_MODULE)
    ended_normally = False
    try:
        server.fork_child({**request, "result_path": str(result_path)})
        code = server.wait_for_child(deadline)
        if code is None:
            raise FileWorkTimeoutError(f"the file work passed its deadline of {seconds:g} s")
        ended_normally = True
    finally:
        if ended_normally:
            _give_back(server)
        else:
            server.close()
    if not result_path.exists():
        raise FileWorkCrashedError(f"the file work's child process ended with {code}")
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    if "error" in result:
        raise _error_from(result["error"])
    profile: dict[str, Any] = result["profile"]
    return profile
