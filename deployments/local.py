"""The deployments `automl up` serves from its own process (a Prefect runner)."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger

from core.events import MODEL_PUBLISHED
from flows.ingest_dataset import ingest_dataset
from flows.render_plots import render_plots
from flows.setup_storage import setup_storage
from flows.train_model import train_model


def plots_trigger() -> DeploymentEventTrigger:
    """`render-plots` runs for each published model, its `job_id` taken from the event."""
    return DeploymentEventTrigger(
        name="render-plots-on-model-published",
        expect={MODEL_PUBLISHED},
        match={"prefect.resource.id": "automl.model.*"},
        parameters={"job_id": "{{ event.payload.job_id }}"},
    )


def local_deployments() -> list[RunnerDeployment]:
    """Every deployment of the project, named as in `prefect.yaml`."""
    return [
        ingest_dataset.to_deployment(  # type: ignore[list-item]  # sync context: not a coroutine
            name="ingest-dataset",
            description="Runs are created by the API on confirm (idempotency key: version id).",
            tags=["automl", "datasets"],
        ),
        train_model.to_deployment(  # type: ignore[list-item]  # sync context: not a coroutine
            name="train-model",
            description="Runs are created by the API's POST /api/jobs/train (key: job id).",
            tags=["automl", "models"],
        ),
        render_plots.to_deployment(  # type: ignore[list-item]  # sync context: not a coroutine
            name="render-plots",
            description="Triggered by automl.model.published; draws the PNGs of a model.",
            tags=["automl", "plots"],
            triggers=[plots_trigger()],
        ),
        setup_storage.to_deployment(  # type: ignore[list-item]  # sync context: not a coroutine
            name="setup-storage",
            description="Creates and secures the bucket; run on demand or by `automl up`.",
            tags=["automl", "storage"],
        ),
    ]
