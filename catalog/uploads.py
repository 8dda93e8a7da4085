"""Upload reservations against the quota, multipart plans, and the Parquet file's reservation
before ingestion (the confirm transition itself: catalog/confirmations.py).

Every change that must not race takes a lock first with a no-op UPDATE of the row it guards: a
row lock on PostgreSQL, the database write lock on SQLite (pysqlite begins the transaction at
the first write, so the reads that follow see every committed reservation).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    CursorResult,
    ScalarSelect,
    Table,
    and_,
    bindparam,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session

from catalog.tables import DatasetVersion, StoredObject, Upload, User, utcnow
from catalog.usage import lock_user, stored_sum
from core.errors import (
    ConflictError,
    ExpiredError,
    FileTooLargeError,
    NotFoundError,
    QuotaExceededError,
)
from core.keys import new_id, temp_upload_key, upload_extension
from core.settings import Settings, Tier
from core.statuses import ObjectState, UploadStatus


def _reserved_sum(user_id: Any, now: Any) -> ScalarSelect[Any]:
    return (
        select(func.coalesce(func.sum(Upload.reserved_bytes), 0))
        .where(
            Upload.user_id == user_id,
            or_(
                and_(Upload.status == UploadStatus.PENDING, Upload.expires_at > now),
                Upload.status == UploadStatus.CONFIRMED,
            ),
        )
        .scalar_subquery()
    )


# Built once: building this statement (its enum comparisons) cost more than running it, and it
# runs in every upload-url's transaction, under the user's lock.
_RESERVED = select(_reserved_sum(bindparam("user_id"), bindparam("now")))
_COMMITTED = select(
    stored_sum(bindparam("user_id")), _reserved_sum(bindparam("user_id"), bindparam("now"))
)


def reserved_bytes(session: Session, user_id: str, now: datetime) -> int:
    """The reservations of the user's uploads in flight: pending and unexpired, or confirmed
    (until ingestion turns them into a stored Parquet file or releases them)."""
    return int(session.execute(_RESERVED, {"user_id": user_id, "now": now}).scalar_one())


def committed_bytes(session: Session, user_id: str, now: datetime) -> int:
    """Every byte stored for the user (in use or in trash, see `catalog.usage`) plus every live
    reservation: what the quota is checked against (in one round trip)."""
    session.flush()  # as the ORM's autoflush did: pending rows count
    stored, reserved = (
        session.connection().execute(_COMMITTED, {"user_id": user_id, "now": now}).one()
    )
    return int(stored) + int(reserved)


@dataclass(frozen=True)
class Reservation:
    """A recorded upload: what the upload-url answer needs of it."""

    id: str
    temp_key: str


_UPLOADS = cast("Table", Upload.__table__)
_UPLOAD_VALUES = (
    "id",
    "user_id",
    "filename",
    "extension",
    "temp_key",
    "size_bytes",
    "reserved_bytes",
    "expires_at",
)
# The quota's check and the upload's row in one statement (a round trip fewer on PostgreSQL):
# the row is inserted only if what the user has committed leaves room for it. Run after the
# user's lock, so the sums it reads include every reservation committed before (on PostgreSQL
# each statement reads what was committed when it started). The column defaults still apply.
_INSERT_UPLOAD_IF_ROOM = (
    insert(_UPLOADS)
    .from_select(
        _UPLOAD_VALUES,
        select(*(bindparam(name, type_=_UPLOADS.c[name].type) for name in _UPLOAD_VALUES)).where(
            stored_sum(bindparam("user_id"))
            + _reserved_sum(bindparam("user_id"), bindparam("now"))
            + bindparam("size_bytes")
            <= bindparam("quota_bytes")
        ),
    )
    .returning(_UPLOADS.c.id)
)  # psycopg gives no rowcount for an INSERT ... SELECT


def reserve_upload(
    session: Session,
    user_id: str,
    tier: Tier,
    filename: str,
    size_bytes: int,
    expires_at: datetime,
) -> Reservation:
    """Records an upload and reserves its size, refusing what exceeds the tier's limits.

    The check and the insert run under the user's lock, so parallel requests at the edge of the
    quota are serialized and can never overshoot it together.
    """
    extension = upload_extension(filename)  # a bad name is a 400 whatever the size
    if size_bytes > tier.max_file_bytes:
        raise FileTooLargeError(
            f"the file is {size_bytes:,} bytes; your tier allows files up to "
            f"{tier.max_file_bytes:,} bytes"
        )
    lock_user(session, user_id)
    upload_id = new_id()
    reservation = Reservation(upload_id, temp_upload_key(upload_id, extension))
    inserted = session.connection().execute(
        _INSERT_UPLOAD_IF_ROOM,
        {
            "id": reservation.id,
            "user_id": user_id,
            "filename": filename,
            "extension": extension,
            "temp_key": reservation.temp_key,
            "size_bytes": size_bytes,
            "reserved_bytes": size_bytes,
            "expires_at": expires_at,
            "now": utcnow(),
            "quota_bytes": tier.quota_bytes,
        },
    )
    if inserted.first() is None:  # no room: the sums again, for the answer (still locked)
        free = max(tier.quota_bytes - committed_bytes(session, user_id, utcnow()), 0)
        raise QuotaExceededError(
            f"the file needs {size_bytes:,} bytes but only {free:,} of your "
            f"{tier.quota_bytes:,}-byte quota are free (uploads in progress count too)"
        )
    return reservation


def attach_multipart(
    session: Session, upload_id: str, multipart_upload_id: str, part_size: int, part_count: int
) -> None:
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFoundError(f"no upload {upload_id}")
    upload.multipart_upload_id = multipart_upload_id
    upload.part_size = part_size
    upload.part_count = part_count


def release_upload(
    session: Session, upload_id: str, status: UploadStatus = UploadStatus.ABORTED
) -> bool:
    """Closes a pending upload and gives its reservation back; False if it was not pending."""
    result = session.execute(
        update(Upload)
        .where(Upload.id == upload_id, Upload.status == UploadStatus.PENDING)
        .values(status=status, reserved_bytes=0)
    )
    return bool(cast("CursorResult[Any]", result).rowcount)


def users_upload(session: Session, user_id: str, upload_id: str) -> Upload:
    """The caller's upload; another user's id is reported exactly like an unknown one."""
    upload = session.get(Upload, upload_id, populate_existing=True)
    if upload is None or upload.user_id != user_id:
        raise NotFoundError(f"no upload {upload_id}")
    return upload


def pending_upload(session: Session, user_id: str, upload_id: str, now: datetime) -> Upload:
    """The caller's upload if it can still receive bytes: pending and not expired."""
    return check_open(users_upload(session, user_id, upload_id), now)


