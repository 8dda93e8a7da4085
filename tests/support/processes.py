"""Stopping a process a test started together with every descendant, also those that left its
process group (a process worker's flow runs, Chromium's renderers): nothing is left behind,
even when a test fails half-way."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from typing import Any

import psutil

from core.process_group import stop_process_group

DESCENDANTS_GRACE_SECONDS = 10.0


def stop_process_tree(
    process: subprocess.Popen[Any],
    first_signal: signal.Signals = signal.SIGTERM,
    grace_seconds: float = 15.0,
) -> list[int]:
    """`stop_process_group`, then SIGKILL to each descendant found before it that still runs;
    returns the pids of those still running after DESCENDANTS_GRACE_SECONDS (none, normally)."""
    try:
        descendants = psutil.Process(process.pid).children(recursive=True)
    except psutil.Error:
        descendants = []
    stop_process_group(process, first_signal, grace_seconds)
    for descendant in descendants:
        with contextlib.suppress(psutil.Error):
            descendant.kill()
    # They are not this process's children (psutil.wait_procs would back off for seconds): poll.
    deadline = time.monotonic() + DESCENDANTS_GRACE_SECONDS
    while (alive := [p for p in descendants if _running(p)]) and time.monotonic() < deadline:
        time.sleep(0.01)
    return [p.pid for p in alive]


def _running(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False
