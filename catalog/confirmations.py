"""The confirm transition of an upload: its version created once, its ingestion run recorded,
and its announcement (`automl.upload.confirmed`) claimed by exactly one caller.

Like the reservations (catalog/uploads.py), every change that must not race takes a lock first
with a no-op UPDATE of the row it guards (`lock_upload`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, Table, bindparam, select, update
from sqlalchemy.orm import Session

from catalog.datasets import create_version
from catalog.tables import DatasetVersion, Upload, utcnow
from core.errors import NotFoundError
from core.statuses import UploadStatus, VersionStatus

_UPLOADS = cast("Table", Upload.__table__)
_VERSIONS = cast("Table", DatasetVersion.__table__)


@dataclass(frozen=True)
class Confirmation:
    """The ids a confirm answers with (`flow_run_id` None until its ingestion run exists)."""

    dataset_id: str
    version_id: str
    flow_run_id: str | None


_CONFIRMATION = select(_VERSIONS.c.dataset_id, _VERSIONS.c.id, _VERSIONS.c.flow_run_id).where(
    _VERSIONS.c.upload_id == bindparam("confirmed_upload_id")
)


def existing_confirmation(session: Session, upload_id: str) -> Confirmation | None:
    row = (
        session.connection()
        .execute(_CONFIRMATION, {"confirmed_upload_id": upload_id})
        .one_or_none()
    )
    if row is None:
        return None
    return Confirmation(row.dataset_id, row.id, row.flow_run_id)


# A repeated confirm's whole answer in one statement: the upload (whose it is, whether it was
# announced) and its version, if any.
_FINISHED = (
    select(
        _UPLOADS.c.user_id,
        _UPLOADS.c.status,
        _UPLOADS.c.confirmed_at,
        _VERSIONS.c.dataset_id,
        _VERSIONS.c.id.label("version_id"),
        _VERSIONS.c.flow_run_id,
        _VERSIONS.c.status.label("version_status"),
    )
    .select_from(_UPLOADS.outerjoin(_VERSIONS, _VERSIONS.c.upload_id == _UPLOADS.c.id))
    .where(_UPLOADS.c.id == bindparam("finished_upload_id"))
)


def finished_confirmation(
    session: Session, user_id: str, upload_id: str
) -> tuple[Confirmation, VersionStatus] | None:
    """The confirmation of the caller's upload and its version's status, if a confirm already
    did everything (the version exists, its run is recorded, the upload was announced); None if
    something is left to do. Another user's upload is reported like an unknown one (as
    `users_upload`)."""
    row = session.connection().execute(_FINISHED, {"finished_upload_id": upload_id}).one_or_none()
    if row is None or row.user_id != user_id:
        raise NotFoundError(f"no upload {upload_id}")
    if (
        row.status == UploadStatus.PENDING
        or row.confirmed_at is None
        or row.version_id is None
        or row.flow_run_id is None
    ):
        return None
    return Confirmation(row.dataset_id, row.version_id, row.flow_run_id), row.version_status


def lock_upload(session: Session, upload_id: str) -> None:
    """Serializes changes to one upload (two confirms of it): reads after this are fresh."""
    session.execute(update(Upload).where(Upload.id == upload_id).values(status=Upload.status))


def confirm_upload(
    session: Session, upload: Upload, dataset_name: str, dataset_id: str | None
) -> Confirmation:
    """Creates the dataset (or its new version) for a locked, checked, pending upload."""
    version = create_version(session, upload.id, dataset_name, dataset_id)
    return Confirmation(version.dataset_id, version.id, None)


def record_flow_run(session: Session, version_id: str, flow_run_id: str) -> bool:
    """Remembers the ingestion run a confirm started; False if one was recorded before (by a
    concurrent confirm or the run itself)."""
    result = session.execute(
        update(DatasetVersion)
        .where(DatasetVersion.id == version_id, DatasetVersion.flow_run_id.is_(None))
        .values(flow_run_id=flow_run_id)
    )
    return bool(cast("CursorResult[Any]", result).rowcount)


# Built once, on the table: every repeated confirm runs it, and building it cost more than it.
_CLAIM_ANNOUNCEMENT = (
    update(_UPLOADS)
    .where(
        _UPLOADS.c.id == bindparam("claimed_upload_id"),
        _UPLOADS.c.status != UploadStatus.PENDING,
        _UPLOADS.c.confirmed_at.is_(None),
    )
    .values(confirmed_at=bindparam("claimed_at"))
)


def claim_announcement(session: Session, upload_id: str) -> bool:
    """True for exactly one caller per confirmed upload: the one that announces it.

    The announcement is tied to this one transition (`confirmed_at` NULL -> set), not to who
    recorded the ingestion run first: the run may record itself before the confirm that
    started it does, and a confirm answered 503 (orchestrator down) announces nothing, so the
    later confirm that creates the run does.
    """
    result = session.connection().execute(
        _CLAIM_ANNOUNCEMENT, {"claimed_upload_id": upload_id, "claimed_at": utcnow()}
    )
    return bool(result.rowcount)


@dataclass(frozen=True)
class Announcement:
    """What `automl.upload.confirmed` names: the upload, its dataset and version."""

    upload_id: str
    dataset_id: str
    version_id: str


def claim_version_announcement(session: Session, version_id: str) -> Announcement | None:
    """`claim_announcement` for the upload of `version_id` (the cleanup flow starts the run of
    a version whose confirm never did); None if it was announced before."""
    row = session.execute(
        select(DatasetVersion.upload_id, DatasetVersion.dataset_id).where(
            DatasetVersion.id == version_id
        )
    ).one_or_none()
    if row is None or not claim_announcement(session, row.upload_id):
        return None
    return Announcement(row.upload_id, row.dataset_id, version_id)
