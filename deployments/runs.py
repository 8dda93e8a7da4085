"""Starting runs of the project's deployments from outside Prefect (the API)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

import httpx
from prefect import get_client
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL

from core.errors import OrchestratorUnavailableError

INGEST_DATASET_DEPLOYMENT = "ingest-dataset/ingest-dataset"
TRAIN_MODEL_DEPLOYMENT = "train-model/train-model"


# Deployment ids by (Prefect API URL, name), so a confirm costs one round trip, not two.
_deployment_ids: dict[tuple[str | None, str], UUID] = {}


def start_deployment_run(deployment: str, parameters: dict[str, Any], idempotency_key: str) -> str:
    """Creates a run of `deployment` once per idempotency key; returns the run's id.

    Asking again with the same key returns the run created the first time (Prefect keeps one
    run per deployment and key), so a retried confirm never starts a second ingestion.
    """
    cache_key = (PREFECT_API_URL.value(), deployment)
    try:
        with get_client(sync_client=True) as client:
            deployment_id = _deployment_ids.get(cache_key)
            if deployment_id is None:
                deployment_id = client.read_deployment_by_name(deployment).id
                _deployment_ids[cache_key] = deployment_id
            try:
                run = client.create_flow_run_from_deployment(
                    deployment_id, parameters=parameters, idempotency_key=idempotency_key
                )
            except Exception:
                _deployment_ids.pop(cache_key, None)  # maybe re-created: look it up next time
                raise
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


def start_training(job_id: str, version_id: str, target: str) -> str:
    return start_deployment_run(
        TRAIN_MODEL_DEPLOYMENT,
        {"version_id": version_id, "target": target, "job_id": job_id},
        idempotency_key=job_id,
    )
