"""Catalog side of `automl fsck`: the ledger streamed in the bucket's key order, the records
that explain an object the ledger does not list, the records whose facts disagree with each
other, and the states left past their time limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from catalog.tables import (
    ApiToken,
    Dataset,
    DatasetVersion,
    Job,
    StoredObject,
    Upload,
    User,
)
from core.keys import DATASETS_PREFIX, DELETED_PREFIX
from core.statuses import (
    DatasetStatus,
    JobStatus,
    ObjectState,
    UploadStatus,
    UsageCategory,
    VersionStatus,
)

IN_CHUNK = 500  # ids per IN (...) list
STREAM_BATCH = 1000  # rows fetched at a time from a streamed query

# Where each state keeps its object: at its live key, under `deleted/`, or (a delete moving
# it) at either.
AT_LIVE_KEY = (ObjectState.LIVE, ObjectState.KEPT, ObjectState.DELETING)
UNDER_DELETED = (ObjectState.DELETED, ObjectState.DELETING)


def _in_key_order(session: Session, column: Any) -> Any:
    """`column` ordered as S3 lists keys: by UTF-8 bytes. SQLite compares text that way
    (BINARY); PostgreSQL follows the database's collation unless told `C`."""
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


def _chunks(values: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


@dataclass(frozen=True)
class LedgerEntry:
    """One row of the ledger and where its object should be."""

    key: str  # the ledger key (the object's live key)
    location: str  # where the object is expected: the live key, or `deleted/{key}`
    user_id: str
    dataset_id: str
    category: UsageCategory
    state: ObjectState
    size_bytes: int
    upload_id: str | None
    job_id: str | None
    sha256: str | None  # the version's recorded SHA-256 when this is its Parquet file


def ledger_entries(session: Session, prefix: str) -> Iterator[LedgerEntry]:
    """The ledger rows whose object is expected under `prefix`, in the bucket's key order,
    streamed (memory does not grow with the ledger). Under `deleted/`: rows moved or being
    moved; under a live prefix: rows at their live key (in use, kept, or being moved)."""
    moved = prefix == DELETED_PREFIX
    where: ColumnElement[bool] = (
        StoredObject.state.in_(UNDER_DELETED)
        if moved
        else and_(
            StoredObject.key.startswith(prefix, autoescape=True),
            StoredObject.state.in_(AT_LIVE_KEY),
        )
    )
    statement = (
        select(
            StoredObject.key,
            StoredObject.user_id,
            StoredObject.dataset_id,
            StoredObject.category,
            StoredObject.state,
            StoredObject.size_bytes,
            StoredObject.upload_id,
            StoredObject.job_id,
            DatasetVersion.sha256,
        )
        .outerjoin(
            DatasetVersion,
            and_(
                DatasetVersion.upload_id == StoredObject.upload_id,
                DatasetVersion.parquet_key == StoredObject.key,
            ),
        )
        .where(where)
        .order_by(_in_key_order(session, StoredObject.key))
        .execution_options(yield_per=STREAM_BATCH)
    )
    for row in session.execute(statement):
        key = row[0]
        yield LedgerEntry(
            key,
            DELETED_PREFIX + key if moved else key,
            row[1],
            row[2],
            UsageCategory(row[3]),
            ObjectState(row[4]),
            int(row[5]),
            row[6],
            row[7],
            row[8],
        )


def entries_being_moved(session: Session) -> Iterator[LedgerEntry]:
    """The ledger rows of deletes in progress (`deleting`), streamed: their object may be at
    its live key, under `deleted/`, or both for a moment."""
    statement = (
        select(StoredObject)
        .where(StoredObject.state == ObjectState.DELETING)
        .order_by(StoredObject.key)
        .execution_options(yield_per=STREAM_BATCH)
    )
    for row in session.execute(statement).scalars():
        yield LedgerEntry(
            row.key,
            row.key,
            row.user_id,
            row.dataset_id,
            row.category,
            row.state,
            row.size_bytes,
            row.upload_id,
            row.job_id,
            None,
        )


def ledger_states(session: Session, keys: Iterable[str]) -> dict[str, ObjectState]:
    """The ledger state of each of `keys` that has a row (any state)."""
    found: dict[str, ObjectState] = {}
    for chunk in _chunks(sorted(set(keys))):
        rows = session.execute(
            select(StoredObject.key, StoredObject.state).where(StoredObject.key.in_(chunk))
        ).all()
        found.update((key, ObjectState(state)) for key, state in rows)
    return found


@dataclass(frozen=True)
class VersionFacts:
    version_id: str
    dataset_id: str
    user_id: str
    status: VersionStatus
    parquet_key: str
    deleted: bool
    updated_at: datetime


def versions_by_id(session: Session, ids: Iterable[str]) -> dict[str, VersionFacts]:
    found: dict[str, VersionFacts] = {}
    for chunk in _chunks(sorted(set(ids))):
        rows = session.execute(
            select(
                DatasetVersion.id,
                DatasetVersion.dataset_id,
                Dataset.user_id,
                DatasetVersion.status,
                DatasetVersion.parquet_key,
                DatasetVersion.deleted_at,
                DatasetVersion.updated_at,
            )
            .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
            .where(DatasetVersion.id.in_(chunk))
        ).all()
        for row in rows:
            found[row[0]] = VersionFacts(
                row[0], row[1], row[2], VersionStatus(row[3]), row[4], row[5] is not None, row[6]
            )
    return found


@dataclass(frozen=True)
class JobFacts:
    job_id: str
    user_id: str
    dataset_id: str
    status: JobStatus
    deleted: bool
    plots_rendered: bool
    updated_at: datetime


def jobs_by_id(session: Session, ids: Iterable[str]) -> dict[str, JobFacts]:
    found: dict[str, JobFacts] = {}
    for chunk in _chunks(sorted(set(ids))):
        rows = session.execute(
            select(
                Job.id,
                Job.user_id,
                DatasetVersion.dataset_id,
                Job.status,
                Job.deleted_at,
                Job.plots_rendered_at,
                Job.updated_at,
            )
            .join(DatasetVersion, DatasetVersion.id == Job.version_id)
            .where(Job.id.in_(chunk))
        ).all()
        for row in rows:
            found[row[0]] = JobFacts(
                row[0],
                row[1],
                row[2],
                JobStatus(row[3]),
                row[4] is not None,
                row[5] is not None,
                row[6],
            )
    return found


def dataset_owner(session: Session, dataset_id: str) -> str | None:
    """The user a dataset belongs to (None if there is no such dataset)."""
    return session.execute(
        select(Dataset.user_id).where(Dataset.id == dataset_id)
    ).scalar_one_or_none()


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


def ledger_bytes_by_user(session: Session) -> dict[str, int]:
    """Every user's ledger total (in use and trash): what their recorded objects should add
    up to in the bucket. One entry per user, not per object."""
    rows = session.execute(
        select(StoredObject.user_id, func.sum(StoredObject.size_bytes)).group_by(
            StoredObject.user_id
        )
    ).all()
    return {user_id: int(total or 0) for user_id, total in rows}


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
            Job.status.in_((JobStatus.PENDING, JobStatus.RUNNING)),
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
