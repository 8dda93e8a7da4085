"""The deployments `automl up` serves from its own process (a Prefect runner)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from prefect import Flow
from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.runner import Runner
from prefect.schedules import Cron, Interval, Schedule

from core.events import MODEL_PUBLISHED
from flows.cleanup_stale_uploads import cleanup_stale_uploads
from flows.ingest_dataset import ingest_dataset
from flows.purge_deleted import purge_deleted
from flows.render_plots import render_plots
from flows.setup_storage import setup_storage
from flows.train_model import train_model

# The schedules prefect.yaml declares too.
CLEANUP_SCHEDULE = Interval(timedelta(minutes=15))
PURGE_SCHEDULE = Cron("0 3 * * *", timezone="UTC")  # daily, 03:00 UTC


def plots_trigger() -> DeploymentEventTrigger:
    """`render-plots` runs for each published model, its `job_id` taken from the event."""
    return DeploymentEventTrigger(
        name="render-plots-on-model-published",
        expect={MODEL_PUBLISHED},
        match={"prefect.resource.id": "automl.model.*"},
        parameters={"job_id": "{{ event.payload.job_id }}"},
    )


@dataclass(frozen=True)
class LocalDeployment:
    """One deployment as `automl up` serves it: a flow and its deployment options."""

    flow: Flow[..., Any]
    name: str
    description: str
    tags: list[str]
    schedules: list[Schedule] = field(default_factory=list)
    triggers: list[DeploymentEventTrigger] = field(default_factory=list)

    def options(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "tags": self.tags,
            "schedules": self.schedules,
            "triggers": self.triggers,
        }


LOCAL_DEPLOYMENTS = (
    LocalDeployment(
        ingest_dataset,
        "ingest-dataset",
        "Runs are created by the API on confirm (idempotency key: version id).",
        ["automl", "datasets"],
    ),
    LocalDeployment(
        train_model,
        "train-model",
        "Runs are created by the API's POST /api/jobs/train (key: job id).",
        ["automl", "models"],
    ),
    LocalDeployment(
        render_plots,
        "render-plots",
        "Triggered by automl.model.published; draws the PNGs of a model.",
        ["automl", "plots"],
        triggers=[plots_trigger()],
    ),
    LocalDeployment(
        setup_storage,
        "setup-storage",
        "Creates and secures the bucket; run on demand or by `automl up`.",
        ["automl", "storage"],
    ),
    LocalDeployment(
        cleanup_stale_uploads,
        "cleanup-stale-uploads",
        "Expires stale uploads, removes stray temp objects, restarts stuck runs.",
        ["automl", "lifecycle"],
        schedules=[CLEANUP_SCHEDULE],
    ),
    LocalDeployment(
        purge_deleted,
        "purge-deleted",
        "Removes deleted/ objects older than AUTOML_DELETED_RETENTION_DAYS.",
        ["automl", "lifecycle"],
        schedules=[PURGE_SCHEDULE],
    ),
)


def local_deployments() -> list[RunnerDeployment]:
    """Every deployment of the project, named as in `prefect.yaml`."""
    return [
        d.flow.to_deployment(**d.options())  # type: ignore[misc]  # sync context: not a coroutine
        for d in LOCAL_DEPLOYMENTS
    ]


def add_local_deployments(
    runner: Runner, deployments: Iterable[LocalDeployment] = LOCAL_DEPLOYMENTS
) -> None:
    """Registers the deployments with `runner` together with their flow objects: the runner then
    starts a run as a child process running that flow (`run_flow_in_subprocess`, which
    deployments/warm_start.py makes fast), not as a `python -m prefect.engine` command that
    loads the flow from its file (what `Runner.add_deployment` and `prefect.serve` do)."""
    for d in deployments:
        runner.add_flow(d.flow, **d.options())


def served_flow_modules(
    deployments: Iterable[LocalDeployment] = LOCAL_DEPLOYMENTS,
) -> list[str]:
    """The modules a flow run of these deployments imports first (deployments/warm_start.py)."""
    return sorted({d.flow.fn.__module__ for d in deployments})
