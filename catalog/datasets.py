"""Uploads, datasets and versions: creating them, and the state changes of an ingestion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from catalog.tables import Dataset, DatasetVersion, Upload, User, utcnow
from catalog.usage import forget_object, record_object
from core.errors import ConflictError, NotFoundError
from core.keys import check_key_part, dataset_key, new_id, temp_upload_key, upload_extension
from core.statuses import ObjectState, UploadStatus, UsageCategory, VersionStatus


def create_upload(
    session: Session, user_id: str, filename: str, size_bytes: int, expires_at: datetime
) -> Upload:
    """Records a presigned upload and reserves its declared size against the user's quota."""
    extension = upload_extension(filename)
    upload_id = new_id()
    upload = Upload(
        id=upload_id,
        user_id=user_id,
        filename=filename,
        extension=extension,
        temp_key=temp_upload_key(upload_id, extension),
        size_bytes=size_bytes,
        reserved_bytes=size_bytes,
        expires_at=expires_at,
    )
    session.add(upload)
    session.flush()
    return upload


def create_version(
    session: Session, upload_id: str, dataset_name: str, dataset_id: str | None = None
) -> DatasetVersion:
    """A pending version for a confirmed upload, in a new dataset or a new version of one."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        raise NotFoundError(f"no upload {upload_id}")
    check_key_part(dataset_name, "dataset name")
    if dataset_id is None:
        dataset = Dataset(id=new_id(), user_id=upload.user_id, name=dataset_name)
        session.add(dataset)
        session.flush()
    else:
        # Locks the dataset row: a delete of it (a conditional UPDATE of the same row) either
        # committed first, and the dataset is not found, or waits for this version.
        locked = session.execute(
            update(Dataset)
            .where(
                Dataset.id == dataset_id,
                Dataset.user_id == upload.user_id,
                Dataset.deleted_at.is_(None),
            )
            .values(name=Dataset.name)
        )
        found = session.get(Dataset, dataset_id, populate_existing=True)
        if cast("CursorResult[Any]", locked).rowcount != 1 or found is None:
            raise NotFoundError(f"no dataset {dataset_id}")
        dataset = found
    version_id = new_id()
    version = DatasetVersion(
        id=version_id,
        dataset_id=dataset.id,
        upload_id=upload.id,
        parquet_key=dataset_key(upload.user_id, dataset.id, version_id),
        raw_size_bytes=upload.size_bytes,
    )
    upload.status = UploadStatus.CONFIRMED  # `confirmed_at` waits for the announcement
    session.add(version)
    session.flush()
    return version


@dataclass(frozen=True)
class IngestionTarget:
    """What an ingestion needs to know about one version (ids and keys only)."""

    version_id: str
    dataset_id: str
    user_id: str
    upload_id: str
    status: VersionStatus
    temp_key: str
    extension: str
    parquet_key: str
    raw_size_bytes: int
    flow_run_id: str | None
    urls_expire_at: datetime  # the upload's `expires_at`: until then its temp key stays occupied


def ingestion_target(session: Session, version_id: str) -> IngestionTarget:
    row = session.execute(
        select(DatasetVersion, Upload)
        .join(Upload, Upload.id == DatasetVersion.upload_id)
        .where(DatasetVersion.id == version_id)
    ).one_or_none()
    if row is None:
        raise NotFoundError(f"no dataset version {version_id}")
    version, upload = row
    return IngestionTarget(
        version_id=version.id,
        dataset_id=version.dataset_id,
        user_id=upload.user_id,
        upload_id=upload.id,
        status=version.status,
        temp_key=upload.temp_key,
        extension=upload.extension,
        parquet_key=version.parquet_key,
        raw_size_bytes=version.raw_size_bytes,
        flow_run_id=version.flow_run_id,
        urls_expire_at=upload.expires_at,
    )


def mark_ingesting(
    session: Session, version_id: str, flow_run_id: str | None, unfinished_only: bool = False
) -> bool:
    """pending/failed -> ingesting; False if the version is ready or deleted (nothing to do).
    With `unfinished_only` (a run cleanup started to continue an unfinished ingestion), a
    version that ended `failed` meanwhile is not taken either: its failure stands."""
    claimable = (
        DatasetVersion.status.in_((VersionStatus.PENDING, VersionStatus.INGESTING))
        if unfinished_only
        else DatasetVersion.status != VersionStatus.READY
    )
    result = session.execute(
        update(DatasetVersion)
        .where(
            DatasetVersion.id == version_id,
            claimable,
            DatasetVersion.deleted_at.is_(None),
        )
        .values(
            status=VersionStatus.INGESTING, flow_run_id=flow_run_id, error=None, updated_at=utcnow()
        )
    )
    return bool(cast("CursorResult[Any]", result).rowcount)


@dataclass(frozen=True)
class IngestionOutcome:
    raw_sha256: str
    sha256: str
    size_bytes: int
    row_count: int
    column_count: int
    profile: dict[str, Any]


def mark_ready(session: Session, version_id: str, outcome: IngestionOutcome) -> bool:
    """Records the result and turns the upload's reservation into used bytes, exactly once:
    the Parquet file enters the ledger (`stored_objects`) and the upload's temp object, which
    ingestion deletes next, leaves it if it was kept there by an earlier failure.

    The ingesting -> ready transition is one conditional UPDATE, so of two racing runs only one
    counts the bytes, on SQLite (which has no row locks) as on PostgreSQL; a deleted version is
    refused (its Parquet file would be live under a deleted dataset).
    """
    result = session.execute(
        update(DatasetVersion)
        .where(
            DatasetVersion.id == version_id,
            DatasetVersion.status == VersionStatus.INGESTING,
            DatasetVersion.deleted_at.is_(None),
        )
        .values(
            status=VersionStatus.READY,
            raw_sha256=outcome.raw_sha256,
            sha256=outcome.sha256,
            size_bytes=outcome.size_bytes,
            row_count=outcome.row_count,
            column_count=outcome.column_count,
            profile=outcome.profile,
            error=None,
            updated_at=utcnow(),
        )
    )
    if cast("CursorResult[Any]", result).rowcount != 1:
        version = session.get(DatasetVersion, version_id)
        if version is None:
            raise NotFoundError(f"no dataset version {version_id}")
        if version.status == VersionStatus.READY:
            return False
        if version.deleted_at is not None:
            raise ConflictError(f"version {version_id} was deleted while it was ingested")
        raise ConflictError(f"version {version_id} is {version.status}, not ingesting")
    version = session.get(DatasetVersion, version_id)
    assert version is not None
    upload = session.get(Upload, version.upload_id)
    assert upload is not None
    upload.reserved_bytes = 0
    upload.status = UploadStatus.INGESTED
    record_object(
        session,
        key=version.parquet_key,
        user_id=upload.user_id,
        dataset_id=version.dataset_id,
        category=UsageCategory.DATASETS,
        size_bytes=outcome.size_bytes,
        upload_id=upload.id,
    )
    forget_object(session, upload.temp_key, ObjectState.KEPT)
    session.execute(
        update(User)
        .where(User.id == upload.user_id)
        .values(used_bytes=User.used_bytes + outcome.size_bytes)
    )
    return True


def mark_failed(session: Session, version_id: str, reason: str, upload_kept: bool = True) -> bool:
    """Fails the version with a readable reason and releases the upload's reservation; the
    upload's temp object, kept for inspection until purged, is recorded in the ledger as trash
    (`kept`) unless `upload_kept` is False (it is gone). False if the version is ready (or
    unknown): nothing was changed."""
    version = session.get(DatasetVersion, version_id)
    if version is None or version.status == VersionStatus.READY:
        return False
    version.status = VersionStatus.FAILED
    version.error = reason
    upload = session.get(Upload, version.upload_id)
    if upload is not None:
        upload.reserved_bytes = 0
        upload.status = UploadStatus.FAILED
        if upload_kept and version.deleted_at is None:
            record_object(
                session,
                key=upload.temp_key,
                user_id=upload.user_id,
                dataset_id=version.dataset_id,
                category=UsageCategory.DATASETS,
                size_bytes=upload.size_bytes,
                state=ObjectState.KEPT,
                upload_id=upload.id,
            )
    return True


def mark_stopped_run_failed(
    session: Session, version_id: str, flow_run_id: str, reason: str
) -> bool:
    """Fails a version whose ingestion run was stopped before it could record an outcome (its
    time limit): only while the version is unfinished and no other run has claimed it, so a
    run that already recorded `failed` or `ready`, or a newer run, is left alone. Releases the
    reservation and keeps the upload as `mark_failed` does. True if it failed the version."""
    version = session.get(DatasetVersion, version_id)
    if (
        version is None
        or version.status not in (VersionStatus.PENDING, VersionStatus.INGESTING)
        or version.flow_run_id not in (None, flow_run_id)
    ):
        return False
    return mark_failed(session, version_id, reason)
