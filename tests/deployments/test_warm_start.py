"""The runner of `automl up` starts flow runs forked from a process that imported the flows
already (deployments/warm_start.py), not in a new interpreter that imports them first."""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
from pathlib import Path
from typing import Any

import prefect.flow_engine
import pytest
from prefect.client.orchestration import get_client
from prefect.deployments import run_deployment
from prefect.runner import Runner

from deployments.local import LocalDeployment, add_local_deployments, served_flow_modules
from deployments.warm_start import WarmStartError, warm_flow_processes
from tests.support.warm_probe import warm_probe

PROBE = LocalDeployment(warm_probe, "warm-probe", "Reports its process.", ["test"])


async def _state_of(flow_run_id: object) -> str:
    async with get_client() as client:
        flow_run = await client.read_flow_run(flow_run_id)  # type: ignore[arg-type]
    assert flow_run.state is not None
    return flow_run.state.type.value


@pytest.mark.e2e  # a warm process of its own, and a flow run forked from it
def test_a_served_flow_runs_in_a_child_of_the_process_that_imported_it(
    prefect_api: None, tmp_path: Path
) -> None:
    out = tmp_path / "probe.json"
    runner = Runner(name="warm-start-test")
    with warm_flow_processes(served_flow_modules([PROBE])):
        add_local_deployments(runner, [PROBE])
        flow_run: Any = run_deployment(  # sync context: a FlowRun, not a coroutine
            "warm-probe/warm-probe", parameters={"out": str(out)}, timeout=0
        )
        asyncio.run(runner.start(run_once=True))
    assert asyncio.run(_state_of(flow_run.id)) == "COMPLETED"
    facts = json.loads(out.read_text())
    # The module was imported once, by the warm process; the run is a fork of that process.
    # A spawned interpreter would have imported it itself (imported_in == ran_in).
    assert facts["parent"] == facts["imported_in"]
    assert facts["ran_in"] != facts["imported_in"]
    assert facts["imported_in"] != os.getpid()
    # Outside the context, Prefect starts runs its own way again.
    assert vars(prefect.flow_engine)["multiprocessing"] is multiprocessing


def test_the_warm_process_imports_every_served_flow() -> None:
    assert served_flow_modules() == [
        "flows.cleanup_stale_uploads",
        "flows.ingest_dataset",
        "flows.purge_deleted",
        "flows.render_plots",
        "flows.setup_storage",
        "flows.train_model",
    ]


@pytest.mark.e2e  # a warm process of its own, importing Prefect's engine
def test_the_warm_process_has_imported_the_flows_before_it_is_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The forkserver imports its preload list after it started, in its own time: a run forked
    # before that import ended waits for it (the first run after `automl up`, 16 s). Ready means
    # the import has ended: the slow module has written its marker.
    marker = tmp_path / "imported"
    monkeypatch.setenv("AUTOML_TEST_SLOW_IMPORT_MARKER", str(marker))
    with warm_flow_processes(["tests.support.slow_import"]):
        assert marker.exists()
        assert int(marker.read_text()) != os.getpid()  # imported by the warm process


@pytest.mark.e2e  # a warm process of its own, importing Prefect's engine
def test_a_flow_module_the_warm_process_cannot_import_is_an_error() -> None:
    # multiprocessing's forkserver skips a preload module that fails to import: every run
    # would import it itself, cold (or fail). The stack must not report ready that way.
    with (
        pytest.raises(WarmStartError, match="could not import"),
        warm_flow_processes(["tests.support.no_such_flow_module"]),
    ):
        pass
    # Nothing is left behind: Prefect starts runs its own way again.
    assert vars(prefect.flow_engine)["multiprocessing"] is multiprocessing
