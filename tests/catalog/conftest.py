"""Catalog fixtures: a migrated catalog on each database kind, with the users its module names."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog.database import Catalog, migrate
from catalog.tables import User


@pytest.fixture
def catalog(database_url: str, request: pytest.FixtureRequest) -> Iterator[Catalog]:
    """A migrated catalog on each database kind (`database_url`), holding the users of the
    test's `catalog_users` marker (user id = tier; none without the marker): each module's tests
    start from the users it states once at its top."""
    migrate(database_url)
    handle = Catalog(database_url)
    users = request.node.get_closest_marker("catalog_users")
    if users is not None:
        with handle.session() as session:
            session.add_all([User(id=user, tier=tier) for user, tier in users.kwargs.items()])
    yield handle
    handle.dispose()


@pytest.fixture
def sqlite_catalog(tmp_path: Path) -> Iterator[Catalog]:
    """A migrated catalog in a SQLite file, with a `filler` table to commit rows of any size
    into (tests/catalog/test_wal_checkpoints.py)."""
    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    migrate(url)
    catalog = Catalog(url)
    with catalog.session() as session:
        session.execute(sa.text("CREATE TABLE filler (payload BLOB)"))
    yield catalog
    catalog.dispose()
