"""Run `ingest-dataset` for one version in this process and print its outcome and peak memory.

    python -m tests.support.measured_ingestion VERSION_ID

Prints one line `MEASURED {"state": ..., "peak_rss_mb": ..., "seconds": ..., "time_limit": ...}`
(`time_limit`: the flow's `timeout_seconds` in this process, from AUTOML_FLOW_TIMEOUTS).

The file's work runs in children of a file-work server (tasks/file_work_server.py), so
`peak_rss_mb` is the flow's whole footprint bounded from above: this process's own high-water
mark (VmHWM) plus the largest of its descendants' (`ru_maxrss` of RUSAGE_CHILDREN, counted once
the server that reaped them is stopped and reaped; it may carry this process's peak across
exec: an over-estimate, never an under-estimate). Settings come from the environment, as in a
flow-run process a runner or worker starts.
"""

from __future__ import annotations

import json
import re
import resource
import sys
import time

from flows.ingest_dataset import ingest_dataset
from tasks.file_work_process import stop_file_work_servers


def peak_rss_mb() -> float:
    with open("/proc/self/status") as status:
        found = re.search(r"VmHWM:\s+(\d+) kB", status.read())
    assert found is not None
    return int(found.group(1)) / 1024


def children_peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # KiB on Linux


def main(version_id: str) -> None:
    start = time.perf_counter()
    state = ingest_dataset(version_id, return_state=True)
    seconds = time.perf_counter() - start
    stop_file_work_servers()  # their children's peaks reach this process's RUSAGE_CHILDREN
    report = {
        "state": state.type.value,
        "peak_rss_mb": peak_rss_mb() + children_peak_rss_mb(),
        "own_peak_rss_mb": peak_rss_mb(),
        "child_peak_rss_mb": children_peak_rss_mb(),
        "seconds": seconds,
        "time_limit": ingest_dataset.timeout_seconds,
    }
    print("MEASURED " + json.dumps(report), flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
