"""Fixtures of the fault scenarios (docs/reliability.md, *Faults*): the API over a bucket reached
through the fault proxy, retries that wait less, the catalog's PostgreSQL seen from outside, and
a Prefect server of their own that can be restarted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import prefect.client.base as client_base
import pytest
import sqlalchemy as sa
from prefect.events.clients import PrefectEventsClient
from prefect.events.worker import EventsWorker
from prefect.settings import PREFECT_API_URL, PREFECT_CLIENT_MAX_RETRIES, temporary_settings
from prefect.utilities.math import clamped_poisson_interval

from tests.support.api_client import Api, api_factory
from tests.support.catalog_server import CatalogServer
from tests.support.fault_proxy import FaultProxy, fault_proxy
from tests.support.load_checks import (
    LOAD_INGESTION_DEADLINE_SECONDS,
    LOAD_ROUNDS,
    LOAD_USERS,
    Loaded,
    check_loaded,
    wait_for_ingestions,
)
from tests.support.load_driver import DrivePlan, UserPlan, driver_process
from tests.support.load_stack import S3Endpoint, load_stack, remove_bucket
from tests.support.prefect_events import drain_events
from tests.support.prefect_server import (
    RestartablePrefectServer,
    block_classes_on,
    restartable_prefect_server,
)
from tests.support.stores import Store, StoreSpec, use_store


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
def catalog_server(database_url: str, postgres_server: str) -> Iterator[CatalogServer]:
    admin = sa.create_engine(postgres_server, isolation_level="AUTOCOMMIT")
    yield CatalogServer(database_url, admin)
    admin.dispose()


@pytest.fixture
def api_on_postgres(
    faulty_api: Callable[..., tuple[Api, FaultProxy]], database_url: str
) -> tuple[Api, FaultProxy]:
    return faulty_api(AUTOML_DATABASE_URL=database_url)


@pytest.fixture(scope="module")
def prefect_server(
    tmp_path_factory: pytest.TempPathFactory, prefect_api: None
) -> Iterator[RestartablePrefectServer]:
    with restartable_prefect_server(tmp_path_factory.mktemp("prefect-server")) as server:
        yield server


@pytest.fixture
def own_prefect(
    prefect_server: RestartablePrefectServer, monkeypatch: pytest.MonkeyPatch
) -> Iterator[RestartablePrefectServer]:
    """This test talks to the restartable server, and its Prefect client waits between retries
    as Prefect's does (2, 4, 8 ... s, 5 times), not the session's capped waits: a restart is
    what they are for. Events and block classes go to this server too, then back to the session's:
    Prefect's events worker is one per process and otherwise keeps the API URL it started
    with, and block classes keep the ids of the server they last met."""
    if not prefect_server.answers():
        prefect_server.start()
    monkeypatch.setattr(client_base, "clamped_poisson_interval", clamped_poisson_interval)
    session_api = str(PREFECT_API_URL.value())
    drain_events()
    EventsWorker.set_client_override(PrefectEventsClient, api_url=prefect_server.api_url)
    try:
        with (
            temporary_settings(
                updates={PREFECT_API_URL: prefect_server.api_url},
                restore_defaults={PREFECT_CLIENT_MAX_RETRIES},
            ),
            block_classes_on(prefect_server.api_url),
        ):
            yield prefect_server
    finally:
        drain_events()
        EventsWorker.set_client_override(PrefectEventsClient, api_url=session_api)


@pytest.fixture
def proxied_bucket(
    default_store_spec: StoreSpec, own_prefect: RestartablePrefectServer, monkeypatch: Any
) -> Iterator[tuple[Store, FaultProxy]]:
    """A fresh bucket behind the fault proxy, its storage block saved on the restartable
    server."""
    with fault_proxy(default_store_spec.endpoint) as proxy:
        spec = default_store_spec.through(proxy.endpoint_url)
        store = use_store(spec, monkeypatch)
        store.create_bucket()
        yield store, proxy
        store.remove_bucket()


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory, postgres_server: str, default_store_spec: StoreSpec
) -> Iterator[Loaded]:
    """One stack and one load for the module; the verdict is taken before any test runs."""
    spec = default_store_spec
    s3 = S3Endpoint(spec.endpoint, spec.access_key, spec.secret_key, spec.region)
    with load_stack(tmp_path_factory.mktemp("load"), postgres_server, s3, LOAD_USERS) as stack:
        try:
            users = tuple(
                UserPlan(i, u, t) for i, (u, t) in enumerate(sorted(stack.tokens.items()))
            )
            with driver_process() as drive:
                result = drive(DrivePlan(stack.api_url, users, LOAD_ROUNDS))
            wait_for_ingestions(
                stack.catalog_url, len(result.confirmed), LOAD_INGESTION_DEADLINE_SECONDS
            )
            yield Loaded(stack, result, check_loaded(stack, result))
        finally:
            remove_bucket(stack.store(), stack.settings.r2_bucket_name)
