"""Where a secret could end up after a run of the stack, as text to search: everything a Prefect
server keeps and serves (flow and task runs with their parameters, logs, artifacts, events,
deployments, variables), and files (logs, databases) read as bytes."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

PAGE = 200
# What the Prefect API lists, by filter route; the storage block is left out on purpose: it
# holds the store's keys by design, and the server's authentication keeps it (issue 15, 9).
_LISTED = ("flow_runs", "task_runs", "logs", "artifacts", "deployments", "variables")


@dataclass(frozen=True)
class Place:
    """One place searched: what it is, and its text."""

    name: str
    text: str


def _post(client: httpx.Client, path: str, body: dict[str, Any]) -> Any:
    response = client.post(path, json=body)
    response.raise_for_status()
    return response.json()


def _listed(client: httpx.Client, route: str) -> Iterator[dict[str, Any]]:
    offset = 0
    while True:
        page = _post(client, f"/{route}/filter", {"limit": PAGE, "offset": offset})
        yield from page
        if len(page) < PAGE:
            return
        offset += PAGE


def _events(client: httpx.Client) -> Iterator[dict[str, Any]]:
    """Every event the server kept (a filter over the last day), page by page."""
    page = _post(client, "/events/filter", {"limit": 50})
    while True:
        yield from page["events"]
        if not page.get("next_page"):
            return
        response = client.get(page["next_page"])
        response.raise_for_status()
        page = response.json()


def prefect_places(api_url: str) -> list[Place]:
    """What the Prefect server at `api_url` serves, one place per route, as JSON text."""
    places = []
    with httpx.Client(base_url=api_url, timeout=60) as client:
        for route in _LISTED:
            items = list(_listed(client, route))
            places.append(Place(f"Prefect {route} ({len(items)})", json.dumps(items)))
        events = list(_events(client))
        places.append(Place(f"Prefect events ({len(events)})", json.dumps(events)))
    return places


def file_places(paths: Iterable[Path]) -> list[Place]:
    """Files as text (bytes decoded leniently: a database's pages hold text as is)."""
    return [
        Place(str(path), path.read_bytes().decode("utf-8", errors="replace"))
        for path in paths
        if path.is_file()
    ]


def findings(places: Iterable[Place], secrets: dict[str, str]) -> list[str]:
    """`what in where: ...context...` for each secret (name -> value) found in a place."""
    found = []
    for place in places:
        for name, value in secrets.items():
            at = place.text.find(value)
            if at >= 0:
                context = place.text[max(0, at - 160) : at + len(value) + 40]
                found.append(f"{name} in {place.name}: ...{context}...")
    return found
