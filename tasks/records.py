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
)
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
def record_ingesting(version_id: str, flow_run_id: str | None) -> bool:
    with catalog_session() as session:
        return mark_ingesting(session, version_id, flow_run_id)


@task(task_run_name="record-ready-{version_id}", **CATALOG_RETRIES)
def record_ready(version_id: str, outcome: IngestionOutcome) -> bool:
    with catalog_session() as session:
        return mark_ready(session, version_id, outcome)


@task(task_run_name="record-failed-{version_id}", **CATALOG_RETRIES)
def record_failed(version_id: str, reason: str) -> None:
    with catalog_session() as session:
        mark_failed(session, version_id, reason)
