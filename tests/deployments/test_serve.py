"""`automl serve` on several machines (two processes here) against one Prefect server: every run
executes once, the deployments stay as the server defines them, one serve's stop neither
pauses them nor cuts off the runs it is running."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId
from prefect.deployments import run_deployment
from prefect.settings import PREFECT_API_URL
from prefect.states import Pending

from tests.support.processes import stop_process_tree
from tests.support.production import tail
from tests.support.serve_probe import EXECUTIONS_DIR_VARIABLE, apply_probe_deployment

pytestmark = pytest.mark.e2e  # serve processes and flow runs against a Prefect server

RUNS = 12
READY_SECONDS = 180.0
RUNS_SECONDS = 180.0
PROBE_NAME = "serve-probe/serve-probe"


@contextmanager
def serve_process(name: str, directory: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`automl serve`'s code serving the probe deployment, until the block ends."""
    log = directory / f"{name}.log"
    environment = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_HOME": str(directory / f"{name}-home"),
        EXECUTIONS_DIR_VARIABLE: str(directory / "executions"),
    }
    with log.open("ab") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.serve_probe_runner", name],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + READY_SECONDS
        while "serving 1 deployments" not in tail(log, 100_000):
            assert process.poll() is None, f"{name} exited:\n{tail(log)}"
            assert time.monotonic() < deadline, f"{name} was not ready:\n{tail(log)}"
            time.sleep(0.2)
        yield process
    finally:
        stop_process_tree(process)


def executions(directory: Path, kind: str) -> list[dict[str, str]]:
    return [json.loads(p.read_text()) for p in (directory / "executions").glob(f"{kind}-*.json")]


def states(flow_run_ids: list[UUID]) -> dict[UUID, str]:
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
        )
    return {run.id: run.state.type.value if run.state else "" for run in runs}


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.25)


def definition(deployment_id: UUID) -> tuple[list[UUID], list[UUID], bool]:
    """The ids of the deployment's schedules and trigger automations, and whether it is paused."""
    with get_client(sync_client=True) as client:
        deployment = client.read_deployment(deployment_id)
        automations = client.read_resource_related_automations(
            f"prefect.deployment.{deployment_id}"
        )
    return (
        sorted(s.id for s in deployment.schedules),
        sorted(a.id for a in automations),
        bool(deployment.paused),
    )


def start_runs(count: int, seconds: float) -> list[UUID]:
    return [
        run_deployment(  # type: ignore[union-attr]  # sync context: a FlowRun
            PROBE_NAME, parameters={"seconds": seconds}, timeout=0
        ).id
        for _ in range(count)
    ]


def test_a_second_pending_transition_of_a_run_is_refused(prefect_api: None) -> None:
    # What keeps two runners (or a runner and a worker) from executing one scheduled run: each
    # proposes Scheduled -> Pending before it starts the run; the server accepts one.
    deployment_id = apply_probe_deployment()
    with get_client(sync_client=True) as client:
        flow_run = client.create_flow_run_from_deployment(deployment_id)
        first = client.set_flow_run_state(flow_run.id, Pending())  # type: ignore[var-annotated]
        second = client.set_flow_run_state(flow_run.id, Pending())  # type: ignore[var-annotated]
    assert first.status.value == "ACCEPT"
    assert second.status.value == "ABORT"


def test_two_serves_run_each_run_once_and_leave_the_deployment_as_defined(
    prefect_api: None, tmp_path: Path
) -> None:
    (tmp_path / "executions").mkdir()
    # The deployment as `prefect deploy` (or a first serve) defined it: a schedule, a trigger.
    deployment_id = apply_probe_deployment()
    defined = definition(deployment_id)
    assert len(defined[0]) == 1 and len(defined[1]) == 1 and not defined[2]
    with ExitStack() as serves:
        a = serves.enter_context(serve_process("serve-a", tmp_path))
        b = serves.enter_context(serve_process("serve-b", tmp_path))
        # Starting neither replaced nor duplicated the schedule or the trigger.
        assert definition(deployment_id) == defined

        flow_run_ids = start_runs(RUNS, seconds=0.5)
        wait_for(
            lambda: set(states(flow_run_ids).values()) == {"COMPLETED"}, RUNS_SECONDS, "the runs"
        )
        ended = executions(tmp_path, "ended")
        # Each run executed exactly once, by one serve or the other.
        assert sorted(e["flow_run_id"] for e in ended) == sorted(map(str, flow_run_ids))
        spread = {name: sum(e["serve"] == name for e in ended) for name in ("serve-a", "serve-b")}
        print(f"runs per serve: {spread}")

        # A long run, then SIGTERM to the serve running it (as systemd's KillMode=mixed sends it).
        (long_run,) = start_runs(1, seconds=8.0)
        wait_for(
            lambda: any(e["flow_run_id"] == str(long_run) for e in executions(tmp_path, "started")),
            RUNS_SECONDS,
            "the long run to start",
        )
        (started,) = [
            e for e in executions(tmp_path, "started") if e["flow_run_id"] == str(long_run)
        ]
        stopping = a if started["serve"] == "serve-a" else b
        os.kill(stopping.pid, signal.SIGTERM)
        # While it drains, new runs go to the other serve: the deployment is not paused.
        after_stop = start_runs(2, seconds=0.1)
        wait_for(
            lambda: set(states([long_run, *after_stop]).values()) == {"COMPLETED"},
            RUNS_SECONDS,
            "the long run and the runs after the stop",
        )
        assert stopping.wait(60) == 0
        by_run = {e["flow_run_id"]: e["serve"] for e in executions(tmp_path, "ended")}
        assert by_run[str(long_run)] == started["serve"]  # finished where it started
        assert {by_run[str(r)] for r in after_stop} == {"serve-a", "serve-b"} - {started["serve"]}
        assert definition(deployment_id) == defined  # and still not paused


def test_a_second_signal_cancels_the_running_flows(prefect_api: None, tmp_path: Path) -> None:
    (tmp_path / "executions").mkdir()
    apply_probe_deployment()
    with serve_process("serve-c", tmp_path) as serve:
        (long_run,) = start_runs(1, seconds=120.0)
        wait_for(
            lambda: bool(executions(tmp_path, "started")), RUNS_SECONDS, "the long run to start"
        )
        os.kill(serve.pid, signal.SIGTERM)  # drains: the run would go on for two minutes
        time.sleep(1)  # not a timing assertion: lets the first signal be handled on its own
        os.kill(serve.pid, signal.SIGTERM)
        assert serve.wait(60) == 0
        # Cancelled, a final state: cleanup-stale-uploads restarts an ingestion left so.
        wait_for(
            lambda: states([long_run])[long_run] not in {"RUNNING", "CANCELLING"},
            RUNS_SECONDS,
            "the run to end",
        )
        assert states([long_run]) == {long_run: "CANCELLED"}
        assert not executions(tmp_path, "ended")
