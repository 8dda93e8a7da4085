"""Usage and trash routes: what the caller stores against the quota, and purging trash."""

from __future__ import annotations

from fastapi import APIRouter

from api.deps import CatalogDep, CurrentUser, StorageDep
from api.schemas import ErrorBody, TrashPurgeResponse, UsageResponse
from api.trash_protocol import purge_trash, read_usage

router = APIRouter(tags=["usage"])


@router.get("/api/usage", response_model=UsageResponse, responses={401: {"model": ErrorBody}})
def usage(user: CurrentUser, catalog: CatalogDep) -> UsageResponse:
    """Quota, used, trash and reserved bytes, used and trash broken down by datasets, models
    and plots."""
    return read_usage(catalog, user)


@router.delete(
    "/api/trash",
    response_model=TrashPurgeResponse,
    responses={401: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
def purge(user: CurrentUser, catalog: CatalogDep, storage: StorageDep) -> TrashPurgeResponse:
    """Removes the caller's trash for good at once (soft-deleted objects and failed uploads'
    kept files), instead of after the retention period; its bytes leave the quota."""
    return purge_trash(catalog, storage, user.id)
