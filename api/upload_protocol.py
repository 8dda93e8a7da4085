"""The upload protocol's steps: reserve and sign, hand out part URLs, abort, confirm.

Each step commits the catalog before it answers, and orders its work so a crash or a refused
request at any point leaves nothing lost: a reservation is released if its store-side upload
cannot be opened, and a confirmed upload whose ingestion could not be started stays confirmable
(and its run is created later, once: api/run_dispatch.py).
"""

from __future__ import annotations

from datetime import timedelta

from prefect_aws import S3Bucket
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.deps import AuthenticatedUser
from api.run_dispatch import run_dispatcher
from api.schemas import (
    ConfirmRequest,
    ConfirmResponse,
    MultipartPlanOut,
    PartUrl,
    UploadPartsResponse,
    UploadUrlResponse,
)
from blocks.objects import MAX_OBJECT_BYTES, head_object, write_tombstone
from blocks.presigning import (
    MultipartPlan,
    MultipartRejectedError,
    abort_multipart,
    complete_multipart,
    expiry,
    needs_multipart,
    plan_multipart,
    presign_part,
    presign_put,
    start_multipart,
)
from catalog.confirmations import (
    Confirmation,
    claim_announcement,
    confirm_upload,
    existing_confirmation,
    finished_confirmation,
    lock_upload,
)
from catalog.database import Catalog
from catalog.in_flight import claim_ingestion_slot
from catalog.tables import DatasetVersion, Upload, utcnow
from catalog.uploads import (
    attach_multipart,
    check_open,
    pending_upload,
    release_upload,
    reserve_upload,
    reserve_upload_at_once,
    users_upload,
)
from core.errors import (
    ConflictError,
    ContentRejectedError,
    ExpiredError,
    FileTooLargeError,
    InvalidInputError,
)
from core.settings import Settings
from core.statuses import UploadStatus, VersionStatus
from core.upload_windows import CONFIRM_GRACE, MULTIPART_UPLOAD_WINDOW
from orchestrator.events import announce_upload_confirmed


def request_upload(
    settings: Settings,
    catalog: Catalog,
    storage: S3Bucket,
    user: AuthenticatedUser,
    filename: str,
    size_bytes: int,
) -> UploadUrlResponse:
    """Reserves quota for the file and signs a PUT, or opens a multipart upload for it.

    The upload stays confirmable for a grace period after its URL expires, so a PUT that
    started just before the expiry is not lost; its reservation counts until then.
    """
    if size_bytes > MAX_OBJECT_BYTES:
        raise FileTooLargeError(f"an object holds at most {MAX_OBJECT_BYTES:,} bytes (5 TiB)")
    multipart = needs_multipart(size_bytes, settings.multipart_threshold_bytes)
    plan = plan_multipart(size_bytes) if multipart else None
    lifetime = timedelta(seconds=settings.presign_expires_seconds)
    if multipart:
        lifetime = max(lifetime, MULTIPART_UPLOAD_WINDOW)
    expires_at = utcnow() + lifetime + CONFIRM_GRACE
    upload = None
    with catalog.single_statement() as connection:  # PostgreSQL: one round trip
        if connection is not None:
            upload = reserve_upload_at_once(
                connection, user.id, user.tier, filename, size_bytes, expires_at
            )
    if upload is None:  # SQLite, or not decided in one statement: under the user's lock
        with catalog.session() as session:
            upload = reserve_upload(session, user.id, user.tier, filename, size_bytes, expires_at)
    upload_id, key = upload.id, upload.temp_key
    try:
        if plan is None:
            signed = presign_put(storage, key, size_bytes, settings.presign_expires_seconds)
            return UploadUrlResponse(
                upload_id=upload_id,
                upload_url=signed.url,
                method="PUT",
                headers=signed.headers,
                expires_at=signed.expires_at,
            )
        multipart_upload_id = start_multipart(storage, key)
    except Exception:
        with catalog.session() as session:  # nothing was handed out: give the bytes back
            release_upload(session, upload_id)
        raise
    with catalog.session() as session:
        attach_multipart(session, upload_id, multipart_upload_id, plan.part_size, plan.part_count)
    return UploadUrlResponse(
        upload_id=upload_id,
        expires_at=expiry(int(lifetime.total_seconds())),
        multipart=MultipartPlanOut(part_size=plan.part_size, part_count=plan.part_count),
    )


