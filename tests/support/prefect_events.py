"""Reading back the events a test caused, from the Prefect server (polled, bounded)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import httpx
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL

# Prefect's events worker is one per API URL and outlives the tests: one left sending to a server
# a test has stopped retries each event 10 times, so an unbounded drain of every worker waited
# past the tests' 5-minute limit. The worker of the live server drains in milliseconds.
DRAIN_SECONDS = 10.0


def drain_events(timeout: float = DRAIN_SECONDS) -> None:
    """Sends what this process's events workers hold, waiting at most `timeout` seconds. Prefect
    stops and forgets every worker either way (the next event starts a new one), so a worker
    still retrying a stopped server is out of later `drain_all` calls, such as the harness's
    teardown (only the interpreter's exit would still wait for it)."""
    EventsWorker.drain_all(timeout=timeout)


def find_events(
    name: str, matches: Callable[[dict[str, Any]], bool], timeout: float = 30.0
) -> list[dict[str, Any]]:
    """The events called `name` that satisfy `matches`, once at least one has arrived."""
    drain_events()
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
