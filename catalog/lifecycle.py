"""Catalog side of the scheduled lifecycle flows: stale uploads, stray temp objects, stuck
versions, and failed uploads whose kept object is purged."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from catalog.database import in_chunks
from catalog.tables import DatasetVersion, StoredObject, Upload
from catalog.usage import forget_object
from core.keys import TEMP_UPLOADS_PREFIX
from core.listings import ListedObject, OpenMultipart
from core.statuses import ObjectState, UploadStatus, VersionStatus

# Upload states whose temp object serves nothing: the bytes became a dataset version, or the
# upload was closed. Such an object (a tombstone, or the upload's own bytes if the step that
# closed it stopped before replacing them) is kept until the upload's URLs expired
# (`expires_at`), so the key stays occupied and the URLs, which sign `If-None-Match: *`, stay
# refused. A `failed` upload's object is kept for inspection (`purge-deleted` removes it after
# the retention period), a `confirmed` one is waiting for its ingestion.
STRAY_UPLOAD_STATES = frozenset(
    {
        UploadStatus.INGESTED,
        UploadStatus.ABORTED,
        UploadStatus.EXPIRED,
        UploadStatus.REJECTED,
        UploadStatus.PURGED,
    }
)
# Version states whose ingestion may still read the temp object: never touched.
UNFINISHED_VERSION_STATES = (VersionStatus.PENDING, VersionStatus.INGESTING)
# Ledger states of a temp key holding bytes still counted for the user: a failed version's kept
# upload, or one a delete has yet to move under `deleted/`. Never touched.
HELD_LEDGER_STATES = (ObjectState.KEPT, ObjectState.DELETING)


@dataclass(frozen=True)
class StaleUpload:
    """An upload this cleanup closed: what is left of it at the store."""

    upload_id: str
    temp_key: str
    multipart_upload_id: str | None


def expire_stale_uploads(session: Session, now: datetime) -> list[StaleUpload]:
    """Marks every pending upload whose confirm window closed `expired` and releases its
    reservation; returns the ones this call closed.

    The row is kept (status `expired`) for audit, and so that an object written later through a
    still-valid URL is recognised as a stray of a closed upload. Each change is a conditional
    UPDATE on `pending`: a confirm holds the upload's row lock (`lock_upload`) until it commits,
    so it either lands first (the UPDATE then matches nothing) or finds the upload expired.
    """
    candidates = session.execute(
        select(Upload.id, Upload.temp_key, Upload.multipart_upload_id).where(
            Upload.status == UploadStatus.PENDING, Upload.expires_at <= now
        )
    ).all()
    closed: list[StaleUpload] = []
    for upload_id, temp_key, multipart_upload_id in candidates:
        result = session.execute(
            update(Upload)
            .where(
                Upload.id == upload_id,
                Upload.status == UploadStatus.PENDING,
                Upload.expires_at <= now,
            )
            .values(status=UploadStatus.EXPIRED, reserved_bytes=0)
        )
        if cast("CursorResult[Any]", result).rowcount == 1:
            closed.append(StaleUpload(upload_id, temp_key, multipart_upload_id))
    return closed


def upload_id_of(key: str) -> str | None:
    """`uploads/temp/{upload_id}.{ext}` -> upload_id (None for a key of another shape)."""
    name = key.removeprefix(TEMP_UPLOADS_PREFIX)
    if name == key or "/" in name or "." not in name:
        return None
    return name.rsplit(".", 1)[0]


@dataclass(frozen=True)
class TempOwner:
    """The upload a temp object belongs to, and what became of it."""

    upload_id: str
    user_id: str
    temp_key: str
    status: UploadStatus
    size_bytes: int  # declared
    version_status: VersionStatus | None
    expires_at: datetime  # when its URLs stop being valid
    version_deleted: bool
    ledger_state: ObjectState | None  # of the ledger row at the temp key, if any

    def closed(self, size: int) -> bool:
        """Nothing will read the temp object (of `size` bytes): the upload was closed, or its
        failed version was deleted and the object is the empty tombstone its move left.

        A delete is recorded before its objects move: until then the kept upload is the only
        copy (its ledger row `kept` or `deleting`), whatever the version's `deleted_at` says."""
        if (
            self.version_status in UNFINISHED_VERSION_STATES
            or self.ledger_state in HELD_LEDGER_STATES
        ):
            return False
        if self.status in STRAY_UPLOAD_STATES:
            return True
        return self.status == UploadStatus.FAILED and self.version_deleted and size == 0


