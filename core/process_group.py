"""Stopping a child process group: a signal to the whole group, a grace period, then SIGKILL.

Every server the project starts as a child (the Prefect server of `automl up`, `automl up`
itself for the demo, the benchmarks and the tests, LocalStack, Chromium) runs as the leader of
a process group of its own (`start_new_session=True`), so that one signal reaches what it
started too and nothing is orphaned. This is the one way they are stopped.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from typing import Any

# After SIGKILL a process is gone at once unless it is stuck in the kernel (a D-state read);
# the caller is not held longer than this for one that is.
KILL_WAIT_SECONDS = 10.0


def stop_process_group(
    process: subprocess.Popen[Any],
    first_signal: signal.Signals = signal.SIGTERM,
    grace_seconds: float = 15.0,
    *,
    kill_stragglers: bool = True,
) -> int | None:
    """Sends `first_signal` to the group `process` leads, waits up to `grace_seconds` for the
    leader to exit, SIGKILLs the group if it has not; returns the leader's exit code (None only
    if even SIGKILL did not end it within KILL_WAIT_SECONDS).

    `kill_stragglers` SIGKILLs what is left of the group after its leader exited (children that
    outlived it, e.g. the workers of a server). Off where the test is that the leader stops its
    children itself, as after a Ctrl-C.
    """
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, first_signal)
        try:
            process.wait(timeout=grace_seconds)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=KILL_WAIT_SECONDS)
    if kill_stragglers:
        # Members of the group keep its id alive after the leader exited; none may be left.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    return process.returncode
