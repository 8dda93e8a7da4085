"""Benchmark: confirm -> ingestion Running on `automl serve` against a process worker.

    python3 -m uv run python -m bench.serve_latency [--rounds 2] [--runs 4] [--poll 1]

One Prefect server, one store and one API for both, started in this process the way `automl up`
starts them (`stack.local_stack`: embedded S3, `prefect server start`, the catalog, the HTTP API;
no runner). The deployments are made as in production: `prefect work-pool create automl-process
--type process` and `prefect deploy --all` (prefect.yaml). Then, `--rounds` times, each of the
two runs alone for `--runs` ingestions of a small CSV:

- **process worker**: `prefect worker start --pool automl-process --type process`, polling every
  `--poll` s (`PREFECT_WORKER_QUERY_SECONDS`): each run is a new interpreter;
- **automl serve**: `automl serve --poll-seconds POLL`: each run a fork of its warm process.

Each is started for its turn and stopped after it (SIGTERM), so runs are never taken by the
other; the first run after a start counts like the others. Runs are sequential, with a random
pause of up to one poll interval before each (bench/latency.py, `pause`). Measured as in
bench/latency.py: from the moment confirm returned to the run's `start_time`, split at Pending
(picked up) from the run's state history. Prints a Markdown table with the ratio and the load
average; `--json PATH` writes the raw figures. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path

from rich.console import Console

from api.client import UploadClient
from bench.latency import CSV_BODY, ingest_once, pause, record_ingestion, sample_load
from bench.latency_figures import StackResult, load_caption
from bench.latency_stack import ROOT, Stack, automl_token
from bench.ports import free_port
from core.process_group import stop_process_group
from stack import Endpoints
from stack_process import AUTOML

console = Console()
WORK_POOL = "automl-process"  # prefect.yaml's
READY_TIMEOUT_SECONDS = 240.0
STOP_TIMEOUT_SECONDS = 60.0
PREFECT = Path(sys.executable).parent / "prefect"
ARMS = {
    "process worker": ("Worker '", "started!"),
    "automl serve": ("serving ", "deployments"),
}
MEASURE = "confirm → ingestion Running"


class Server(Stack):
    """The Prefect reads of bench/latency.py's `Stack`, on the stack this process runs."""

    def __init__(self, endpoints: Endpoints, environment: dict[str, str]) -> None:
        self.endpoints = endpoints
        self.env = environment


def consumer_command(arm: str, poll_seconds: int) -> list[str]:
    if arm == "process worker":
        return [str(PREFECT), "worker", "start", "--pool", WORK_POOL, "--type", "process"]
    return [str(AUTOML), "serve", "--poll-seconds", str(poll_seconds)]


