"""Delete of a dataset as a recorded state (`active` -> `deleting` -> `deleted`): the records
first, under a lock, then the objects the ledger lists for it, each recorded once moved; and
purging a user's trash for good."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, func, select, update
from sqlalchemy.orm import Session

from catalog.lifecycle import UNFINISHED_VERSION_STATES, mark_upload_purged
from catalog.listing import versions_of
from catalog.tables import Dataset, DatasetVersion, Job, StoredObject, User, utcnow
from catalog.usage import forget_object
from core.errors import ConflictError, NotFoundError
from core.keys import deleted_key
from core.statuses import (
    UNFINISHED_JOB_STATES,
    DatasetStatus,
    ObjectState,
    VersionStatus,
)


def _still_ingesting(version_id: str, status: VersionStatus) -> ConflictError:
    """Rolls the whole delete back (nothing is deleted): the version's run would write after."""
    return ConflictError(
        f"version {version_id} is still {status}; delete the dataset once its ingestion has "
        "finished"
    )


def mark_dataset_deleted(session: Session, user_id: str, dataset_id: str) -> int:
    """Records the delete: the dataset becomes `deleting`, its versions and the jobs trained on
    them read as gone, and every object of it in the ledger (each version's Parquet file, failed
    versions' kept uploads, the jobs' models and plots) becomes `deleting`: trash, still counted
    until purged. Returns how many objects are to be moved under `deleted/`.

    It starts with a conditional UPDATE of the dataset row, so of two deletes only one records
    it, and a confirm adding a version (which locks the same row) waits or finds it deleted. A
    dataset with an ingestion or a training in progress is refused: its run would write after.
    """
    now = utcnow()
    claimed = session.execute(
        update(Dataset)
        .where(
            Dataset.id == dataset_id,
            Dataset.user_id == user_id,
            Dataset.deleted_at.is_(None),
            Dataset.status == DatasetStatus.ACTIVE,
        )
        .values(deleted_at=now, status=DatasetStatus.DELETING)
    )
    if cast("CursorResult[Any]", claimed).rowcount != 1:
        raise NotFoundError(f"no dataset {dataset_id}")
    freed = 0
    versions = versions_of(session, dataset_id)
    for version in versions:
        if version.status in UNFINISHED_VERSION_STATES:
            raise _still_ingesting(version.id, version.status)
        if version.status == VersionStatus.READY:
            freed += version.size_bytes or 0
    version_ids = [version.id for version in versions]
    # Conditional, not the statuses read above: a re-run of a failed version may have started
    # since (PostgreSQL re-checks the condition on a row changed meanwhile), and must not end up
    # ingesting under a deleted dataset.
    unfinished = DatasetVersion.status.in_(UNFINISHED_VERSION_STATES)
    of_dataset = (DatasetVersion.dataset_id == dataset_id, DatasetVersion.deleted_at.is_(None))
    marked = session.execute(
        update(DatasetVersion)
        .where(*of_dataset, ~unfinished)
        .values(deleted_at=now)
        .execution_options(synchronize_session=False)
    )
    if cast("CursorResult[Any]", marked).rowcount != len(versions):
        started = session.execute(
            select(DatasetVersion.id, DatasetVersion.status).where(*of_dataset, unfinished)
        ).one()
        raise _still_ingesting(started.id, started.status)
    if version_ids:
        busy = session.execute(
            select(Job.id, Job.status).where(
                Job.version_id.in_(version_ids), Job.status.in_(UNFINISHED_JOB_STATES)
            )
        ).first()
        if busy is not None:
            raise ConflictError(
                f"training job {busy[0]} on this dataset is still {busy[1]}; delete the "
                "dataset once it has finished"
            )
        session.execute(
            update(Job)
            .where(Job.version_id.in_(version_ids), Job.deleted_at.is_(None))
            .values(deleted_at=now)
        )
    to_move = session.execute(
        update(StoredObject)
        .where(
            StoredObject.dataset_id == dataset_id,
            StoredObject.state.in_((ObjectState.LIVE, ObjectState.KEPT)),
        )
        .values(state=ObjectState.DELETING, updated_at=now)
    )
    # users.used_bytes: the live datasets' Parquet bytes, kept as before (the quota reads the
    # ledger).
    session.execute(
        update(User).where(User.id == user_id).values(used_bytes=User.used_bytes - freed)
    )
    return int(cast("CursorResult[Any]", to_move).rowcount)


