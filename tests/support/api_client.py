"""One test's API: the FastAPI app in-process behind Starlette's test client, over a test's
store and its SQLite catalog, with tokens minted in that catalog."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from catalog.accounts import create_token
from catalog.database import catalog_for
from catalog.tables import User
from core.settings import Settings, get_settings
from tests.support.stores import Store


@dataclass
class Api:
    """One test's API: an HTTP client on the app, its settings and store, and token minting."""

    client: TestClient
    settings: Settings
    store: Store

    def token(self, user: str = "alice", tier: str | None = None) -> dict[str, str]:
        """Authorization headers of a new token for `user` (created on first use, `free` unless
        another tier is named)."""
        with catalog_for(self.settings.catalog_url).session() as session:
            existing = session.get(User, user)
            tier = tier or (existing.tier if existing else "free")
            token = create_token(session, self.settings, user, tier)
        return {"Authorization": f"Bearer {token}"}

    def post(self, path: str, json: dict[str, Any], user: str = "alice") -> httpx.Response:
        response: httpx.Response = self.client.post(path, json=json, headers=self.token(user))
        return response


def make_api(store: Store) -> Iterator[Api]:
    settings = get_settings()
    with TestClient(create_app(settings, storage=store.block)) as client:
        yield Api(client, settings, store)


def api_factory(store: Store, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Api]]:
    """Yields `configured(**variables)`: sets the variables, then makes the API over `store`."""
    with ExitStack() as stack:

        def configured(**variables: str) -> Api:
            for name, value in variables.items():
                monkeypatch.setenv(name, value)
            get_settings.cache_clear()
            return stack.enter_context(contextmanager(make_api)(store))

        yield configured
