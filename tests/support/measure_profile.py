"""Profiles one Parquet file in this process and prints, as JSON, what the wide-data tests
check: the profile's counts and notes and this process's peak resident memory.

Run as `python -m tests.support.measure_profile FILE`: a process of its own, so the peak is the
profiling's alone, not the test runner's."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

from tasks.profiling import profile_parquet


def main() -> None:
    profile = profile_parquet(Path(sys.argv[1]))
    # VmHWM, not ru_maxrss: Linux carries the spawning process's peak (here the test runner's)
    # into the child's ru_maxrss across exec; VmHWM belongs to this address space alone.
    status = Path("/proc/self/status").read_text()
    match = re.search(r"VmHWM:\s+(\d+) kB", status)
    assert match is not None, "no VmHWM in /proc/self/status"
    peak_kib = int(match.group(1))
    print(
        json.dumps(
            {
                "row_count": profile["row_count"],
                "column_count": profile["column_count"],
                "profiled_columns": len(profile["columns"]),
                "numeric_with_mean": sum(c["mean"] is not None for c in profile["columns"]),
                "notes": profile["notes"],
                "peak_bytes": peak_kib * 1024,
            }
        )
    )


if __name__ == "__main__":
    main()
