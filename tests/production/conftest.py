"""Fixtures of the production path: its own Prefect server on PostgreSQL, `prefect deploy`
from a fresh copy of the checkout, process workers (not the session's Prefect harness)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from catalog.database import migrate
from tests.support.production import Deployed, deployed_clone, postgres_database
from tests.support.stores import StoreSpec
from tests.support.worker_pool import Pool, worker_pool


@pytest.fixture(scope="module")
def deployed(tmp_path_factory: pytest.TempPathFactory, postgres_server: str) -> Iterator[Deployed]:
    """`prefect server start` on PostgreSQL and `prefect deploy --all` from a fresh copy of the
    checkout: one server and one deploy for the module."""
    with deployed_clone(tmp_path_factory.mktemp("production"), postgres_server) as deployed:
        yield deployed


@pytest.fixture
def shared_catalog_url(postgres_server: str) -> Iterator[str]:
    """The catalog the API and every worker share, on PostgreSQL as in production."""
    with postgres_database(postgres_server, "psycopg") as url:
        migrate(url)
        yield url


@pytest.fixture
def pool(
    deployed: Deployed, default_store_spec: StoreSpec, shared_catalog_url: str, tmp_path: Path
) -> Iterator[Pool]:
    """Two process workers on the deployed clone's pool and the API, over a fresh bucket of the
    default store and the shared catalog."""
    with worker_pool(deployed, default_store_spec, shared_catalog_url, tmp_path) as started:
        yield started
