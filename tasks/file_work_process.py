"""Runs an ingestion's file work (tasks/file_work.py) in a child process that is killed at a
deadline: native polars/pyarrow calls cannot be interrupted by a flow's time limit, a process
can. Errors of this project come back as the same exception with the same message."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import core.errors
from core.errors import AutomlError

CHILD_MODULE = "tasks.file_work"
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


def run_file_work(request: dict[str, Any], workdir: Path, seconds: float | None) -> dict[str, Any]:
    """The profile the child returns for `request` (see tasks/file_work.py `run_request`).

    Past `seconds` (None: no deadline) the child is killed (SIGKILL) and FileWorkTimeoutError is
    raised; the child is killed too when anything stops this wait (Prefect's own time limit, a
    cancellation), so no orphan keeps converting a file that nothing will read.
    """
    result_path = workdir / "file-work-result.json"
    result_path.unlink(missing_ok=True)
    payload = json.dumps({**request, "result_path": str(result_path)})
    deadline = None if seconds is None else time.monotonic() + max(seconds, 0.0)
    child = subprocess.Popen(
        [sys.executable, "-m", CHILD_MODULE, payload], stdin=subprocess.DEVNULL
    )
    try:
        while child.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise FileWorkTimeoutError(f"the file work passed its deadline of {seconds:g} s")
            with contextlib.suppress(subprocess.TimeoutExpired):
                child.wait(POLL_SECONDS)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if not result_path.exists():
        raise FileWorkCrashedError(f"the file work's child process ended with {child.returncode}")
    result: dict[str, Any] = json.loads(result_path.read_text(encoding="utf-8"))
    result_path.unlink()
    if "error" in result:
        raise _error_from(result["error"])
    profile: dict[str, Any] = result["profile"]
    return profile
