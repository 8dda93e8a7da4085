"""Fixtures of the fault scenarios (docs/reliability.md, *Faults*): the API over a bucket reached
through the fault proxy, and retries that wait less."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
from botocore.retries.standard import ExponentialBackoff
from prefect import Task

import flows.cleanup_stale_uploads as cleanup_flow
import tasks.deletion
import tasks.lifecycle
import tasks.records
import tasks.storage
from tests.support.api_client import Api, api_factory
from tests.support.fault_proxy import FaultProxy
from tests.support.stores import Store

# Retrying tasks, and botocore between its own attempts, wait at most this long in the fault
# scenarios (see below).
BRIEF_RETRY_WAIT_SECONDS = 0.1


@pytest.fixture
def faulty_api(
    faulty_bucket: tuple[Store, FaultProxy], ingest_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[Api, FaultProxy]]]:
    """`make(**variables)`: the in-process API (SQLite catalog, or AUTOML_DATABASE_URL if
    given) over a fresh bucket of the default store that the fault proxy stands in front of;
    the flows run in-process reach the store through the same proxy."""
    store, proxy = faulty_bucket
    with contextmanager(api_factory)(store, monkeypatch) as make_api:
        yield lambda **variables: (make_api(**variables), proxy)


@pytest.fixture
def brief_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every retrying task of the storage, catalog and lifecycle steps keeps its number of
    retries and its retry conditions, but waits BRIEF_RETRY_WAIT_SECONDS between attempts
    instead of its backoff (1, 2, 4, 8 s for storage steps), and so does botocore between its
    own 4 attempts of a request (up to 1, 2, 4 s): a scenario whose outage outlasts every
    retry ends in seconds. What is tested (which failures are retried, how often, and the state
    each step leaves) is unchanged."""
    backoff = ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        ExponentialBackoff,
        "delay_amount",
        lambda self, context: min(backoff(self, context), BRIEF_RETRY_WAIT_SECONDS),
    )
    modules = (tasks.storage, tasks.records, tasks.deletion, tasks.lifecycle, cleanup_flow)
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Task) and value.retries:
                monkeypatch.setattr(value, "retry_delay_seconds", [BRIEF_RETRY_WAIT_SECONDS])
