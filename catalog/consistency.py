"""Catalog side of `automl fsck`'s checks of records against each other and against the
clock: ledger rows the records imply, the `used_bytes` counter, versions waiting for their
upload, states left past their time limits, and row counts."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from catalog.database import in_chunks
from catalog.integrity import STREAM_BATCH
from catalog.tables import ApiToken, Dataset, DatasetVersion, Job, StoredObject, Upload, User
from core.keys import DATASETS_PREFIX
from core.statuses import (
    UNFINISHED_JOB_STATES,
    DatasetStatus,
    JobStatus,
    ObjectState,
    UploadStatus,
    UsageCategory,
    VersionStatus,
)


@dataclass(frozen=True)
class LedgerGap:
    """A record that owns an object whose ledger row is missing or names another size."""

    record: str  # e.g. "version <id>"
    key: str
    user_id: str
    size_bytes: int  # what the record says
    ledger_size: int | None  # what the ledger says (None: no row)


def ready_versions_off_ledger(session: Session) -> list[LedgerGap]:
    """Ready versions (not deleted) whose Parquet file the ledger lacks, or records with a
    size other than the version's."""
    rows = session.execute(
        select(
            DatasetVersion.id,
            DatasetVersion.parquet_key,
            Dataset.user_id,
            DatasetVersion.size_bytes,
            StoredObject.size_bytes,
        )
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .outerjoin(
            StoredObject,
            and_(
                StoredObject.key == DatasetVersion.parquet_key,
                StoredObject.state == ObjectState.LIVE,
            ),
        )
        .where(
            DatasetVersion.status == VersionStatus.READY,
            DatasetVersion.deleted_at.is_(None),
            or_(
                StoredObject.key.is_(None),
                StoredObject.size_bytes != func.coalesce(DatasetVersion.size_bytes, -1),
            ),
        )
        .order_by(DatasetVersion.parquet_key)
    ).all()
    return [
        LedgerGap(f"version {vid}", key, user, int(size or 0), ledger)
        for vid, key, user, size, ledger in rows
    ]


def succeeded_jobs_off_ledger(session: Session) -> list[tuple[str, str, int]]:
    """Succeeded jobs (not deleted) with fewer than two model files in the ledger
    (`model.joblib`, `metadata.json`): (job id, user id, files recorded)."""
    recorded = func.count(StoredObject.key)
    rows = session.execute(
        select(Job.id, Job.user_id, recorded)
        .outerjoin(
            StoredObject,
            and_(StoredObject.job_id == Job.id, StoredObject.category == UsageCategory.MODELS),
        )
        .where(Job.status == JobStatus.SUCCEEDED, Job.deleted_at.is_(None))
        .group_by(Job.id, Job.user_id)
        .having(recorded < 2)
        .order_by(Job.id)
    ).all()
    return [(job_id, user_id, int(count)) for job_id, user_id, count in rows]


def _live_parquet_bytes(user_id: Any) -> Any:
    """What `users.used_bytes` should hold: the ledger's Parquet files in use (the live
    datasets' bytes, as ingestion adds and a delete subtracts them)."""
    return (
        select(func.coalesce(func.sum(StoredObject.size_bytes), 0))
        .where(
            StoredObject.user_id == user_id,
            StoredObject.category == UsageCategory.DATASETS,
            StoredObject.state == ObjectState.LIVE,
            StoredObject.key.startswith(DATASETS_PREFIX, autoescape=True),
        )
        .scalar_subquery()
    )


def used_bytes_differences(session: Session) -> list[tuple[str, int, int]]:
    """Users whose `used_bytes` counter differs from the ledger: (user, counter, ledger)."""
    expected = _live_parquet_bytes(User.id)
    rows = session.execute(
        select(User.id, User.used_bytes, expected)
        .where(User.used_bytes != expected)
        .order_by(User.id)
    ).all()
    return [(user_id, int(used), int(ledger)) for user_id, used, ledger in rows]


def recompute_used_bytes(session: Session, user_id: str) -> int:
    """Sets the user's `used_bytes` counter from the ledger (one UPDATE, so a concurrent
    ingestion's increment is not lost); returns the new value."""
    session.execute(
        update(User).where(User.id == user_id).values(used_bytes=_live_parquet_bytes(User.id))
    )
    return int(session.execute(select(User.used_bytes).where(User.id == user_id)).scalar_one())


