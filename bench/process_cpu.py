"""CPU time of the processes of a run, by role: what shows which process was the bottleneck."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil


def cpu_seconds(pid: int | None, tree: bool, own: bool = True) -> float:
    """CPU seconds of a process (`own`), and with `tree` of its live descendants and of every
    descendant already reaped (each live process's children times)."""
    if pid is None:
        return 0.0
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)] if tree else [root]
    except psutil.Error:
        return 0.0
    total = 0.0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            if process is not root or own:
                total += times.user + times.system
            if tree:
                total += times.children_user + times.children_system
    return total


def process_group_pids(pgid: int) -> list[int]:
    """The live processes of a process group (the Prefect server and any workers it runs)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:
            pids.append(int(entry.name))
    return pids


@dataclass
class CpuMeter:
    """CPU seconds per role, read at the start and end of a phase."""

    readers: dict[str, Callable[[], float]]
    started: dict[str, float] = field(default_factory=dict)
    wall_started: float = 0.0

    def start(self) -> None:
        self.started = {role: read() for role, read in self.readers.items()}
        self.wall_started = time.perf_counter()

    def stop(self) -> dict[str, float]:
        """Each role's share of one core over the phase (1.0 = one core busy)."""
        wall = time.perf_counter() - self.wall_started
        return {
            role: (read() - self.started[role]) / wall for role, read in self.readers.items()
        } | {"wall seconds": wall}
