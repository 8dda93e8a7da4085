"""Emitting the project's events (names and resource ids come from `core.events`)."""

from __future__ import annotations

from typing import Any

from prefect.events import emit_event

from core.events import UPLOAD_CONFIRMED, ResourceKind, resource_id


def emit(
    event: str,
    kind: ResourceKind,
    identifier: str,
    payload: dict[str, Any],
    related: dict[ResourceKind, str] | None = None,
    flow_run_id: str | None = None,
) -> None:
    """Emits `event` about `automl.<kind>.<id>`, with related resources by role (= their kind).

    `flow_run_id` links the event to a flow run it started, so the Prefect UI shows the event
    on that run's page (used by the API, which emits outside any run).
    """
    links = [
        {"prefect.resource.id": resource_id(role, value), "prefect.resource.role": role}
        for role, value in (related or {}).items()
    ]
    if flow_run_id is not None:
        links.append(
            {
                "prefect.resource.id": f"prefect.flow-run.{flow_run_id}",
                "prefect.resource.role": "flow-run",
            }
        )
    emit_event(
        event=event,
        resource={"prefect.resource.id": resource_id(kind, identifier)},
        related=links,
        payload=payload,
    )


def announce_upload_confirmed(
    upload_id: str, dataset_id: str, version_id: str, flow_run_id: str
) -> None:
    """`automl.upload.confirmed`, the same from the API's confirm and from the cleanup flow
    (whichever claimed the announcement: `catalog.confirmations.claim_announcement`)."""
    emit(
        UPLOAD_CONFIRMED,
        "upload",
        upload_id,
        {"dataset_id": dataset_id, "version_id": version_id, "flow_run_id": flow_run_id},
        related={"dataset": dataset_id, "version": version_id},
        flow_run_id=flow_run_id,
    )
