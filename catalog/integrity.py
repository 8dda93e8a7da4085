"""Catalog side of `automl fsck`'s walk of the bucket: the ledger streamed in the bucket's key
order, and the records that explain an object the ledger does not list (by key and by id, in
chunks). The records' checks against each other and the clock: `catalog/consistency.py`."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import ColumnElement, Row, Select, and_, select
from sqlalchemy.orm import Session

from catalog.database import in_chunks
from catalog.tables import (
    Dataset,
    DatasetVersion,
    Job,
    StoredObject,
)
from core.keys import DELETED_PREFIX, model_key, model_metadata_key
from core.statuses import (
    JobStatus,
    ObjectState,
    UsageCategory,
    VersionStatus,
)

Columns = TypeVarTuple("Columns")
STREAM_BATCH = 1000  # rows fetched at a time from a streamed query

# Where each state keeps its object: at its live key, under `deleted/`, or (a delete moving
# it) at either.
AT_LIVE_KEY = (ObjectState.LIVE, ObjectState.KEPT, ObjectState.DELETING)
UNDER_DELETED = (ObjectState.DELETED, ObjectState.DELETING)


def _in_key_order(session: Session, column: Any) -> Any:
    """`column` ordered as S3 lists keys: by UTF-8 bytes. SQLite compares text that way
    (BINARY); PostgreSQL follows the database's collation unless told `C`."""
    return column.collate("C") if session.get_bind().dialect.name == "postgresql" else column


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
    for chunk in in_chunks(sorted(set(keys))):
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


def _rows_by_id(
    session: Session, ids: Iterable[str], statement: Select[*Columns], id_column: Any
) -> Iterator[Row[*Columns]]:
    """The rows of `statement` whose `id_column` is one of `ids`, queried in chunks (a database
    limits the parameters of one statement)."""
    for chunk in in_chunks(sorted(set(ids))):
        yield from session.execute(statement.where(id_column.in_(chunk))).all()


def versions_by_id(session: Session, ids: Iterable[str]) -> dict[str, VersionFacts]:
    statement = select(
        DatasetVersion.id,
        DatasetVersion.dataset_id,
        Dataset.user_id,
        DatasetVersion.status,
        DatasetVersion.parquet_key,
        DatasetVersion.deleted_at,
        DatasetVersion.updated_at,
    ).join(Dataset, Dataset.id == DatasetVersion.dataset_id)
    return {
        row[0]: VersionFacts(
            row[0], row[1], row[2], VersionStatus(row[3]), row[4], row[5] is not None, row[6]
        )
        for row in _rows_by_id(session, ids, statement, DatasetVersion.id)
    }


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
    statement = select(
        Job.id,
        Job.user_id,
        DatasetVersion.dataset_id,
        Job.status,
        Job.deleted_at,
        Job.plots_rendered_at,
        Job.updated_at,
    ).join(DatasetVersion, DatasetVersion.id == Job.version_id)
    return {
        row[0]: JobFacts(
            row[0],
            row[1],
            row[2],
            JobStatus(row[3]),
            row[4] is not None,
            row[5] is not None,
            row[6],
        )
        for row in _rows_by_id(session, ids, statement, Job.id)
    }


@dataclass(frozen=True)
class OwnedFile:
    """A file a live record uses at its live key, and what its ledger row names."""

    key: str
    user_id: str
    dataset_id: str
    upload_id: str | None = None
    job_id: str | None = None


def owned_files(session: Session, kind: str, record_id: str) -> list[OwnedFile]:
    """The files of a ready version ("version") or a published model ("job") that is not
    deleted, read afresh; none for any other record or state."""
    if kind == "version":
        version = session.get(DatasetVersion, record_id)
        if version is None or version.status != VersionStatus.READY or version.deleted_at:
            return []
        dataset = session.get(Dataset, version.dataset_id)
        assert dataset is not None
        return [OwnedFile(version.parquet_key, dataset.user_id, dataset.id, version.upload_id)]
    if kind == "job":
        job = session.get(Job, record_id)
        if job is None or job.status != JobStatus.SUCCEEDED or job.deleted_at:
            return []
        version = session.get(DatasetVersion, job.version_id)
        assert version is not None
        keys = (model_key(job.user_id, job.id), model_metadata_key(job.user_id, job.id))
        return [OwnedFile(key, job.user_id, version.dataset_id, job_id=job.id) for key in keys]
    return []
