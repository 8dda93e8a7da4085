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
    ColumnElement,
    CursorResult,
    ScalarSelect,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from catalog.in_flight import pending_uploads, refuse_uploads_past_the_limit
from catalog.tables import DatasetVersion, StoredObject, Upload, User, utcnow
from catalog.usage import LOCKED_USER, lock_user, stored_sum
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


def _reserved_sum(user_id: Any, now: Any) -> ColumnElement[Any]:
    """Two sums, each a range of the covering index `(user_id, status, expires_at,
    reserved_bytes)`: the user's uploads in flight (bounded by the tier) and those confirmed and
    waiting for ingestion (bounded by the ingestions in flight). One sum over `pending and
    unexpired or confirmed` made SQLite read every upload the user ever had."""

    def reserved(*conditions: ColumnElement[bool]) -> ScalarSelect[Any]:
        total = func.coalesce(func.sum(Upload.reserved_bytes), 0)
        return select(total).where(Upload.user_id == user_id, *conditions).scalar_subquery()

    pending = reserved(Upload.status == UploadStatus.PENDING, Upload.expires_at > now)
    return pending + reserved(Upload.status == UploadStatus.CONFIRMED)


# Built once: building this statement (its enum comparisons) cost more than running it, and it
# runs in every upload-url's transaction, under the user's lock.
_RESERVED = select(_reserved_sum(bindparam("user_id"), bindparam("now")))
# What the user has committed: every byte stored plus every live reservation.
_COMMITTED_SUM = stored_sum(bindparam("user_id")) + _reserved_sum(
    bindparam("user_id"), bindparam("now")
)
_COMMITTED = select(_COMMITTED_SUM)


def reserved_bytes(session: Session, user_id: str, now: datetime) -> int:
    """The reservations of the user's uploads in flight: pending and unexpired, or confirmed
    (until ingestion turns them into a stored Parquet file or releases them)."""
    return int(session.execute(_RESERVED, {"user_id": user_id, "now": now}).scalar_one())


def committed_bytes(session: Session, user_id: str, now: datetime) -> int:
    """Every byte stored for the user (in use or in trash, see `catalog.usage`) plus every live
    reservation: what the quota is checked against (in one round trip)."""
    session.flush()  # as the ORM's autoflush did: pending rows count
    committed = session.connection().execute(_COMMITTED, {"user_id": user_id, "now": now})
    return int(committed.scalar_one())


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
# Whether what the user has committed (stored and reserved) leaves room for `size_bytes`, and
# the user has fewer uploads in flight than their tier allows.
_ROOM_FOR_IT = and_(
    _COMMITTED_SUM + bindparam("size_bytes") <= bindparam("quota_bytes"),
    pending_uploads(bindparam("user_id"), bindparam("now")) < bindparam("max_uploads_in_flight"),
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
            _ROOM_FOR_IT
        ),
    )
    .returning(_UPLOADS.c.id)
)  # psycopg gives no rowcount for an INSERT ... SELECT

# The user's lock, the quota's check and the upload's row in one statement, for a connection
# with no transaction around it (`Catalog.single_statement`): one round trip on PostgreSQL
# instead of four (BEGIN, the lock, the insert, COMMIT). At REPEATABLE READ only: the sums read
# the snapshot taken when the statement started, and a reservation committed while it waited
# for the lock would be missed at READ COMMITTED; at REPEATABLE READ the user's row changed
# since the snapshot fails the statement instead (SQLSTATE 40001). The row's values are bound
# under other names: a parameter named like a column of `users` (`id`) would become a SET of
# the lock's UPDATE. The columns' Python defaults are not applied to an INSERT under a WITH
# holding an UPDATE (SQLAlchemy leaves them NULL), so the two without a NULL default are given.
_NEW = "new_"
_AT_ONCE_VALUES = (*_UPLOAD_VALUES, "status", "created_at")
_INSERT_UPLOAD_AT_ONCE = (
    insert(_UPLOADS)
    .from_select(
        _AT_ONCE_VALUES,
        select(*(bindparam(_NEW + name, type_=_UPLOADS.c[name].type) for name in _AT_ONCE_VALUES))
        .select_from(LOCKED_USER)
        .where(_ROOM_FOR_IT),
        include_defaults=False,
    )
    .returning(_UPLOADS.c.id)
)
_SERIALIZATION_FAILURE = "40001"


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
    extension = _checked_extension(tier, filename, size_bytes)
    lock_user(session, user_id)
    reservation = _new_reservation(extension)
    row = _upload_row(reservation, user_id, tier, filename, extension, size_bytes, expires_at)
    inserted = session.connection().execute(_INSERT_UPLOAD_IF_ROOM, row)
    if inserted.first() is None:  # refused: which limit, for the answer (still locked)
        now = row["now"]  # as the statement saw it: an upload expiring since does not count
        refuse_uploads_past_the_limit(session, user_id, tier, now)
        free = max(tier.quota_bytes - committed_bytes(session, user_id, now), 0)
        raise QuotaExceededError(
            f"the file needs {size_bytes:,} bytes but only {free:,} of your "
            f"{tier.quota_bytes:,}-byte quota are free (uploads in progress count too)"
        )
    return reservation


def reserve_upload_at_once(
    connection: Connection,
    user_id: str,
    tier: Tier,
    filename: str,
    size_bytes: int,
    expires_at: datetime,
) -> Reservation | None:
    """`reserve_upload` in one statement, on a connection of `Catalog.single_statement`; None
    where it could not be decided there (no room, no such user, or the user's row changed while
    the statement waited for it): `reserve_upload` then decides, and words the refusal."""
    extension = _checked_extension(tier, filename, size_bytes)
    reservation = _new_reservation(extension)
    row = _upload_row(reservation, user_id, tier, filename, extension, size_bytes, expires_at)
    row.update(status=UploadStatus.PENDING, created_at=row["now"])
    values = {_NEW + name: row[name] for name in _AT_ONCE_VALUES}
    limits = ("user_id", "size_bytes", "now", "quota_bytes", "max_uploads_in_flight")
    values.update({name: row[name] for name in limits})
    try:
        inserted = connection.execute(_INSERT_UPLOAD_AT_ONCE, {**values, "locked_user_id": user_id})
    except OperationalError as error:
        if getattr(error.orig, "sqlstate", None) == _SERIALIZATION_FAILURE:
            return None
        raise
    return reservation if inserted.first() is not None else None


def _checked_extension(tier: Tier, filename: str, size_bytes: int) -> str:
    extension = upload_extension(filename)  # a bad name is a 400 whatever the size
    if size_bytes > tier.max_file_bytes:
        raise FileTooLargeError(
            f"the file is {size_bytes:,} bytes; your tier allows files up to "
            f"{tier.max_file_bytes:,} bytes"
        )
    return extension


def _new_reservation(extension: str) -> Reservation:
    upload_id = new_id()
    return Reservation(upload_id, temp_upload_key(upload_id, extension))


def _upload_row(
    reservation: Reservation,
    user_id: str,
    tier: Tier,
    filename: str,
    extension: str,
    size_bytes: int,
    expires_at: datetime,
) -> dict[str, Any]:
    return {
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
        "max_uploads_in_flight": tier.max_uploads_in_flight,
    }


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
