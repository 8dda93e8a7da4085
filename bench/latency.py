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
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil
from rich.console import Console
from rich.table import Table

from api.client import UploadClient
from bench.ports import free_port, positive_ints
from core.statuses import VersionStatus
from stack import Endpoints
from stack_process import AUTOML, StackProcess, StackStartError

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "customer_churn.csv"
SAMPLE_TARGET = "churned"
DEPLOYMENTS = {
    "setup-storage",
    "ingest-dataset",
    "train-model",
    "render-plots",
    "cleanup-stale-uploads",
    "purge-deleted",
}
FINAL_STATES = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
READY_TIMEOUT_SECONDS = 240.0
STOP_TIMEOUT_SECONDS = 90.0
RUN_TIMEOUT_SECONDS = 300.0
# A small, valid CSV: what each measured ingestion uploads (~1 KB).
CSV_BODY = (
    "id,city,amount\n" + "".join(f"{i},city-{i % 7},{i * 1.5}\n" for i in range(60))
).encode()

console = Console(width=110)


def parse_env(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def parse_time(text: str) -> float:
    """A Prefect timestamp (ISO 8601, UTC) as a Unix time."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


# --- figures ----------------------------------------------------------------------------------


@dataclass
class Series:
    """One measure over the runs, in seconds."""

    name: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def row(self) -> list[str]:
        if not self.values:
            return [self.name, "0", "-", "-", "-", "-"]
        ordered = sorted(self.values)
        return [
            self.name,
            str(len(ordered)),
            f"{statistics.median(ordered):.2f}",
            f"{p95(ordered):.2f}",
            f"{ordered[0]:.2f}",
            f"{ordered[-1]:.2f}",
        ]


def p95(ordered: Sequence[float]) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=20, method="inclusive")[-1]


@dataclass
class StackResult:
    poll_seconds: int
    extra_env: dict[str, str]
    endpoints_seconds: float = 0.0
    deployments_seconds: float = 0.0
    idle_cpu: dict[str, float] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    load_averages: list[float] = field(default_factory=list)  # 1-minute, sampled after each run

    def measure(self, path: str, name: str) -> Series:
        """The series `name` of `path` (ingest, train or plots), created on first use."""
        return self.series.setdefault(f"{path}: {name.strip()}", Series(name))


# --- the stack --------------------------------------------------------------------------------


class Stack:
    """`automl up` in a subprocess (stack_process.StackProcess), with its own data dir and ports."""

    def __init__(
        self,
        workdir: Path,
        poll_seconds: int,
        budget: float,
        extra_env: dict[str, str],
        small_csv: Path,
    ) -> None:
        self.small_csv = small_csv
        data_dir = workdir / f"stack-poll-{poll_seconds}"
        shutil.rmtree(data_dir, ignore_errors=True)
        log_path = workdir / f"{data_dir.name}.log"
        log_path.unlink(missing_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "R2_"))}
        self.env.update(
            AUTOML_PREFECT_PORT=str(free_port()),
            AUTOML_API_PORT=str(free_port()),
            AUTOML_RUNNER_POLL_SECONDS=str(poll_seconds),
            AUTOML_TRAINING_BUDGET_SECONDS=str(budget),
            PREFECT_SERVER_ANALYTICS_ENABLED="false",
            **extra_env,
        )
        self.child = StackProcess(data_dir, self.env, log_path, cwd=ROOT)
        self.env = self.child.environment  # with its AUTOML_DATA_DIR, for `automl token create`
        self.endpoints: Endpoints | None = None

    @property
    def log_path(self) -> Path:
        return self.child.log_path

    def start(self) -> tuple[float, float]:
        """Starts it; returns (seconds to endpoints.json, seconds to every deployment)."""
        started = time.monotonic()
        self.child.start()
        self.endpoints = self.child.wait_ready(READY_TIMEOUT_SECONDS, poll_seconds=0.1)
        endpoints_at = time.monotonic() - started
        deadline = started + READY_TIMEOUT_SECONDS
        while True:
            self.child.check_running()
            if time.monotonic() > deadline:
                raise StackStartError(f"automl up was not ready in time; see {self.log_path}")
            response = httpx.post(f"{self.prefect}/deployments/filter", json={}, timeout=10)
            if {d["name"] for d in response.json()} >= DEPLOYMENTS:
                break
            time.sleep(0.1)
        return endpoints_at, time.monotonic() - started

    @property
    def prefect(self) -> str:
        assert self.endpoints is not None, "not started"
        return self.endpoints.prefect_api_url

    @property
    def api(self) -> str:
        assert self.endpoints is not None and self.endpoints.api_url is not None, "not started"
        return self.endpoints.api_url

    def token(self) -> str:
        result = subprocess.run(
            [AUTOML, "token", "create", "--user", "latency-bench", "--tier", "pro"],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        )
        return result.stdout.strip().splitlines()[-1]

    def stop(self) -> None:
        """As Ctrl-C stops it; if it had to be killed instead, what it started in groups of its
        own (its Prefect server) goes too."""
        try:
            started = psutil.Process(self.child.process.pid).children(recursive=True)
        except (RuntimeError, psutil.Error):  # never started, or gone already
            started = []
        self.child.stop(STOP_TIMEOUT_SECONDS)
        for child in started:
            with contextlib.suppress(psutil.Error):
                child.kill()

    # --- CPU ----------------------------------------------------------------------------------

    def idle_cpu(self, seconds: float) -> dict[str, float]:
        """CPU of the stack's processes over `seconds` with nothing running, % of one core."""
        root = psutil.Process(self.child.process.pid)

        def sample() -> dict[str, tuple[str, float]]:
            found: dict[str, tuple[str, float]] = {}
            for proc in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    times = proc.cpu_times()
                    # Its other children (the warm process that forks runs, multiprocessing's
                    # resource tracker) count as `automl up`.
                    server = "server start" in " ".join(proc.cmdline())
                    role = "Prefect server" if server else "automl up"
                    found[str(proc.pid)] = (role, times.user + times.system)
            return found

        before = sample()
        started = time.monotonic()
        time.sleep(seconds)
        after = sample()
        wall = time.monotonic() - started
        totals = {"automl up": 0.0, "Prefect server": 0.0}
        for pid, (role, cpu) in after.items():
            if pid in before:
                totals[role] += cpu - before[pid][1]
        totals = {role: 100 * cpu / wall for role, cpu in totals.items()}
        totals["total"] = sum(totals.values())
        return totals

    # --- Prefect reads ------------------------------------------------------------------------

    def flow_run(self, flow_run_id: str) -> dict[str, Any]:
        response = httpx.get(f"{self.prefect}/flow_runs/{flow_run_id}", timeout=10)
        response.raise_for_status()
        run: dict[str, Any] = response.json()
        return run

    def wait_final(self, flow_run_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while True:
            run = self.flow_run(flow_run_id)
            if run["state_type"] in FINAL_STATES:
                return run
            if time.monotonic() > deadline:
                raise RuntimeError(f"flow run {flow_run_id} did not finish in time")
            time.sleep(0.2)

    def state_times(self, flow_run_id: str) -> dict[str, float]:
        """The first time the run entered each state type."""
        response = httpx.get(
            f"{self.prefect}/flow_run_states/", params={"flow_run_id": flow_run_id}, timeout=10
        )
        response.raise_for_status()
        times: dict[str, float] = {}
        for state in response.json():
            at = parse_time(state["timestamp"])
            times[state["type"]] = min(at, times.get(state["type"], at))
        return times

    def first_task_start(self, flow_run_id: str) -> float | None:
        response = httpx.post(
            f"{self.prefect}/task_runs/filter",
            json={"flow_runs": {"id": {"any_": [flow_run_id]}}, "limit": 200},
            timeout=10,
        )
        response.raise_for_status()
        starts = [parse_time(t["start_time"]) for t in response.json() if t.get("start_time")]
        return min(starts) if starts else None

    def published_at(self, job_id: str, since: float) -> tuple[float, float]:
        """When the job's `automl.model.published` event occurred (the flow-run process's clock,
        this machine's) and when the Prefect server received it."""
        deadline = time.monotonic() + 60
        while True:
            response = httpx.post(
                f"{self.prefect}/events/filter",
                json={
                    "filter": {
                        "event": {"name": ["automl.model.published"]},
                        "resource": {"id": [f"automl.model.{job_id}"]},
                        "occurred": {"since": iso(since - 60)},
                    },
                    "limit": 5,
                },
                timeout=10,
            )
            response.raise_for_status()
            events = response.json()["events"]
            if events:
                first = min(events, key=lambda e: parse_time(e["occurred"]))
                return parse_time(first["occurred"]), parse_time(first["received"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"no automl.model.published event for job {job_id}")
            time.sleep(0.3)

    def plots_run(self, job_id: str) -> dict[str, Any]:
        deadline = time.monotonic() + RUN_TIMEOUT_SECONDS
        while True:
            response = httpx.post(
                f"{self.prefect}/flow_runs/filter",
                json={
                    "flows": {"name": {"any_": ["render-plots"]}},
                    "sort": "EXPECTED_START_TIME_DESC",
                    "limit": 20,
                },
                timeout=10,
            )
            response.raise_for_status()
            for run in response.json():
                if run["parameters"].get("job_id") == job_id:
                    return self.wait_final(run["id"])
            if time.monotonic() > deadline:
                raise RuntimeError(f"no render-plots run for job {job_id}")
            time.sleep(0.2)


@contextlib.contextmanager
def running(stack: Stack) -> Iterator[Stack]:
    try:
        yield stack
    finally:
        stack.stop()


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


# --- output -----------------------------------------------------------------------------------


def load_caption(loads: Sequence[float]) -> str:
    """The machine's 1-minute load average over the runs: what else competed for the cores."""
    if not loads:
        return ""
    ordered = sorted(loads)
    return (
        f"load average during the runs: median {statistics.median(ordered):.1f}, "
        f"range {ordered[0]:.1f} to {ordered[-1]:.1f} ({os.cpu_count()} cores)"
    )


def print_results(results: list[StackResult], imports: dict[str, tuple[float, float]]) -> None:
    for result in results:
        if not result.series:
            continue
        extra = " ".join(f"{k}={v}" for k, v in result.extra_env.items())
        table = Table(
            "measure",
            "runs",
            "median s",
            "p95 s",
            "min s",
            "max s",
            title=f"AUTOML_RUNNER_POLL_SECONDS={result.poll_seconds} {extra}".strip(),
            caption=load_caption(result.load_averages),
        )
        for series in result.series.values():
            table.add_row(*series.row())
        console.print(table)
        for failure in result.failures:
            console.print(f"  [red]not counted[/red]: {failure}")
    summary = Table(
        "poll s",
        "endpoints.json s",
        "deployments s",
        "idle CPU automl up %",
        "idle CPU Prefect server %",
        "idle CPU total %",
        title="start-up and idle CPU (% of one core)",
    )
    for result in results:
        cpu = result.idle_cpu
        summary.add_row(
            str(result.poll_seconds),
            f"{result.endpoints_seconds:.1f}",
            f"{result.deployments_seconds:.1f}",
            *(
                f"{cpu[k]:.1f}" if k in cpu else "-"
                for k in ("automl up", "Prefect server", "total")
            ),
        )
    console.print(summary)
    if imports:
        table = Table(
            "import cli, prefect.flow_engine and",
            "wall s",
            "CPU s",
            title="a fresh flow-run process's imports (medians)",
        )
        for module, (wall_s, cpu_s) in imports.items():
            table.add_row(module, f"{wall_s:.2f}", f"{cpu_s:.2f}")
        console.print(table)


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
