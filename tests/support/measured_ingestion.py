"""Run `ingest-dataset` for one version in this process and print its outcome and peak memory.

    python -m tests.support.measured_ingestion VERSION_ID

Prints one line `MEASURED {"state": ..., "peak_rss_mb": ..., "seconds": ...}`. The peak is
VmHWM, this process's own high-water mark: the ru_maxrss of `wait4` would carry the parent's peak
across exec (bench/ingest.py). Settings come from the environment, as in a flow-run process a
runner or worker starts.
"""

from __future__ import annotations

import json
import re
import sys
import time

from flows.ingest_dataset import ingest_dataset


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        found = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    assert found is not None
    return int(found.group(1)) / 1024


def main(version_id: str) -> None:
    start = time.perf_counter()
    state = ingest_dataset(version_id, return_state=True)
    seconds = time.perf_counter() - start
    report = {"state": state.type.value, "peak_rss_mb": peak_rss_mb(), "seconds": seconds}
    print("MEASURED " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
