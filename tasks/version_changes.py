"""The comparison `automl.dataset.ingested` carries: a new version against the one before it."""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import task

from catalog.tables import DatasetVersion
from catalog.version_comparison import compare_versions, version_before
from core.errors import NotFoundError
from core.settings import get_settings
from tasks.records import CATALOG_RETRIES, catalog_session


@task(task_run_name="compare-{version_id}", **CATALOG_RETRIES)
def changes_since_previous(version_id: str) -> dict[str, Any]:
    """`since_version_id` and the changes, as `GET .../versions/{id}/changes` answers them
    without `since` (the latest version before it that is ready at this moment)."""
    with catalog_session() as session:
        version = session.get(DatasetVersion, version_id)
        if version is None:
            raise NotFoundError(f"no version {version_id}")
        compared = compare_versions(
            version, version_before(session, version), get_settings().null_rate_change_threshold
        )
    return {
        "since_version_id": compared.since_version_id,
        **dataclasses.asdict(compared.changes),
    }
