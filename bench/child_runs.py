"""A job timed in a fresh Python process: its wall time, its own CPU time and peak RSS, and the
phases it reports, so the parent's imports and memory are not in the figures (bench/ingest.py,
bench/corpus.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Appended to every measured job. wait4's ru_maxrss is no good here: Linux carries the peak RSS
# of the process that spawned the child (this one, with Prefect and boto3 loaded: ~300 MB) into
# the child's figure across exec. VmHWM belongs to the child's own address space.
PEAK_REPORT = """
import json as _json, re as _re
with open("/proc/self/status") as _status:
    _peak_kb = int(_re.search(r"VmHWM:\\s+(\\d+) kB", _status.read()).group(1))
print("BENCH " + _json.dumps({"peak_rss_mb": _peak_kb / 1024}), flush=True)
"""


@dataclass
class Measurement:
    label: str
    seconds: float
    peak_rss_mb: float
    returncode: int
    load: float  # 1-minute load average when it started
    cpu_seconds: float  # user + system, the child's own
    phases: dict[str, float] = field(default_factory=dict)
    # The S3 server's process during a flow job (staging upload included): peak_rss_mb,
    # cpu_seconds, and upload_seconds (the staging upload, not in `seconds`).
    store: dict[str, float] = field(default_factory=dict)


def measure(label: str, code: str, env: dict[str, str], *args: str) -> Measurement:
    """Runs `code` in a fresh Python process: its wall time and its own peak RSS (VmHWM).

    Lines `BENCH {json}` the child prints are kept: phase name -> seconds, and its peak.
    """
    load = os.getloadavg()[0]
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", code + "\n" + PEAK_REPORT, *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    output = child.stdout.read()  # before wait4, so a chatty child cannot fill the pipe
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    returncode = os.waitstatus_to_exitcode(status)
    reported: dict[str, float] = {}
    for line in output.splitlines():
        if line.startswith("BENCH "):
            reported.update(json.loads(line.removeprefix("BENCH ")))
    # A child that failed reports no peak: wait4's figure (an upper bound) stands in.
    peak = reported.pop("peak_rss_mb", usage.ru_maxrss / 1024)
    cpu = usage.ru_utime + usage.ru_stime
    return Measurement(label, seconds, peak, returncode, load, cpu, reported)