def check_open(upload: Upload, now: datetime) -> Upload:
    """The upload if it is open; 410 once it expired (whether or not the cleanup flow has
    marked it yet), 409 if it was closed otherwise."""
    expired = upload.status == UploadStatus.EXPIRED or (
        upload.status == UploadStatus.PENDING and upload.expires_at <= now
    )
    if expired:
        raise ExpiredError(
            f"upload {upload.id} expired at {upload.expires_at.isoformat()}; "
            "request a new upload URL"
        )
    if upload.status != UploadStatus.PENDING:
        raise ConflictError(f"upload {upload.id} is {upload.status}; request a new upload URL")
    return upload


def _kept_size(session: Session, upload: Upload) -> int:
    """The bytes of the upload's raw file kept (and charged) after an earlier failed run."""
    size = session.execute(
        select(StoredObject.size_bytes).where(
            StoredObject.key == upload.temp_key, StoredObject.state == ObjectState.KEPT
        )
    ).scalar_one_or_none()
    return size or 0


def reserve_parquet(session: Session, settings: Settings, version_id: str, size_bytes: int) -> None:
    """Before ingestion uploads a version's Parquet file: checks its size against the quota and
    makes it the upload's reservation, under the user's lock (as `reserve_upload`), so the file
    can never take the user past the quota, even if it re-encodes larger than the raw upload.

    The upload's own charge is replaced, not added to: its reservation (its raw size), and on a
    re-run of a failed version the kept upload's ledger row, which the Parquet file replaces when
    the version is ready. A re-run reserves again (its upload is `confirmed` again until the
    version ends). A deleted version is refused: its Parquet file would be live under a deleted
    dataset.
    """
    row = session.execute(
        select(Upload, User.tier)
        .join(DatasetVersion, DatasetVersion.upload_id == Upload.id)
        .join(User, User.id == Upload.user_id)
        .where(DatasetVersion.id == version_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no dataset version {version_id}")
    upload, tier_name = row
    lock_user(session, upload.user_id)
    session.refresh(upload)
    deleted = session.execute(
        select(DatasetVersion.deleted_at).where(DatasetVersion.id == version_id)
    ).scalar_one()
    if deleted is not None:
        raise ConflictError(f"version {version_id} was deleted; nothing to ingest")
    quota = settings.tier(tier_name).quota_bytes
    reserved = upload.reserved_bytes if upload.status == UploadStatus.CONFIRMED else 0
    others = (
        committed_bytes(session, upload.user_id, utcnow()) - reserved - _kept_size(session, upload)
    )
    if others + size_bytes > quota:
        raise QuotaExceededError(
            f"the converted Parquet file is {size_bytes:,} bytes; with it you would store "
            f"{others + size_bytes:,} bytes of your {quota:,}-byte quota (stored, trash and "
            "uploads in progress count); free space (delete or purge trash) and ingest again"
        )
    upload.reserved_bytes = size_bytes
    upload.status = UploadStatus.CONFIRMED


def open_uploads(session: Session, user_id: str, now: datetime) -> list[Upload]:
    """The user's uploads that still take bytes (pending, not expired), newest first."""
    query = (
        select(Upload)
        .where(
            Upload.user_id == user_id,
            Upload.status == UploadStatus.PENDING,
            Upload.expires_at > now,
        )
        .order_by(Upload.created_at.desc(), Upload.id.desc())
    )
    return list(session.scalars(query))
