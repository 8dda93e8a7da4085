"""The benchmark's stall meter (bench/stalls.py) reports a pause of its process: the same thing
it sees when the host stops the whole machine. The pause is made with SIGSTOP, from outside."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.stalls import Stalls

ROOT = Path(__file__).resolve().parents[2]

METERED = """
import json, sys
from bench.stalls import StallMeter
meter = StallMeter()
meter.start()
print("metering", flush=True)
sys.stdin.readline()  # until the test has paused and resumed this process
print(json.dumps(meter.stop().__dict__), flush=True)
"""
PAUSE_SECONDS = 0.3


def test_a_pause_of_the_process_is_reported_as_a_stall_at_least_as_long() -> None:
    metered = subprocess.Popen(
        [sys.executable, "-c", METERED],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert metered.stdin is not None and metered.stdout is not None
    try:
        assert metered.stdout.readline().strip() == "metering"
        os.kill(metered.pid, signal.SIGSTOP)
        time.sleep(PAUSE_SECONDS)
        os.kill(metered.pid, signal.SIGCONT)
        metered.stdin.write("done\n")
        metered.stdin.flush()
        stalls = Stalls(**json.loads(metered.stdout.readline()))
    finally:
        metered.kill()
        metered.wait()
    # A stopped process wakes no earlier than it is resumed: never less late than the pause.
    assert stalls.count >= 1
    assert stalls.longest_ms >= PAUSE_SECONDS * 1000 * 0.9
    assert stalls.total_ms >= stalls.longest_ms
    assert stalls.cell().startswith(f"{stalls.count}: longest ")


def test_a_row_without_stalls_says_none() -> None:
    assert Stalls(0.0, 0.0, 0).cell() == "none"
    assert Stalls(12.4, 30.2, 3).cell() == "3: longest 12 ms, 30 ms in all"
