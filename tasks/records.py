"""Tasks that read and record ingestion state in the catalog (retried on a lost connection)."""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any

from prefect import task
from sqlalchemy.orm import Session

from catalog.database import catalog_for
from catalog.datasets import (
    IngestionOutcome,
    IngestionTarget,
    ingestion_target,
    mark_failed,
    mark_ingesting,
    mark_ready,
    mark_stopped_run_failed,
)
from catalog.uploads import reserve_parquet
from core.errors import AutomlError
from core.settings import get_settings

# Catalog tasks retry a lost connection; their transitions are conditional, so a retried write
# never applies twice.
CATALOG_RETRIES: dict[str, Any] = {"retries": 3, "retry_delay_seconds": [1, 2, 4]}


def catalog_session() -> AbstractContextManager[Session]:
    """A catalog transaction on the configured database."""
    return catalog_for(get_settings().catalog_url).session()


@task(task_run_name="load-version-{version_id}", **CATALOG_RETRIES)
def load_ingestion_target(version_id: str) -> IngestionTarget:
    with catalog_session() as session:
        return ingestion_target(session, version_id)


@task(task_run_name="start-version-{version_id}", **CATALOG_RETRIES)
def record_ingesting(
    version_id: str, flow_run_id: str | None, unfinished_only: bool = False
) -> bool:
    with catalog_session() as session:
        return mark_ingesting(session, version_id, flow_run_id, unfinished_only)


@task(task_run_name="record-ready-{version_id}", **CATALOG_RETRIES)
def record_ready(version_id: str, outcome: IngestionOutcome) -> bool:
    with catalog_session() as session:
        return mark_ready(session, version_id, outcome)


def _not_refused(task: object, run: object, state: Any) -> bool:
    """Retry a lost connection, never a refusal of ours (over the quota)."""
    try:
        state.result(raise_on_failure=True)
    except AutomlError:
        return False
    except Exception:
        return True
    return False


@task(
    task_run_name="reserve-parquet-{version_id}",
    retry_condition_fn=_not_refused,
    **CATALOG_RETRIES,
)
def reserve_parquet_bytes(version_id: str, size_bytes: int) -> None:
    """Checks the Parquet file against the quota and reserves it, before it is uploaded (see
    `catalog.uploads.reserve_parquet`); raises `QuotaExceededError` (not retried) when over."""
    with catalog_session() as session:
        reserve_parquet(session, get_settings(), version_id, size_bytes)


@task(task_run_name="record-failed-{version_id}", **CATALOG_RETRIES)
def record_failed(version_id: str, reason: str, upload_kept: bool = True) -> bool:
    """True if the version is now failed (False: it is ready, nothing changed)."""
    with catalog_session() as session:
        return mark_failed(session, version_id, reason, upload_kept)


def record_stopped_run_failed(version_id: str, flow_run_id: str, reason: str) -> bool:
    """`record_failed` for a run that was stopped (its time limit) before it recorded an
    outcome. Not a task: it runs from the flow's failure hook, once the run has ended."""
    with catalog_session() as session:
        return mark_stopped_run_failed(session, version_id, flow_run_id, reason)
