"""Emitting the project's events (names and resource ids come from `core.events`)."""

from __future__ import annotations

from typing import Any

from prefect.events import emit_event

from core.events import ResourceKind, resource_id


def emit(
    event: str,
    kind: ResourceKind,
    identifier: str,
    payload: dict[str, Any],
    related: dict[ResourceKind, str] | None = None,
) -> None:
    """Emits `event` about `automl.<kind>.<id>`, with related resources by role (= their kind)."""
    emit_event(
        event=event,
        resource={"prefect.resource.id": resource_id(kind, identifier)},
        related=[
            {"prefect.resource.id": resource_id(role, value), "prefect.resource.role": role}
            for role, value in (related or {}).items()
        ],
        payload=payload,
    )
