"""Reading back the events a test caused, from the Prefect server (polled, bounded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL


def find_events(
    name: str, matches: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The events called `name` that satisfy `matches`, once at least one has arrived."""
    EventsWorker.drain_all()
    deadline = time.monotonic() + timeout
    while True:
        response = httpx.post(
            f"{PREFECT_API_URL.value()}/events/filter",
            json={"filter": {"event": {"name": [name]}}, "limit": 50},
        )
        response.raise_for_status()
        found = [event for event in response.json()["events"] if matches(event)]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.3)


def related_ids(event: dict[str, Any]) -> set[str]:
    return {resource["prefect.resource.id"] for resource in event["related"]}
