"""Dependencies of the routes: settings, catalog, storage block and the authenticated user."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prefect_aws import S3Bucket
from starlette.concurrency import run_in_threadpool

from catalog.accounts import hash_token, live_token
from catalog.database import Catalog
from catalog.tables import utcnow
from catalog.verified_tokens import VerifiedUser, verified_tokens
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


async def _current_user(
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    state: Annotated[ApiState, Depends(_state)],
) -> AuthenticatedUser:
    """A token verified in the last AUTOML_TOKEN_CACHE_SECONDS is answered from memory, on the
    event loop; else the catalog is asked in the thread pool (catalog/verified_tokens.py)."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise UnauthenticatedError("send an API token as `Authorization: Bearer <token>`")
    token, settings = credentials.credentials, state.settings
    ttl = settings.token_cache_seconds
    if ttl > 0:
        known = verified_tokens.lookup(hash_token(token), ttl, utcnow())
        if known is not None:
            return AuthenticatedUser(known.id, known.tier, settings.tier(known.tier))
    return await run_in_threadpool(_verify_token, token, settings, state.catalog)


def _verify_token(token: str, settings: Settings, catalog: Catalog) -> AuthenticatedUser:
    generation, started = verified_tokens.begin()
    with catalog.session() as session:
        record, user = live_token(session, token)  # 401 unless the token is live
        verified = VerifiedUser(user.id, user.tier)
        expires_at = record.expires_at
    if settings.token_cache_seconds > 0:
        verified_tokens.remember(hash_token(token), verified, expires_at, started, generation)
    return AuthenticatedUser(verified.id, verified.tier, settings.tier(verified.tier))


CurrentUser = Annotated[AuthenticatedUser, Depends(_current_user)]


async def _embedded_store(state: Annotated[ApiState, Depends(_state)]) -> bool:
    return state.embedded_store


EmbeddedStoreDep = Annotated[bool, Depends(_embedded_store)]


# The whole state as one dependency, for the hot routes: FastAPI walks every dependency of a
# route on every request (0.03 ms each here), so a route that needs several parts takes this.
StateDep = Annotated[ApiState, Depends(_state)]
