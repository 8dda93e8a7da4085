"""Benchmark: how soon the local stack starts the work it is given.

    python3 -m uv run python -m bench.latency [--runs 20] [--poll 10,1] [--idle-seconds 20]

For each runner poll interval in `--poll` (comma-separated; default 1) it starts one `automl up`
in a subprocess as `automl demo` does (stack_process.py), with its own AUTOML_DATA_DIR and free
ports and `AUTOML_RUNNER_POLL_SECONDS` set to that value, creates a `pro` token with
`automl token create`, and measures, all on this machine's clock:

- **confirm → ingestion Running**: a small CSV is uploaded through the HTTP protocol
  (`api.client.UploadClient`); from the moment the confirm returned to the moment its
  `ingest-dataset` run entered Running (its `start_time`), with the steps in between read from the
  run's state history: confirm → Pending (the runner picked the run up: poll wait) and
  Pending → Running (flow-run process start: a fork of the warm process of
  deployments/warm_start.py, then Prefect's engine set-up), and Running → first task run
  started;
- **model published → plots Running**: `POST /api/jobs/train` on the bundled sample
  (`samples/customer_churn.csv`, target `churned`, `AUTOML_TRAINING_BUDGET_SECONDS` small); from
  the `automl.model.published` event's `occurred` time to the triggered `render-plots` run's
  `start_time`, with the trigger's part (event → run created) split out; and train request →
  `train-model` Running, which goes the same way as a confirm;
- **idle CPU** of the stack over `--idle-seconds` with nothing running: the `automl up` process
  (runner, API, embedded S3) and the Prefect server it started, as a percentage of one core;
- **start-up**: launch → `endpoints.json` written, and → every deployment registered.

The stacks run side by side and the runs alternate between them (an ingestion on each, then
the next), so that other work on the machine weighs on every poll value alike. Runs are
sequential (each waits for the previous one to finish, so runs never compete with each other
for the cores; the stacks not in use are idle), with a random pause of up to one poll
interval (+30%, Prefect's jitter) before each, so that requests fall at random points of the
runner's poll cycle. One warm-up ingestion and one warm-up training job per stack run before
the measured ones and are not counted. Nothing is asserted: it prints tables, and
`--json PATH` writes the raw figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import httpx

from api.client import UploadClient
from bench.latency_figures import StackResult, console, print_results
from bench.latency_stack import ROOT, RUN_TIMEOUT_SECONDS, Stack, parse_time, running
from bench.ports import positive_ints
from core.statuses import VersionStatus

SAMPLE = ROOT / "samples" / "customer_churn.csv"
SAMPLE_TARGET = "churned"
# A small, valid CSV: what each measured ingestion uploads (~1 KB).
CSV_BODY = (
    "id,city,amount\n" + "".join(f"{i},city-{i % 7},{i * 1.5}\n" for i in range(60))
).encode()


def parse_env(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


# --- the measurements -------------------------------------------------------------------------


def ingest_once(stack: Stack, client: UploadClient, path: Path, name: str) -> dict[str, Any]:
    result = client.upload(path, name)
    confirmed = time.time()
    run = stack.wait_final(result["flow_run_id"])
    return {"confirmed": confirmed, "run": run}


def record_ingestion(stack: Stack, result: StackResult, sample: dict[str, Any]) -> None:
    run, confirmed = sample["run"], sample["confirmed"]
    if run["state_type"] != "COMPLETED" or not run.get("start_time"):
        result.failures.append(f"ingest-dataset {run['id']}: {run['state_type']}")
        return
    started = parse_time(run["start_time"])
    states = stack.state_times(run["id"])
    first_task = stack.first_task_start(run["id"])
    pending = states.get("PENDING")
    result.measure("ingest", "confirm → ingestion Running").add(started - confirmed)
    result.measure("ingest", "  confirm → Pending (runner poll)").add(
        pending - confirmed if pending else None
    )
    result.measure("ingest", "  Pending → Running (flow-run process start)").add(
        started - pending if pending else None
    )
    result.measure("ingest", "  Running → first task started").add(
        first_task - started if first_task else None
    )
    result.measure("ingest", "confirm → first task started").add(
        first_task - confirmed if first_task else None
    )


def train_once(stack: Stack, http: httpx.Client, version_id: str) -> dict[str, Any]:
    response = http.post(
        "/api/jobs/train", json={"version_id": version_id, "target": SAMPLE_TARGET}
    )
    requested = time.time()
    response.raise_for_status()
    job = response.json()
    train_run = stack.wait_final(job["flow_run_id"])
    sample: dict[str, Any] = {"requested": requested, "job": job, "train_run": train_run}
    if train_run["state_type"] == "COMPLETED":
        sample["published"], sample["received"] = stack.published_at(job["job_id"], requested)
        sample["plots_run"] = stack.plots_run(job["job_id"])
    return sample


def record_training(stack: Stack, result: StackResult, sample: dict[str, Any]) -> None:
    train_run = sample["train_run"]
    if train_run.get("start_time"):
        result.measure("train", "train request → train-model Running").add(
            parse_time(train_run["start_time"]) - sample["requested"]
        )
    plots = sample.get("plots_run")
    if plots is None or plots["state_type"] != "COMPLETED" or not plots.get("start_time"):
        state = plots["state_type"] if plots else f"train-model {train_run['state_type']}"
        result.failures.append(f"job {sample['job']['job_id']}: {state}")
        return
    published, started = sample["published"], parse_time(plots["start_time"])
    states = stack.state_times(plots["id"])
    created = parse_time(plots["created"])
    pending = states.get("PENDING")
    result.measure("plots", "model published → plots Running").add(started - published)
    result.measure("plots", "  published → run created (trigger)").add(created - published)
    result.measure("plots", "    published → event received by the server").add(
        sample["received"] - published
    )
    result.measure("plots", "    received → run created (triggers, actions)").add(
        created - sample["received"]
    )
    result.measure("plots", "  created → Pending (runner poll)").add(
        pending - created if pending else None
    )
    result.measure("plots", "  Pending → Running (flow-run process start)").add(
        started - pending if pending else None
    )


def wait_version_ready(http: httpx.Client, dataset_id: str, version_id: str) -> None:
    deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
    while True:
        version = http.get(f"/api/datasets/{dataset_id}/versions/{version_id}").json()
        if version["status"] == VersionStatus.READY:
            return
        if version["status"] == VersionStatus.FAILED or time.monotonic() > deadline:
            raise RuntimeError(f"the sample did not ingest: {version.get('error')}")
        time.sleep(0.3)


def sample_load(result: StackResult) -> None:
    result.load_averages.append(os.getloadavg()[0])


def progress(what: str, done: int, total: int) -> None:
    if done == total or done % 5 == 0:
        console.print(f"  {what}: {done}/{total}", highlight=False)


def pause(rng: random.Random, poll_seconds: int) -> None:
    """A random pause of up to one jittered poll interval (at least 1 s) before the next request.

    Each run waits for the one before to finish, and a run's process starts right after a poll:
    without this, every request would fall at the same point of the runner's poll cycle (its
    phase set by how long a run takes), and the poll wait would be biased, not sampled.
    """
    time.sleep(rng.uniform(0.0, max(1.0, 1.3 * poll_seconds)))


@dataclass
class Session:
    """One stack being measured, with its clients."""

    stack: Stack
    result: StackResult
    client: UploadClient
    http: httpx.Client
    version_id: str = ""


def open_session(
    stack: Stack, result: StackResult, exits: contextlib.ExitStack, idle_seconds: float
) -> Session:
    """Starts the stack (alone, so its start-up time is its own), makes a token and the clients,
    runs the warm-up ingestion, and measures the idle CPU."""
    console.print(
        f"[bold]poll {result.poll_seconds} s[/bold]: starting automl up ({stack.log_path})"
    )
    exits.enter_context(running(stack))
    result.endpoints_seconds, result.deployments_seconds = stack.start()
    console.print(
        f"  ready: endpoints.json after {result.endpoints_seconds:.1f} s, "
        f"deployments after {result.deployments_seconds:.1f} s"
    )
    token = stack.token()
    client = exits.enter_context(UploadClient(stack.api, token))
    http = exits.enter_context(
        httpx.Client(base_url=stack.api, headers={"Authorization": f"Bearer {token}"}, timeout=60)
    )
    session = Session(stack, result, client, http)
    ingest_once(stack, client, stack.small_csv, "warm-up")  # not counted
    if idle_seconds > 0:
        time.sleep(2)  # let the warm-up run's process exit and its logs flush
        result.idle_cpu = stack.idle_cpu(idle_seconds)
        console.print(
            "  idle CPU: " + ", ".join(f"{k} {v:.1f}%" for k, v in result.idle_cpu.items())
        )
    return session


def measure(
    workdir: Path, args: argparse.Namespace, extra_env: dict[str, str], rng: random.Random
) -> list[StackResult]:
    """Every stack runs side by side, and the runs alternate between them (one ingestion on
    each, then the next), so that whatever else loads the machine weighs on each poll value
    alike. Only one run is in flight at a time; the stacks not in use are idle."""
    csv = workdir / "small.csv"
    csv.write_bytes(CSV_BODY)
    results = [StackResult(poll, extra_env) for poll in args.poll]
    with contextlib.ExitStack() as exits:
        sessions = []
        for result in results:
            stack = Stack(workdir, result.poll_seconds, args.budget, extra_env, csv)
            sessions.append(open_session(stack, result, exits, args.idle_seconds))
        for index in range(args.runs):
            for session in sessions:
                pause(rng, session.result.poll_seconds)
                sample = ingest_once(session.stack, session.client, csv, f"lat-{index}")
                record_ingestion(session.stack, session.result, sample)
                sample_load(session.result)
            progress("ingestions on each stack", index + 1, args.runs)
        if args.plots_runs > 0:
            for session in sessions:
                uploaded = session.client.upload(SAMPLE, "churn")
                wait_version_ready(session.http, uploaded["dataset_id"], uploaded["version_id"])
                session.version_id = uploaded["version_id"]
                train_once(session.stack, session.http, session.version_id)  # warm-up
        for index in range(args.plots_runs):
            for session in sessions:
                pause(rng, session.result.poll_seconds)
                sample = train_once(session.stack, session.http, session.version_id)
                record_training(session.stack, session.result, sample)
                sample_load(session.result)
            progress("training jobs on each stack", index + 1, args.plots_runs)
    return results


def import_times(modules: Sequence[str], repeats: int) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds, medians, of a fresh interpreter importing what a flow-run process
    would import before its run could go Running if it were a new interpreter (the warm
    process of deployments/warm_start.py imports it once instead): `cli` (the `automl` script,
    the main module), Prefect's flow engine, and the flow's module."""
    times: dict[str, tuple[float, float]] = {}
    for module in modules:
        statement = f"import cli, prefect.flow_engine, {module}"
        walls, cpus = [], []
        for _ in range(repeats):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            started = time.monotonic()
            subprocess.run([sys.executable, "-c", statement], cwd=ROOT, check=True)
            walls.append(time.monotonic() - started)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        times[module] = (statistics.median(walls), statistics.median(cpus))
    return times


