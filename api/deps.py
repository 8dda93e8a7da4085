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


# The dependencies that only read the app's state are `async def`: FastAPI runs a plain `def`
# dependency in the thread pool, a hop per dependency per request that costs more than the work.
async def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.automl
    return state


async def _settings(state: Annotated[ApiState, Depends(_state)]) -> Settings:
    return state.settings


async def _catalog(state: Annotated[ApiState, Depends(_state)]) -> Catalog:
    return state.catalog


async def _storage(state: Annotated[ApiState, Depends(_state)]) -> S3Bucket:
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
