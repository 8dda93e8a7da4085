"""A flow that records each execution of its runs in a file of its own, so a test can count
executions per run and see which serve ran each (tests/support/serve_probe_runner.py serves
it)."""

from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path
from uuid import UUID

from prefect import flow
from prefect.events import DeploymentEventTrigger
from prefect.runtime import flow_run
from prefect.schedules import Cron

from deployments.local import LocalDeployment

# Where the executions are recorded: a directory the test makes, one file per execution.
EXECUTIONS_DIR_VARIABLE = "AUTOML_TEST_EXECUTIONS_DIR"
SERVE_NAME_VARIABLE = "AUTOML_TEST_SERVE_NAME"


@flow(name="serve-probe")
def serve_probe(seconds: float = 0.5) -> None:
    """Writes `started-*.json` as it starts and `ended-*.json` as it ends, naming its serve."""
    executions = Path(os.environ[EXECUTIONS_DIR_VARIABLE])
    record = {"flow_run_id": str(flow_run.id), "serve": os.environ[SERVE_NAME_VARIABLE]}
    execution = uuid.uuid4().hex
    (executions / f"started-{execution}.json").write_text(json.dumps(record))
    time.sleep(seconds)  # long enough for runs to overlap, and for a stop to find one running
    (executions / f"ended-{execution}.json").write_text(json.dumps(record))


PROBE = LocalDeployment(
    serve_probe,
    "serve-probe",
    "Records each execution.",
    ["test"],
    # Served deployments keep what the server has: these must not be duplicated or replaced.
    schedules=[Cron("0 0 1 1 *", timezone="UTC")],  # yearly: no run of it during the test
    triggers=[
        DeploymentEventTrigger(name="serve-probe-on-test-event", expect={"automl.test.probe"})
    ],
)


def apply_probe_deployment() -> UUID:
    """The probe's deployment as `prefect deploy` would define it: a schedule and a trigger."""
    deployment_id: UUID = PROBE.flow.to_deployment(**PROBE.options()).apply()  # type: ignore[union-attr,assignment]  # sync
    return deployment_id
