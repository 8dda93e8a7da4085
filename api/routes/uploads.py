"""Upload routes: presigned upload URLs, multipart part URLs and abort, confirm, and the state of
open uploads (to resume them)."""

from __future__ import annotations

from fastapi import APIRouter, status
from starlette.concurrency import run_in_threadpool

from api.deps import CatalogDep, CurrentUser, SettingsDep, StateDep, StorageDep
from api.identifiers import UploadIdPath
from api.schemas import (
    ConfirmRequest,
    ConfirmResponse,
    ErrorBody,
    UploadAbortRequest,
    UploadAbortResponse,
    UploadPartsRequest,
    UploadPartsResponse,
    UploadState,
    UploadStateList,
    UploadUrlRequest,
    UploadUrlResponse,
)
from api.store_warnings import embedded_store_warnings
from api.upload_protocol import abort_upload, confirm, request_part_urls, request_upload
from api.upload_state import pending_uploads, upload_state

router = APIRouter(prefix="/api/datasets", tags=["uploads"])


def _errors(*codes: int) -> dict[int | str, dict[str, object]]:
    return {code: {"model": ErrorBody} for code in (400, 401, *codes)}


# The hot routes are `async def` with their catalog work handed to the thread pool once: FastAPI
# runs a plain `def` route in the thread pool and then its response model's validation in a
# second hop; each hop is a pair of thread wake-ups (docs/benchmarks.md, "After round 3").
@router.post("/upload-url", response_model=UploadUrlResponse, responses=_errors(413, 429, 507))
async def upload_url(
    body: UploadUrlRequest, user: CurrentUser, state: StateDep
) -> UploadUrlResponse:
    """Reserve quota for a file and get where to PUT it (or a multipart plan for large files)."""
    settings = state.settings
    answer = await run_in_threadpool(
        request_upload, settings, state.catalog, state.storage, user, body.filename, body.size_bytes
    )
    answer.warnings = embedded_store_warnings(settings, state.embedded_store, body.size_bytes)
    return answer


@router.post("/upload-parts", response_model=UploadPartsResponse, responses=_errors(404, 409, 410))
def upload_parts(
    body: UploadPartsRequest,
    user: CurrentUser,
    settings: SettingsDep,
    catalog: CatalogDep,
    storage: StorageDep,
) -> UploadPartsResponse:
    """Presigned URLs for parts of a multipart upload; send each part with its `headers`."""
    return request_part_urls(settings, catalog, storage, user, body.upload_id, body.part_numbers)


@router.post("/upload-abort", response_model=UploadAbortResponse, responses=_errors(404, 409))
def upload_abort(
    body: UploadAbortRequest, user: CurrentUser, catalog: CatalogDep, storage: StorageDep
) -> UploadAbortResponse:
    """Abort a multipart upload: its parts are discarded and its reservation released."""
    abort_upload(catalog, storage, user, body.upload_id)
    return UploadAbortResponse(upload_id=body.upload_id)


@router.post(
    "/confirm",
    response_model=ConfirmResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses=_errors(404, 409, 410, 422, 503, 429),
)
async def confirm_upload(
    body: ConfirmRequest, user: CurrentUser, state: StateDep
) -> ConfirmResponse:
    """Confirm an uploaded file: creates the dataset version and starts its ingestion.

    Idempotent: confirming the same upload again answers with the same ids and run
    (`flow_run_id` is null while the run is still being created: confirm again to read it).
    """
    return await run_in_threadpool(
        confirm, state.settings, state.catalog, state.storage, user, body
    )


@router.get("/uploads", response_model=UploadStateList, responses=_errors())
def list_pending_uploads(
    user: CurrentUser, catalog: CatalogDep, storage: StorageDep
) -> UploadStateList:
    """The caller's uploads still open (pending, not expired), newest first, with the parts the
    store holds: what a client offers to resume."""
    return pending_uploads(catalog, storage, user)


@router.get("/uploads/{upload_id}", response_model=UploadState, responses=_errors(404, 410))
def read_upload_state(
    upload_id: UploadIdPath, user: CurrentUser, catalog: CatalogDep, storage: StorageDep
) -> UploadState:
    """One upload's plan, status and the parts the store holds (`stored_parts`, from the
    store's ListParts): a resuming client sends only the other parts, then confirms."""
    return upload_state(catalog, storage, user, upload_id)