def temp_owners(session: Session, keys: Iterable[str]) -> dict[str, TempOwner]:
    """The upload each of `keys` (temp keys) belongs to, by key; a key no upload record names
    (or of another shape) is absent."""
    ids = sorted({upload_id for key in keys if (upload_id := upload_id_of(key))})
    owners: dict[str, TempOwner] = {}
    for chunk in in_chunks(ids):
        rows = session.execute(
            select(
                Upload.id,
                Upload.user_id,
                Upload.temp_key,
                Upload.status,
                Upload.size_bytes,
                DatasetVersion.status,
                Upload.expires_at,
                DatasetVersion.deleted_at,
                StoredObject.state,
            )
            .outerjoin(DatasetVersion, DatasetVersion.upload_id == Upload.id)
            .outerjoin(StoredObject, StoredObject.key == Upload.temp_key)
            .where(Upload.id.in_(chunk))
        ).all()
        for row in rows:
            owner = TempOwner(*row[:-2], version_deleted=row[-2] is not None, ledger_state=row[-1])
            owners[owner.temp_key] = owner
    return owners


def stray_temp_objects(
    session: Session, objects: list[ListedObject], orphaned_before: datetime, now: datetime
) -> list[str]:
    """The keys among `objects` that no upload needs any more.

    Stray: the object of a closed upload (`TempOwner.closed`) once the upload's URLs expired
    (`expires_at` before `now`; until then it keeps the key occupied, see
    `STRAY_UPLOAD_STATES`); or an object no upload record names, older than `orphaned_before`
    (the longest an upload stays open), so a record being created is never raced. Never stray:
    the object of a pending or confirmed upload, of a failed one whose version is not deleted
    (or not yet moved by its delete), or of a version still pending or ingesting.
    """
    owners = temp_owners(session, (item.key for item in objects))
    strays: list[str] = []
    for item in objects:
        owner = owners.get(item.key)
        if owner is None:
            if item.last_modified < orphaned_before:
                strays.append(item.key)
            continue
        if owner.closed(item.size) and owner.expires_at <= now:
            strays.append(item.key)
    return strays


def unowned_multipart_uploads(
    session: Session, uploads: list[OpenMultipart], initiated_before: datetime
) -> list[OpenMultipart]:
    """The multipart uploads among `uploads` started before `initiated_before` whose key belongs
    to no pending upload: safe to abort.

    Ownership is by key, not by multipart id: the upload row is committed before its multipart
    upload is opened at the store, so one whose id is not recorded yet is never taken for an
    orphan (and some stores, moto among them, report a fixed `Initiated` time).
    """
    old = [u for u in uploads if u.initiated < initiated_before]
    ids = sorted({upload_id for u in old if (upload_id := upload_id_of(u.key))})
    pending_keys: set[str] = set()
    for chunk in in_chunks(ids):
        pending_keys.update(
            session.execute(
                select(Upload.temp_key).where(
                    Upload.id.in_(chunk), Upload.status == UploadStatus.PENDING
                )
            ).scalars()
        )
    return [u for u in old if u.key not in pending_keys]


@dataclass(frozen=True)
class UnfinishedVersion:
    """A version whose ingestion has not finished, and the run last recorded for it."""

    version_id: str
    status: VersionStatus
    flow_run_id: str | None


def unfinished_versions(session: Session, created_before: datetime) -> list[UnfinishedVersion]:
    """Versions pending or ingesting created before `created_before` (a confirm that has just
    created one starts and records its run itself)."""
    rows = session.execute(
        select(DatasetVersion.id, DatasetVersion.status, DatasetVersion.flow_run_id)
        .where(
            DatasetVersion.status.in_(UNFINISHED_VERSION_STATES),
            DatasetVersion.deleted_at.is_(None),
            DatasetVersion.created_at < created_before,
        )
        .order_by(DatasetVersion.created_at)
    ).all()
    return [UnfinishedVersion(*row) for row in rows]


