"""Catalog fixtures: a migrated catalog on each database kind, with the users its module names."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

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
