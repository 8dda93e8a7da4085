"""A revoked or expired token, or a disabled user's token, is refused (401, the error body) on
every authenticated route of the app's OpenAPI schema; a live token on the same routes is not."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from catalog.accounts import create_token, disable_user, hash_token, revoke_token
from catalog.database import catalog_for
from catalog.tables import ApiToken
from tests.support.api_client import Api

# Well-formed ids nothing has: a route reached with them answers 404/409, not 401.
UNKNOWN_ID = "0" * 32


def _authenticated_operations(api: Api) -> list[tuple[str, str]]:
    """Every (method, path) whose OpenAPI operation requires the bearer token, ids filled in;
    checks that the only routes without one are the health check's."""
    schema = api.client.app.openapi()  # type: ignore[attr-defined]
    operations, public = [], set()
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if operation.get("security"):
                operations.append((method.upper(), re.sub(r"\{[^}]+\}", UNKNOWN_ID, path)))
            else:
                public.add(path)
    assert public == {"/healthz"}
    return operations


def _refused_tokens(api: Api) -> dict[str, str]:
    """A token in each refused state, by the reason the 401 names."""
    with catalog_for(api.settings.catalog_url).session() as session:
        revoked = create_token(session, api.settings, "alice", "free")
        revoke_token(session, revoked)
        expired = create_token(session, api.settings, "alice", "free", timedelta(hours=1))
        session.execute(
            sa.update(ApiToken)
            .where(ApiToken.token_hash == hash_token(expired))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        disabled = create_token(session, api.settings, "mallory", "free")
        disable_user(session, "mallory")
    return {"revoked": revoked, "expired": expired, "disabled": disabled}


def test_refused_tokens_get_401_on_every_authenticated_route(api: Api) -> None:
    operations = _authenticated_operations(api)
    assert len(operations) >= 10, operations  # the schema's routes, not a handful picked here
    with catalog_for(api.settings.catalog_url).session() as session:
        live = create_token(session, api.settings, "alice", "free")
    refused = _refused_tokens(api)
    for method, path in operations:
        answer = api.client.request(method, path, headers={"Authorization": f"Bearer {live}"})
        assert answer.status_code != 401, (method, path, answer.text)
        for reason, token in refused.items():
            answer = api.client.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, json={}
            )
            assert answer.status_code == 401, (reason, method, path, answer.text)
            assert answer.headers["WWW-Authenticate"] == "Bearer"
            error = answer.json()["error"]
            assert error["code"] == "unauthenticated"
            assert reason in error["message"], (reason, error)
            assert token not in answer.text


@pytest.mark.parametrize("state", ["revoked", "disabled"])
def test_a_token_refused_mid_session_is_refused_from_the_next_request(api: Api, state: str) -> None:
    with catalog_for(api.settings.catalog_url).session() as session:
        token = create_token(session, api.settings, "bob", "free")
    headers = {"Authorization": f"Bearer {token}"}
    assert api.client.get("/api/usage", headers=headers).status_code == 200
    with catalog_for(api.settings.catalog_url).session() as session:
        if state == "revoked":
            revoke_token(session, token)
        else:
            disable_user(session, "bob")
    answer = api.client.get("/api/usage", headers=headers)
    assert answer.status_code == 401 and state in answer.json()["error"]["message"]