def unannounced_runs(session: Session, created_before: datetime) -> list[tuple[str, str]]:
    """(version id, recorded run id) of each version created before `created_before` whose
    ingestion run exists but whose upload was never announced (`confirmed_at` NULL): the
    confirm created the run and stopped before claiming the announcement."""
    rows = session.execute(
        select(DatasetVersion.id, DatasetVersion.flow_run_id)
        .join(Upload, Upload.id == DatasetVersion.upload_id)
        .where(
            DatasetVersion.flow_run_id.is_not(None),
            DatasetVersion.created_at < created_before,
            Upload.status != UploadStatus.PENDING,
            Upload.confirmed_at.is_(None),
        )
        .order_by(DatasetVersion.created_at)
    ).all()
    return [(version_id, str(run_id)) for version_id, run_id in rows]


def record_restarted_run(
    session: Session, version_id: str, previous_run_id: str | None, flow_run_id: str
) -> bool:
    """Records the run that cleanup started for an unfinished version, unless the version moved
    on meanwhile (finished, or claimed by another run); False then."""
    previous = (
        DatasetVersion.flow_run_id.is_(None)
        if previous_run_id is None
        else DatasetVersion.flow_run_id == previous_run_id
    )
    result = session.execute(
        update(DatasetVersion)
        .where(
            DatasetVersion.id == version_id,
            DatasetVersion.status.in_(UNFINISHED_VERSION_STATES),
            previous,
        )
        .values(flow_run_id=flow_run_id)
    )
    return bool(cast("CursorResult[Any]", result).rowcount)


@dataclass(frozen=True)
class KeptUpload:
    """A failed version's upload whose temp object is kept for inspection (`expires_at`: when
    its URLs stop being valid)."""

    upload_id: str
    temp_key: str
    expires_at: datetime


def kept_failed_uploads(session: Session) -> list[KeptUpload]:
    """Those of versions not deleted: a deleted version's kept upload is its delete's to move
    under `deleted/`, and purged from there."""
    rows = session.execute(
        select(Upload.id, Upload.temp_key, Upload.expires_at)
        .join(DatasetVersion, DatasetVersion.upload_id == Upload.id)
        .where(
            Upload.status == UploadStatus.FAILED,
            DatasetVersion.status == VersionStatus.FAILED,
            DatasetVersion.deleted_at.is_(None),
        )
    ).all()
    return [KeptUpload(*row) for row in rows]


def urls_expire_at(session: Session, temp_key: str) -> datetime | None:
    """When the URLs of the upload of `temp_key` stop being valid (None: no upload names it)."""
    return session.execute(
        select(Upload.expires_at).where(Upload.temp_key == temp_key)
    ).scalar_one_or_none()


def mark_upload_purged(session: Session, upload_id: str) -> bool:
    """failed -> purged, only while its version is still failed (not being redone) and not
    deleted (its delete moves the object): the kept object may then be removed, and leaves the
    ledger (and the user's quota). False if the version moved on."""
    still_failed = (
        select(DatasetVersion.id)
        .where(
            DatasetVersion.upload_id == upload_id,
            DatasetVersion.status == VersionStatus.FAILED,
            DatasetVersion.deleted_at.is_(None),
        )
        .exists()
    )
    result = session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.status == UploadStatus.FAILED, still_failed)
        .values(status=UploadStatus.PURGED)
    )
    if not cast("CursorResult[Any]", result).rowcount:
        return False
    temp_key = session.execute(select(Upload.temp_key).where(Upload.id == upload_id)).scalar_one()
    forget_object(session, temp_key, ObjectState.KEPT)
    return True


def versions_awaiting_run(session: Session, created_before: datetime, limit: int) -> list[str]:
    """Ids of live versions, oldest first, whose confirm recorded them but whose ingestion run
    was never recorded (the orchestrator was down, or the API process stopped before it created
    the run): the run requests the API's dispatcher still owes (api/run_dispatch.py)."""
    rows = session.execute(
        select(DatasetVersion.id)
        .where(
            DatasetVersion.flow_run_id.is_(None),
            DatasetVersion.status == VersionStatus.PENDING,
            DatasetVersion.deleted_at.is_(None),
            DatasetVersion.created_at < created_before,
        )
        .order_by(DatasetVersion.created_at)
        .limit(limit)
    ).scalars()
    return list(rows)