@contextlib.contextmanager
def consumer(
    arm: str, poll_seconds: int, environment: dict[str, str], log: Path
) -> Iterator[float]:
    """The worker or the serve, until the block ends; yields seconds from launch to ready."""
    started = time.monotonic()
    with log.open("ab") as output:
        process = subprocess.Popen(
            consumer_command(arm, poll_seconds),
            cwd=ROOT,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    offset = log.stat().st_size if log.exists() else 0
    try:
        first, second = ARMS[arm]
        while not any(
            first in line and second in line
            for line in log.read_text(errors="replace")[offset:].splitlines()
        ):
            if process.poll() is not None or time.monotonic() - started > READY_TIMEOUT_SECONDS:
                raise RuntimeError(f"{arm} did not start; see {log}")
            time.sleep(0.1)
        yield time.monotonic() - started
    finally:
        # SIGTERM to it alone, as a service manager with KillMode=mixed stops it (no run is in
        # flight); then to its group, for what is left.
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(STOP_TIMEOUT_SECONDS)
        stop_process_group(process, signal.SIGTERM, 10)


def prefect_command(environment: dict[str, str], *args: str) -> None:
    subprocess.run(
        [str(PREFECT), *args],
        cwd=ROOT,
        env=environment,
        check=True,
        capture_output=True,
        timeout=300,
    )


def measure(workdir: Path, args: argparse.Namespace) -> dict[str, StackResult]:
    for name in list(os.environ):
        if name.startswith(("PREFECT_", "R2_")):
            del os.environ[name]
    os.environ.update(
        AUTOML_DATA_DIR=str(workdir / "automl-data"),
        AUTOML_PREFECT_PORT=str(free_port()),
        AUTOML_API_PORT=str(free_port()),
        AUTOML_RUNNER_POLL_SECONDS=str(args.poll),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    from core.settings import get_settings
    from stack import local_stack

    get_settings.cache_clear()
    csv = workdir / "small.csv"
    csv.write_bytes(CSV_BODY)
    rng = random.Random(args.seed)
    results = {arm: StackResult(args.poll, {}) for arm in ARMS}
    console.print(f"starting the stack (no runner) in {workdir}")
    with local_stack(get_settings()) as endpoints:
        environment = {
            **os.environ,  # with PREFECT_API_URL, which local_stack set
            "PREFECT_WORKER_QUERY_SECONDS": str(args.poll),
            "PREFECT_HOME": str(workdir / "prefect-home"),
        }
        prefect_command(environment, "work-pool", "create", WORK_POOL, "--type", "process")
        prefect_command(environment, "--no-prompt", "deploy", "--all")
        server = Server(endpoints, environment)
        with UploadClient(
            str(endpoints.api_url), automl_token(environment, "serve-bench")
        ) as client:
            for round_index in range(args.rounds):
                for arm, result in results.items():
                    log = workdir / f"{arm.replace(' ', '-')}.log"
                    with consumer(arm, args.poll, environment, log) as ready:
                        console.print(f"round {round_index + 1}: {arm} ready after {ready:.1f} s")
                        result.measure("start", "launch → ready").add(ready)
                        for index in range(args.runs):
                            pause(rng, args.poll)
                            sample = ingest_once(server, client, csv, f"serve-{index}")
                            record_ingestion(server, result, sample)
                            sample_load(result)
    return results


def median(result: StackResult, name: str) -> float | None:
    series = result.series.get(f"ingest: {name}") or result.series.get(f"start: {name}")
    return statistics.median(series.values) if series and series.values else None


def markdown(results: dict[str, StackResult]) -> str:
    names = [
        MEASURE,
        "confirm → Pending (runner poll)",
        "Pending → Running (flow-run process start)",
        "launch → ready",
    ]
    worker, serve = results["process worker"], results["automl serve"]
    lines = [
        "| measure (median, s) | process worker | automl serve | worker ÷ serve |",
        "|---|---|---|---|",
    ]
    for name in names:
        w, s = median(worker, name), median(serve, name)
        ratio = f"{w / s:.1f}x" if w is not None and s else "-"
        cells = [f"{v:.2f}" if v is not None else "-" for v in (w, s)]
        lines.append(f"| {name} | {cells[0]} | {cells[1]} | {ratio} |")
    rows = []
    for arm, result in results.items():
        series = result.series.get(f"ingest: {MEASURE}")
        if series:
            rows.append(f"{arm}: " + ", ".join(series.row()[1:]))
    loads = [load for result in results.values() for load in result.load_averages]
    failures = [f for result in results.values() for f in result.failures]
    footer = [
        "",
        f"{MEASURE}, n / median / p95 / min / max: " + "; ".join(rows),
        load_caption(loads),
    ]
    if failures:
        footer.append(f"failures: {failures}")
    return "\n".join(lines + footer)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=2, help="turns of each, alternating")
    parser.add_argument("--runs", type=int, default=4, help="ingestions per turn")
    parser.add_argument("--poll", type=int, default=1, help="poll interval of both, seconds")
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--json", type=Path, help="write the raw figures here")
    parser.add_argument("--keep", action="store_true", help="keep the working directory")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="automl-serve-bench-"))
    try:
        results = measure(workdir, args)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    print(markdown(results))
    if args.json:
        args.json.write_text(json.dumps({k: asdict(v) for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