def _multipart_of(upload: Upload) -> tuple[str, MultipartPlan]:
    if not upload.multipart_upload_id or not upload.part_size or not upload.part_count:
        raise ConflictError(f"upload {upload.id} is a single PUT, not a multipart upload")
    return upload.multipart_upload_id, MultipartPlan(upload.part_size, upload.part_count)


def request_part_urls(
    settings: Settings,
    catalog: Catalog,
    storage: S3Bucket,
    user: AuthenticatedUser,
    upload_id: str,
    part_numbers: list[int],
) -> UploadPartsResponse:
    """Presigned PUT URLs for the asked parts, each bound to its exact length."""
    now = utcnow()
    with catalog.session() as session:
        upload = pending_upload(session, user.id, upload_id, now)
        multipart_upload_id, plan = _multipart_of(upload)
        key, size_bytes, expires_at = upload.temp_key, upload.size_bytes, upload.expires_at
    wrong = sorted({n for n in part_numbers if not 1 <= n <= plan.part_count})
    if wrong:
        raise InvalidInputError(
            f"part numbers must be within 1..{plan.part_count}; got {', '.join(map(str, wrong))}"
        )
    # A part URL never outlives the window the upload takes bytes in.
    window = int((expires_at - CONFIRM_GRACE - now).total_seconds())
    if window < 1:
        raise ExpiredError(f"upload {upload_id} no longer takes parts; request a new upload URL")
    expires_in = min(settings.presign_expires_seconds, window)
    parts = []
    for number in sorted(set(part_numbers)):
        signed = presign_part(
            storage,
            key,
            multipart_upload_id,
            number,
            plan.part_length(number, size_bytes),
            expires_in,
        )
        parts.append(
            PartUrl(
                part_number=number,
                upload_url=signed.url,
                headers=signed.headers,
                expires_at=signed.expires_at,
            )
        )
    return UploadPartsResponse(upload_id=upload_id, parts=parts)


def abort_upload(
    catalog: Catalog, storage: S3Bucket, user: AuthenticatedUser, upload_id: str
) -> None:
    """Closes a pending multipart upload (releasing its reservation), then aborts it at the
    store. Closing first, under the upload's lock, means a racing confirm either finished before
    (and the abort is refused) or finds the upload aborted."""
    with catalog.session() as session:
        upload = users_upload(session, user.id, upload_id)
        if upload.status == UploadStatus.ABORTED:
            return  # aborting twice is the same as aborting once
        multipart_upload_id, _ = _multipart_of(upload)
        key = upload.temp_key
        lock_upload(session, upload_id)
        if not release_upload(session, upload_id):
            raise ConflictError(f"upload {upload_id} is no longer open; it cannot be aborted")
    abort_multipart(storage, key, multipart_upload_id)


def _check_stored_file(storage: S3Bucket, upload: Upload, request: ConfirmRequest) -> None:
    """Makes sure the store holds the whole declared file at the upload's key (multipart:
    assembles it from the parts first)."""
    info = head_object(storage, upload.temp_key)
    if info is None and upload.multipart_upload_id:
        _complete_parts(storage, upload, request)
        info = head_object(storage, upload.temp_key)
    if info is None:
        raise ConflictError(
            f"no file has been uploaded for upload {upload.id}; PUT it to the upload URL first"
        )
    if info.size != upload.size_bytes:
        raise ContentRejectedError(
            f"the uploaded file is {info.size:,} bytes, but {upload.size_bytes:,} were declared; "
            "it was removed: request a new upload URL"
        )


def _complete_parts(storage: S3Bucket, upload: Upload, request: ConfirmRequest) -> None:
    if not request.parts:
        raise InvalidInputError("a multipart upload is confirmed with `parts`: every part's ETag")
    numbers = sorted(part.part_number for part in request.parts)
    if numbers != list(range(1, (upload.part_count or 0) + 1)):
        raise InvalidInputError(
            f"parts must list each part 1..{upload.part_count} once; got {len(numbers)} parts"
        )
    try:
        complete_multipart(
            storage,
            upload.temp_key,
            str(upload.multipart_upload_id),
            [(part.part_number, part.etag) for part in request.parts],
        )
    except MultipartRejectedError as exc:
        if head_object(storage, upload.temp_key) is None:  # not a concurrent confirm's success
            raise ConflictError(f"the store could not assemble the parts: {exc}") from exc