@dataclass(frozen=True)
class AwaitedUpload:
    """A version waiting for (or in) its ingestion, and the upload it will read."""

    version_id: str
    user_id: str
    temp_key: str


def uploads_awaiting_ingestion(session: Session) -> Iterator[AwaitedUpload]:
    """Versions (not deleted) pending or ingesting, with their upload's temp key, streamed."""
    statement = (
        select(DatasetVersion.id, Upload.user_id, Upload.temp_key)
        .join(Upload, Upload.id == DatasetVersion.upload_id)
        .where(
            DatasetVersion.status.in_((VersionStatus.PENDING, VersionStatus.INGESTING)),
            DatasetVersion.deleted_at.is_(None),
        )
        .order_by(DatasetVersion.id)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for version_id, user_id, temp_key in session.execute(statement):
        yield AwaitedUpload(version_id, user_id, temp_key)


def unfinished_version_ids(session: Session, ids: Iterable[str]) -> set[str]:
    """Which of `ids` are versions (not deleted) still pending or ingesting."""
    found: set[str] = set()
    for chunk in in_chunks(sorted(set(ids))):
        found.update(
            session.execute(
                select(DatasetVersion.id).where(
                    DatasetVersion.id.in_(chunk),
                    DatasetVersion.status.in_((VersionStatus.PENDING, VersionStatus.INGESTING)),
                    DatasetVersion.deleted_at.is_(None),
                )
            ).scalars()
        )
    return found


@dataclass(frozen=True)
class StuckRecord:
    """A record left in a passing state past its time limit."""

    record_id: str
    user_id: str
    status: str
    since: datetime  # when its time limit started (expiry, last change, delete recorded)
    key: str | None = None


def uploads_pending_since(session: Session, expired_before: datetime) -> list[StuckRecord]:
    """Pending uploads whose confirm window closed before `expired_before`."""
    rows = session.execute(
        select(Upload.id, Upload.user_id, Upload.status, Upload.expires_at, Upload.temp_key)
        .where(Upload.status == UploadStatus.PENDING, Upload.expires_at < expired_before)
        .order_by(Upload.expires_at)
    ).all()
    return [StuckRecord(*row) for row in rows]


def versions_unfinished_since(session: Session, changed_before: datetime) -> list[StuckRecord]:
    """Versions (not deleted) pending or ingesting, unchanged since before `changed_before`."""
    rows = session.execute(
        select(
            DatasetVersion.id,
            Dataset.user_id,
            DatasetVersion.status,
            DatasetVersion.updated_at,
            DatasetVersion.parquet_key,
        )
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(
            DatasetVersion.status.in_((VersionStatus.PENDING, VersionStatus.INGESTING)),
            DatasetVersion.deleted_at.is_(None),
            DatasetVersion.updated_at < changed_before,
        )
        .order_by(DatasetVersion.updated_at)
    ).all()
    return [StuckRecord(*row) for row in rows]


def jobs_unfinished_since(session: Session, changed_before: datetime) -> list[StuckRecord]:
    """Jobs (not deleted) pending or running, unchanged since before `changed_before`."""
    rows = session.execute(
        select(Job.id, Job.user_id, Job.status, Job.updated_at)
        .where(
            Job.status.in_(UNFINISHED_JOB_STATES),
            Job.deleted_at.is_(None),
            Job.updated_at < changed_before,
        )
        .order_by(Job.updated_at)
    ).all()
    return [StuckRecord(*row) for row in rows]


def deletes_recorded_since(session: Session, recorded_before: datetime) -> list[StuckRecord]:
    """Datasets still `deleting` whose delete was recorded before `recorded_before`."""
    rows = session.execute(
        select(Dataset.id, Dataset.user_id, Dataset.status, Dataset.deleted_at)
        .where(Dataset.status == DatasetStatus.DELETING, Dataset.deleted_at < recorded_before)
        .order_by(Dataset.deleted_at)
    ).all()
    return [
        StuckRecord(dataset_id, user_id, status, since)
        for dataset_id, user_id, status, since in rows
        if since is not None
    ]


def table_counts(session: Session) -> dict[str, int]:
    """Rows per table, for the report."""
    tables: dict[str, Any] = {
        "users": User,
        "api_tokens": ApiToken,
        "uploads": Upload,
        "datasets": Dataset,
        "dataset_versions": DatasetVersion,
        "jobs": Job,
        "stored_objects": StoredObject,
    }
    return {
        name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
        for name, table in tables.items()
    }
