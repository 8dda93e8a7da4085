"""Starting runs of the project's deployments and reading whether a run is live.

The API (confirm, train) and the flows (an ingestion taking over a dead run, the cleanup
restarting stuck ones) both call these, so they live below both, not in `deployments/`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any
from uuid import UUID

import httpx
from prefect import get_client
from prefect.client.orchestration import SyncPrefectClient
from prefect.exceptions import ObjectNotFound, PrefectHTTPStatusError
from prefect.settings import PREFECT_API_URL

from core.errors import OrchestratorUnavailableError

INGEST_DATASET_DEPLOYMENT = "ingest-dataset/ingest-dataset"
TRAIN_MODEL_DEPLOYMENT = "train-model/train-model"


# Deployment ids by (Prefect API URL, name), so a confirm costs one round trip, not two.
_deployment_ids: dict[tuple[str | None, str], UUID] = {}

# The client `start_deployment_run` uses inside `reused_client()`: one connection kept open,
# instead of a new client (and TCP connection) per run.
_reused_client: ContextVar[SyncPrefectClient | None] = ContextVar("reused_client", default=None)


@contextmanager
def reused_client() -> Iterator[None]:
    """Runs started inside share one Prefect client (the API's run dispatcher creates every run
    of its process this way)."""
    with get_client(sync_client=True) as client:
        token = _reused_client.set(client)
        try:
            yield
        finally:
            _reused_client.reset(token)


@contextmanager
def _client() -> Iterator[SyncPrefectClient]:
    reused = _reused_client.get()
    if reused is not None:
        yield reused
        return
    with get_client(sync_client=True) as client:
        yield client


def start_deployment_run(deployment: str, parameters: dict[str, Any], idempotency_key: str) -> str:
    """Creates a run of `deployment` once per idempotency key; returns the run's id.

    Asking again with the same key returns the run created the first time (Prefect keeps one
    run per deployment and key), so a retried confirm never starts a second ingestion.
    """
    cache_key = (PREFECT_API_URL.value(), deployment)
    try:
        with _client() as client:
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


# A version whose ingestion runs keep ending without a result (crashes, cancellations) is given
# up after this many runs, so a file that kills its run is not retried forever.
MAX_INGESTION_RUNS = 5


def run_is_live(flow_run_id: str) -> bool:
    """Whether the flow run exists and is not in a final state (scheduled, pending, running)."""
    try:
        with get_client(sync_client=True) as client:
            try:
                state = client.read_flow_run(UUID(flow_run_id)).state
            except ObjectNotFound:
                return False
    except (httpx.HTTPError, PrefectHTTPStatusError, OSError) as exc:
        raise OrchestratorUnavailableError(
            f"the orchestrator (Prefect) cannot be reached ({type(exc).__name__})"
        ) from None
    return state is not None and not state.is_final()


def restart_ingestion(version_id: str) -> str | None:
    """A live ingestion run of the version, created if needed; None after MAX_INGESTION_RUNS.

    Prefect answers an idempotency key already used with the run it created then, even if that
    run has ended. So the keys form a chain: the version id (the key confirm uses), then
    `{version_id}:retry:{id of the ended run}`, and so on until a run is live. The chain is
    derived from Prefect's own records, so two cleanups racing on one version create the same
    new run, never two.
    """
    key = version_id
    # Only continues an unfinished ingestion: a version the ended run's failure hook recorded
    # `failed` meanwhile stays failed (see `flows.ingest_dataset.ingest_dataset`).
    parameters = {"version_id": version_id, "unfinished_only": True}
    for _ in range(MAX_INGESTION_RUNS):
        run_id = start_deployment_run(INGEST_DATASET_DEPLOYMENT, parameters, key)
        if run_is_live(run_id):
            return run_id
        key = f"{version_id}:retry:{run_id}"
    return None


def start_training(job_id: str, version_id: str, target: str) -> str:
    return start_deployment_run(
        TRAIN_MODEL_DEPLOYMENT,
        {"version_id": version_id, "target": target, "job_id": job_id},
        idempotency_key=job_id,
    )