def _earlier_or_open(
    session: Session, user: AuthenticatedUser, upload_id: str
) -> Confirmation | Upload:
    """The confirmation made before, else the upload if it is still open for confirming."""
    upload = users_upload(session, user.id, upload_id)
    if upload.status != UploadStatus.PENDING:
        earlier = existing_confirmation(session, upload_id)
        if earlier is not None:
            return earlier
    return check_open(upload, utcnow())


def _confirm_in_catalog(
    catalog: Catalog, storage: S3Bucket, user: AuthenticatedUser, request: ConfirmRequest
) -> Confirmation:
    """Checks the stored file without holding a lock, then creates the version under one."""
    with catalog.session() as session:
        found = _earlier_or_open(session, user, request.upload_id)
    if isinstance(found, Confirmation):
        return found
    try:
        _check_stored_file(storage, found, request)
    except ContentRejectedError:
        # Not the declared file: removed, and the upload closed with its reservation released,
        # so the user can start again at once. A tombstone replaces it, so the upload URL (still
        # valid) cannot write the key again.
        write_tombstone(storage, found.temp_key)
        with catalog.session() as session:
            release_upload(session, found.id, UploadStatus.REJECTED)
        raise
    try:
        with catalog.session() as session:
            lock_upload(session, request.upload_id)
            found = _earlier_or_open(session, user, request.upload_id)
            if isinstance(found, Confirmation):
                return found
            # A new version: within the user's limit of ingestions in flight (429 beyond it),
            # counted under their lock in this transaction. A repeated confirm is not counted.
            claim_ingestion_slot(session, user.id, user.tier)
            return confirm_upload(session, found, request.dataset_name, request.dataset_id)
    except IntegrityError:
        # A concurrent confirm of the same upload won the race: answer with its version.
        with catalog.session() as session:
            earlier = existing_confirmation(session, request.upload_id)
        if earlier is None:
            raise
        return earlier


def _answered_before(
    catalog: Catalog, user: AuthenticatedUser, upload_id: str
) -> ConfirmResponse | None:
    """The answer of a confirm repeated after an earlier one finished (its run recorded and the
    upload announced), read in one transaction instead of three: nothing is left for it to do,
    since `confirmed_at` is set once and never cleared. None when anything is still to do."""
    with catalog.session() as session:
        finished = finished_confirmation(session, user.id, upload_id)
    if finished is None:
        return None
    earlier, status = finished
    return ConfirmResponse(
        dataset_id=earlier.dataset_id,
        version_id=earlier.version_id,
        status=status,
        flow_run_id=earlier.flow_run_id,
    )


def confirm(
    settings: Settings,
    catalog: Catalog,
    storage: S3Bucket,
    user: AuthenticatedUser,
    request: ConfirmRequest,
) -> ConfirmResponse:
    """Confirms an upload once: the same ids and the same ingestion run every time after.

    The version is committed as the run's request before the run is created; the process's run
    dispatcher creates it (api/run_dispatch.py). A confirm first in line waits for its run; one
    queued behind other confirms' runs waits `confirm_run_wait_seconds` (default 0) and answers
    without `flow_run_id`, the run being created all the same. An orchestrator that is down
    costs a 503 and a later confirm (or the dispatcher's retry), never the upload.
    `automl.upload.confirmed` is emitted once, by whoever claims the announcement once the run
    exists.
    """
    answered = _answered_before(catalog, user, request.upload_id)
    if answered is not None:
        return answered
    confirmation = _confirm_in_catalog(catalog, storage, user, request)
    flow_run_id = confirmation.flow_run_id
    if flow_run_id is None:
        flow_run_id = (
            run_dispatcher(catalog)
            .request(confirmation.version_id)
            .wait(settings.confirm_run_wait_seconds)
        )
    else:
        with catalog.session() as session:
            # The run recorded itself (or a confirm recorded it and stopped before announcing):
            # exactly one confirm that knows the run announces the upload.
            first = claim_announcement(session, request.upload_id)
        if first:
            announce_upload_confirmed(
                request.upload_id, confirmation.dataset_id, confirmation.version_id, flow_run_id
            )
    with catalog.session() as session:
        version = session.get(DatasetVersion, confirmation.version_id)
        status = version.status if version is not None else VersionStatus.PENDING
    return ConfirmResponse(
        dataset_id=confirmation.dataset_id,
        version_id=confirmation.version_id,
        status=status,
        flow_run_id=flow_run_id,
    )
