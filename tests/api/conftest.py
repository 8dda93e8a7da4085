"""API fixtures: the app over a fresh bucket (tests/support/api_client.py), and the ingest
deployment its confirm starts."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from tests.support.api_client import Api, api_factory, make_api
from tests.support.stores import Store, StoreSpec, use_store


@pytest.fixture
def api_store(
    default_store_spec: StoreSpec, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """A fresh bucket on the default store (moto, or AUTOML_TEST_S3_ENDPOINT)."""
    handle = use_store(default_store_spec, monkeypatch)
    handle.create_bucket()
    yield handle
    handle.remove_bucket()


@pytest.fixture
def api(api_store: Store, ingest_deployment: str) -> Iterator[Api]:
    """The API on the default store with a SQLite catalog in the test's data dir."""
    yield from make_api(api_store)


@pytest.fixture
def api_with(
    api_store: Store, ingest_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Api]]:
    """The API over the default store, made after setting the given variables."""
    yield from api_factory(api_store, monkeypatch)


@pytest.fixture
def api_on_each_store_with(
    bucket: Store, ingest_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Api]]:
    """The API over each store kind (LocalStack's checks signatures), made after setting the
    given variables."""
    yield from api_factory(bucket, monkeypatch)
