"""The comparison `automl.dataset.ingested` carries: a new version against the one before it."""

from __future__ import annotations

import dataclasses
from typing import Any

from prefect import task

from catalog.tables import DatasetVersion
from catalog.version_comparison import compare_versions, version_before
from core.errors import NotFoundError
from core.excerpts import NAME_MAX_CHARS, excerpt
from core.settings import get_settings
from core.version_changes import ProfileChanges
from tasks.records import CATALOG_RETRIES, catalog_session

# Prefect refuses an event past 1.5 MB (and `emit_event` raises): a file of 20,000 columns
# replacing another would list them all. The event keeps this many entries of each list and
# names cut after `NAME_MAX_CHARS`; `complete` says whether anything was left out (the API's
# route answers in full).
EVENT_MAX_LISTED = 100
_LISTS = ("columns_added", "columns_removed", "type_changes", "null_rate_changes")


@task(task_run_name="compare-{version_id}", **CATALOG_RETRIES)
def changes_since_previous(version_id: str) -> dict[str, Any]:
    """`since_version_id` and the changes, as `GET .../versions/{id}/changes` answers them
    without `since` (the latest version before it that is ready at this moment), bounded for
    the event (`event_changes`)."""
    with catalog_session() as session:
        version = session.get(DatasetVersion, version_id)
        if version is None:
            raise NotFoundError(f"no version {version_id}")
        compared = compare_versions(
            version, version_before(session, version), get_settings().null_rate_change_threshold
        )
    return {"since_version_id": compared.since_version_id, **event_changes(compared.changes)}


def event_changes(changes: ProfileChanges) -> dict[str, Any]:
    """`changes` as JSON, at most `EVENT_MAX_LISTED` entries a list, names excerpted."""
    payload = dataclasses.asdict(changes)
    complete = True
    for listed in _LISTS:
        entries: list[dict[str, Any]] = payload[listed]
        complete = complete and len(entries) <= EVENT_MAX_LISTED
        payload[listed] = [
            {**entry, "name": excerpt(entry["name"], NAME_MAX_CHARS)}
            for entry in entries[:EVENT_MAX_LISTED]
        ]
        complete = complete and all(len(e["name"]) <= NAME_MAX_CHARS for e in entries)
    return {**payload, "complete": complete}