# --- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=20, help="measured ingestions per stack")
    parser.add_argument(
        "--plots-runs", type=int, default=None, help="measured training jobs (default: --runs)"
    )
    parser.add_argument(
        "--poll",
        type=positive_ints,
        default=[1],
        help="runner poll intervals to compare, one stack each, e.g. 10,1 (default 1)",
    )
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--budget", type=float, default=2.0, help="training budget, seconds")
    parser.add_argument(
        "--env",
        type=parse_env,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an extra variable for the stack (repeatable)",
    )
    parser.add_argument(
        "--imports",
        type=int,
        default=3,
        help="fresh-interpreter imports of each flow module to time (0: skip)",
    )
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the raw figures here")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    if args.plots_runs is None:
        args.plots_runs = args.runs
    extra_env = dict(args.env)
    rng = random.Random(args.seed)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="automl-latency-"))
    workdir.mkdir(parents=True, exist_ok=True)
    console.print(
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f}; work dir {workdir}"
    )
    results = measure(workdir, args, extra_env, rng)
    imports = (
        import_times(
            ["prefect", "flows.ingest_dataset", "flows.train_model", "flows.render_plots"],
            args.imports,
        )
        if args.imports > 0
        else {}
    )
    print_results(results, imports)
    console.print(f"load average at the end: {os.getloadavg()[0]:.2f}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "cores": os.cpu_count(),
                    "stacks": [
                        {
                            **{k: v for k, v in asdict(r).items() if k != "series"},
                            "series": {name: s.values for name, s in r.series.items()},
                        }
                        for r in results
                    ],
                    "imports": imports,
                },
                indent=2,
            )
            + "\n"
        )
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
