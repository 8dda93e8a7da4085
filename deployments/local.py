"""The deployments `automl up` serves from its own process (a Prefect runner)."""

from __future__ import annotations

from prefect.deployments.runner import RunnerDeployment

from flows.ingest_dataset import ingest_dataset
from flows.setup_storage import setup_storage


def local_deployments() -> list[RunnerDeployment]:
    """Every deployment of the project, named as in `prefect.yaml`."""
    return [
        ingest_dataset.to_deployment(  # type: ignore[list-item]  # sync context: not a coroutine
            name="ingest-dataset",
            description="Runs are created by the API on confirm (idempotency key: version id).",
            tags=["automl", "datasets"],
        ),
        setup_storage.to_deployment(  # type: ignore[list-item]  # sync context: not a coroutine
            name="setup-storage",
            description="Creates and secures the bucket; run on demand or by `automl up`.",
            tags=["automl", "storage"],
        ),
    ]
