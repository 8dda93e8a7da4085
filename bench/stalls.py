"""Stalls during a benchmark row, measured the way jHiccup does: a thread that asks to sleep
1 ms again and again, and notes by how much each wake-up came late.

The meter runs in the benchmark's own process, on the cores `wrk` runs on. Two things make it
late, and both lengthen every latency `wrk` measures meanwhile, whatever the route does: those
cores too busy to wake it at once, and the whole machine stopped. This machine is a virtual
machine on a shared host, and its host sometimes stops it: in one row no process ran for 5 s,
and the bare route's p99 was 5.6 s; no CPU counter inside the machine shows such a pause. A row
with a stall as long as the latency it is judged by measured the machine, not the route.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

TICK_SECONDS = 0.001
# A wake-up this much later than asked counts as a stall: above the scheduler's usual delay on
# a busy core (a few ms), below the tails the benchmark judges (p99s of 5 ms and more).
STALL_SECONDS = 0.004


@dataclass(frozen=True)
class Stalls:
    """What one row saw: the longest stall and the time lost to all of them."""

    longest_ms: float
    total_ms: float
    count: int

    def cell(self) -> str:
        if not self.count:
            return "none"
        return f"{self.count}: longest {self.longest_ms:,.0f} ms, {self.total_ms:,.0f} ms in all"


class StallMeter:
    """Measures between `start` and `stop`, on a daemon thread of its own."""

    def __init__(self, threshold_seconds: float = STALL_SECONDS) -> None:
        self._threshold = threshold_seconds
        self._late: list[float] = []
        self._running = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._late = []
        self._running.set()
        self._thread = threading.Thread(target=self._watch, name="stall-meter", daemon=True)
        self._thread.start()

    def stop(self) -> Stalls:
        self._running.clear()
        if self._thread is not None:
            self._thread.join()
        late = list(self._late)
        return Stalls(max(late, default=0.0) * 1000, sum(late) * 1000, len(late))

    def _watch(self) -> None:
        while self._running.is_set():
            asked = time.perf_counter()
            time.sleep(TICK_SECONDS)
            late = time.perf_counter() - asked - TICK_SECONDS
            if late >= self._threshold:
                self._late.append(late)
