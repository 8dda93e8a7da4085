"""Dependencies of the routes: settings, catalog, storage block and the authenticated user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prefect_aws import S3Bucket

from catalog.accounts import authenticate
from catalog.database import Catalog
from core.errors import UnauthenticatedError
from core.settings import Settings, Tier


@dataclass(frozen=True)
class ApiState:
    """What every request shares, fixed when the app is created."""

    settings: Settings
    catalog: Catalog
    storage: S3Bucket
    # The stack runs on the embedded store (`automl up` without R2_ENDPOINT): a configuration
    # fact the stack passes in, never guessed from which S3 server answers.
    embedded_store: bool = False


def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.automl
    return state


def _settings(state: Annotated[ApiState, Depends(_state)]) -> Settings:
    return state.settings


def _catalog(state: Annotated[ApiState, Depends(_state)]) -> Catalog:
    return state.catalog


def _storage(state: Annotated[ApiState, Depends(_state)]) -> S3Bucket:
    return state.storage


SettingsDep = Annotated[Settings, Depends(_settings)]
CatalogDep = Annotated[Catalog, Depends(_catalog)]
StorageDep = Annotated[S3Bucket, Depends(_storage)]


@dataclass(frozen=True)
class AuthenticatedUser:
    id: str
    tier_name: str
    tier: Tier


_bearer = HTTPBearer(auto_error=False, description="An API token from `automl token create`.")


def _current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    settings: SettingsDep,
    catalog: CatalogDep,
) -> AuthenticatedUser:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("send an API token as `Authorization: Bearer <token>`")
    with catalog.session() as session:
        user = authenticate(session, credentials.credentials)  # 401 unless the token is live
        return AuthenticatedUser(user.id, user.tier, settings.tier(user.tier))


CurrentUser = Annotated[AuthenticatedUser, Depends(_current_user)]


def _embedded_store(state: Annotated[ApiState, Depends(_state)]) -> bool:
    return state.embedded_store


EmbeddedStoreDep = Annotated[bool, Depends(_embedded_store)]
