"""`automl up` in a subprocess for bench/latency.py and bench/serve_latency.py: started with its
own data dir, ports and poll interval, its Prefect server asked when each run started and what
happened on the way, and stopped with everything it started."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.ports import free_port
from stack import Endpoints
from stack_process import AUTOML, StackProcess, StackStartError

ROOT = Path(__file__).resolve().parents[1]
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


def parse_time(text: str) -> float:
    """A Prefect timestamp (ISO 8601, UTC) as a Unix time."""
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()


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
        return automl_token(self.env, "latency-bench")

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


def automl_token(environment: dict[str, str], user: str) -> str:
    """A `pro` token of a new user, made as a person makes one: `automl token create`."""
    result = subprocess.run(
        [AUTOML, "token", "create", "--user", user, "--tier", "pro"],
        env=environment,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return result.stdout.strip().splitlines()[-1]
