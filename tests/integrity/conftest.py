"""fsck fixtures: the API over a fresh bucket of each store kind, on each catalog database, with
the deployments its confirm and train start registered (nothing serves them: the tests run the
flows themselves)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from core.settings import get_settings
from flows.train_model import train_model
from tests.support.api_client import Api, make_api
from tests.support.stored_state import StoredState, stored_state
from tests.support.stores import Store


@pytest.fixture(scope="session")
def train_deployment(prefect_api: None) -> str:
    deployment: Any = train_model.to_deployment(name="train-model")  # sync: not awaited
    return str(deployment.apply())


@pytest.fixture
def api(
    bucket: Store,
    database_url: str,
    ingest_deployment: str,
    train_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    """The API over `bucket` with its catalog on `database_url` (SQLite, PostgreSQL)."""
    monkeypatch.setenv("AUTOML_DATABASE_URL", database_url)
    monkeypatch.setenv("AUTOML_TRAINING_BUDGET_SECONDS", "2")
    get_settings.cache_clear()
    yield from make_api(bucket)


@pytest.fixture
def state(bucket: Store) -> Iterator[StoredState]:
    """A bucket of each store kind and a SQLite catalog that agree, to tamper with."""
    with stored_state(bucket) as made:
        yield made


@pytest.fixture
def state_on_each_database(
    bucket: Store, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StoredState]:
    """The same on each catalog database (SQLite, PostgreSQL)."""
    monkeypatch.setenv("AUTOML_DATABASE_URL", database_url)
    get_settings.cache_clear()
    with stored_state(bucket) as made:
        yield made
