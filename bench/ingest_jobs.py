"""The jobs bench/ingest.py times on each file, by label: bare polars (the anchor), our
conversion and profiling, pandas, and the flow end to end against each store."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path

from bench.child_runs import Measurement, measure
from bench.ingest_flow import FlowRunner

# Our file-level steps, as the flow's convert and profile tasks run them, without Prefect or S3.
OUR_STEPS = """
import json, sys, time
from pathlib import Path
from tasks.conversion import convert_to_parquet, sniff_format
from tasks.profiling import profile_parquet
source, out = Path(sys.argv[1]), Path(sys.argv[2])
start = time.perf_counter()
convert_to_parquet(source, sniff_format(source), out)
converted = time.perf_counter()
profile_parquet(out)
phases = {"conversion": converted - start, "profiling": time.perf_counter() - converted}
print("BENCH " + json.dumps(phases))
"""
# Bare polars, timed in-process too, so start-up and imports can be told from the work.
BARE_STEPS = """
import json, time
import polars as pl
start = time.perf_counter()
pl.scan_csv({source!r}).sink_parquet({target!r})
print("BENCH " + json.dumps({{"conversion": time.perf_counter() - start}}))
"""
BARE = "bare polars scan_csv+sink_parquet"
OURS = "conversion + profiling (our tasks, local file)"
PANDAS = "pandas read_csv+to_parquet"


def size_jobs(
    csv_path: Path,
    out: Path,
    env: dict[str, str],
    *,
    pandas: bool,
    flows: list[FlowRunner],
    size_text: str,
) -> dict[str, Callable[[], Measurement]]:
    """The jobs measured on one file, by label, in the order they run within a round."""
    source, target = str(csv_path), str(out)
    jobs: dict[str, Callable[[], Measurement]] = {
        BARE: partial(
            measure,
            BARE,
            BARE_STEPS.format(source=source, target=target),
            env,
        ),
        OURS: partial(measure, OURS, OUR_STEPS, env, source, target),
    }
    if pandas:
        jobs[PANDAS] = partial(
            measure,
            PANDAS,
            f"import pandas as pd; pd.read_csv({source!r}).to_parquet({target!r})",
            env,
        )
    for flow in flows:
        jobs[flow.label] = partial(flow.run, csv_path, size_text)
    return jobs