def keys_to_move(session: Session, dataset_id: str) -> list[str]:
    """The live keys of the dataset's objects not yet recorded as moved under `deleted/`."""
    return list(
        session.execute(
            select(StoredObject.key)
            .where(
                StoredObject.dataset_id == dataset_id,
                StoredObject.state == ObjectState.DELETING,
            )
            .order_by(StoredObject.key)
        ).scalars()
    )


def record_moved(session: Session, key: str) -> None:
    """The object of `key` is now at `deleted/{key}` (or was gone): it stays trash until purged."""
    session.execute(
        update(StoredObject)
        .where(StoredObject.key == key, StoredObject.state == ObjectState.DELETING)
        .values(state=ObjectState.DELETED, updated_at=utcnow())
    )


def finish_if_moved(session: Session, dataset_id: str) -> bool:
    """`deleting` -> `deleted` once no object of the dataset is left to move; True if the
    dataset is `deleted` (now or before)."""
    remaining = session.execute(
        select(func.count())
        .select_from(StoredObject)
        .where(
            StoredObject.dataset_id == dataset_id,
            StoredObject.state == ObjectState.DELETING,
        )
    ).scalar_one()
    if remaining:
        return False
    session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id, Dataset.status == DatasetStatus.DELETING)
        .values(status=DatasetStatus.DELETED)
    )
    return True


def unfinished_deletes(session: Session) -> list[str]:
    """Datasets whose delete was recorded but not finished (the store failed, the process
    stopped): the cleanup flow finishes them."""
    return list(
        session.execute(
            select(Dataset.id)
            .where(Dataset.status == DatasetStatus.DELETING)
            .order_by(Dataset.deleted_at)
        ).scalars()
    )


@dataclass(frozen=True)
class TrashItem:
    """An object of a user's trash that can be purged now, and where it is."""

    key: str  # its ledger key (the live key)
    location: str  # where it is: `deleted/{key}`, or the temp key of a kept failed upload
    size_bytes: int


def purgeable_trash(
    session: Session, user_id: str, dataset_id: str | None = None
) -> list[TrashItem]:
    """The user's (or one dataset's) trash that can be purged at once: objects moved under
    `deleted/` and failed versions' kept uploads. Objects of a delete still moving are not."""
    query = select(StoredObject.key, StoredObject.state, StoredObject.size_bytes).where(
        StoredObject.user_id == user_id,
        StoredObject.state.in_((ObjectState.DELETED, ObjectState.KEPT)),
    )
    if dataset_id is not None:
        query = query.where(StoredObject.dataset_id == dataset_id)
    items = []
    for key, state, size in session.execute(query.order_by(StoredObject.key)).all():
        location = deleted_key(key) if state == ObjectState.DELETED else key
        items.append(TrashItem(key, location, int(size)))
    return items


def claim_kept_upload(session: Session, key: str) -> bool:
    """Before a kept failed upload is removed: marks its upload `purged` (only while its version
    is still failed, so a re-run is never robbed). True for any other trash object."""
    row = session.get(StoredObject, key)
    if row is None:
        return False
    if row.state != ObjectState.KEPT or row.upload_id is None:
        return True
    return mark_upload_purged(session, row.upload_id)


def forget_purged(session: Session, key: str) -> bool:
    """The object of `key` was removed from the store: it is no longer the user's (its bytes
    leave the quota). False if it was not recorded as trash."""
    return any(
        forget_object(session, key, state) for state in (ObjectState.DELETED, ObjectState.KEPT)
    )
