"""Flow fixtures: confirmed uploads to ingest, and the lifecycle state the cleanup and purge
flows work on, each on a fresh bucket of each store kind."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.ingestions import MakeIngestion, confirmed_uploads
from tests.support.lifecycle import LifecycleState, lifecycle_state
from tests.support.stores import Store


@pytest.fixture
def confirmed(bucket: Store) -> Iterator[MakeIngestion]:
    with confirmed_uploads(bucket) as make:
        yield make


@pytest.fixture
def state(bucket: Store, ingest_deployment: str) -> Iterator[LifecycleState]:
    """The catalog and bucket the lifecycle flows clean; the ingest deployment registered, for
    the runs cleanup-stale-uploads starts again."""
    with lifecycle_state(bucket) as made:
        yield made
