"""The deployments `automl up` serves from its own process (a Prefect runner)."""

from __future__ import annotations

from datetime import timedelta

from prefect.deployments.runner import RunnerDeployment
from prefect.events import DeploymentEventTrigger
from prefect.schedules import Cron, Interval

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
        cleanup_stale_uploads.to_deployment(  # type: ignore[list-item]  # sync: not a coroutine
            name="cleanup-stale-uploads",
            description="Expires stale uploads, removes stray temp objects, restarts stuck runs.",
            tags=["automl", "lifecycle"],
            schedules=[CLEANUP_SCHEDULE],
        ),
        purge_deleted.to_deployment(  # type: ignore[list-item]  # sync: not a coroutine
            name="purge-deleted",
            description="Removes deleted/ objects older than AUTOML_DELETED_RETENTION_DAYS.",
            tags=["automl", "lifecycle"],
            schedules=[PURGE_SCHEDULE],
        ),
    ]
