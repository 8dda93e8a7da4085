"""What AUTOML_TOKEN_CACHE_SECONDS bounds: a token revoked behind the API's back (another
process, such as `automl token revoke`) works at most that long after, and no longer; with 0,
not at all. An expired token is refused from its expiry, remembered or not."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
import sqlalchemy as sa

from catalog.accounts import create_token, hash_token
from catalog.database import catalog_for
from catalog.tables import ApiToken, utcnow
from tests.support.api_client import Api
from tests.support.token_clock import Clock


def _revoke_behind_the_apis_back(api: Api, token: str) -> None:
    """As another process would: a plain UPDATE, not `catalog.accounts` in this process."""
    with catalog_for(api.settings.catalog_url).session() as session:
        session.execute(
            sa.update(ApiToken)
            .where(ApiToken.token_hash == hash_token(token))
            .values(revoked_at=utcnow())
        )


def _usage(api: Api, token: str) -> int:
    answer = api.client.get("/api/usage", headers={"Authorization": f"Bearer {token}"})
    return int(answer.status_code)


def test_a_token_revoked_elsewhere_is_refused_once_its_time_to_live_has_passed(
    api_with: Callable[..., Api], clock: Clock
) -> None:
    api = api_with(AUTOML_TOKEN_CACHE_SECONDS="5")
    with catalog_for(api.settings.catalog_url).session() as session:
        token = create_token(session, api.settings, "carol", "free")
    assert _usage(api, token) == 200
    _revoke_behind_the_apis_back(api, token)
    clock.now += 4.5
    assert _usage(api, token) == 200  # remembered: the stated bound, not a stricter one
    clock.now += 1
    assert _usage(api, token) == 401


def test_without_a_time_to_live_a_token_revoked_elsewhere_is_refused_at_once(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(AUTOML_TOKEN_CACHE_SECONDS="0")
    with catalog_for(api.settings.catalog_url).session() as session:
        token = create_token(session, api.settings, "dave", "free")
    assert _usage(api, token) == 200
    _revoke_behind_the_apis_back(api, token)
    assert _usage(api, token) == 401


def test_a_remembered_token_is_refused_from_its_expiry(
    api_with: Callable[..., Api], monkeypatch: pytest.MonkeyPatch
) -> None:
    api = api_with(AUTOML_TOKEN_CACHE_SECONDS="300")
    with catalog_for(api.settings.catalog_url).session() as session:
        token = create_token(session, api.settings, "erin", "free", timedelta(minutes=1))
    assert _usage(api, token) == 200
    later = utcnow() + timedelta(minutes=1)
    monkeypatch.setattr("api.deps.utcnow", lambda: later)
    monkeypatch.setattr("catalog.accounts.utcnow", lambda: later)
    assert _usage(api, token) == 401
