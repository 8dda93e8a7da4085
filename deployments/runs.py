"""Starting runs of the project's deployments from outside Prefect (the API)."""

from __future__ import annotations

from typing import Any

import httpx
from prefect import get_client
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError

from core.errors import OrchestratorUnavailableError

INGEST_DATASET_DEPLOYMENT = "ingest-dataset/ingest-dataset"


def start_deployment_run(deployment: str, parameters: dict[str, Any], idempotency_key: str) -> str:
    """Creates a run of `deployment` once per idempotency key; returns the run's id.

    Asking again with the same key returns the run created the first time (Prefect keeps one
    run per deployment and key), so a retried confirm never starts a second ingestion.
    """
    try:
        with get_client(sync_client=True) as client:
            found = client.read_deployment_by_name(deployment)
            run = client.create_flow_run_from_deployment(
                found.id, parameters=parameters, idempotency_key=idempotency_key
            )
    except ObjectNotFound:
        raise OrchestratorUnavailableError(
            f"the deployment {deployment} is not registered on the Prefect server; "
            "start the stack (`automl up`) or run `prefect deploy --all`"
        ) from None
    except (httpx.HTTPError, PrefectHTTPStatusError, OSError) as exc:
        raise OrchestratorUnavailableError(
            f"the orchestrator (Prefect) cannot be reached ({type(exc).__name__}); "
            "nothing was lost, confirm again later"
        ) from None
    return str(run.id)


def start_ingestion(version_id: str) -> str:
    return start_deployment_run(
        INGEST_DATASET_DEPLOYMENT, {"version_id": version_id}, idempotency_key=version_id
    )
