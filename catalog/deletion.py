"""Soft delete of a dataset: the records first, under a lock, then the objects it lists."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from catalog.listing import versions_of
from catalog.tables import Dataset, Upload, User, utcnow
from core.errors import ConflictError, NotFoundError
from core.statuses import VersionStatus


def mark_dataset_deleted(session: Session, user_id: str, dataset_id: str) -> list[str]:
    """Marks the dataset and its versions deleted, gives their bytes back to the quota, and
    returns the objects to move under `deleted/`: each ready version's Parquet file and each
    failed version's kept upload.

    It starts with a conditional UPDATE of the dataset row, so of two deletes only one frees
    the bytes, and a confirm adding a version (which locks the same row) waits or finds it
    deleted. A dataset with an ingestion in progress is refused: its run would write after.
    """
    now = utcnow()
    claimed = session.execute(
        update(Dataset)
        .where(Dataset.id == dataset_id, Dataset.user_id == user_id, Dataset.deleted_at.is_(None))
        .values(deleted_at=now)
    )
    if cast("CursorResult[Any]", claimed).rowcount != 1:
        raise NotFoundError(f"no dataset {dataset_id}")
    keys: list[str] = []
    freed = 0
    for version in versions_of(session, dataset_id):
        if version.status in (VersionStatus.PENDING, VersionStatus.INGESTING):
            raise ConflictError(  # rolls the whole transaction back: nothing is deleted
                f"version {version.id} is still {version.status}; delete the dataset once "
                "its ingestion has finished"
            )
        if version.status == VersionStatus.READY:
            keys.append(version.parquet_key)
            freed += version.size_bytes or 0
        elif version.status == VersionStatus.FAILED:
            upload = session.get(Upload, version.upload_id)
            if upload is not None:
                keys.append(upload.temp_key)
        version.deleted_at = now
    session.execute(
        update(User).where(User.id == user_id).values(used_bytes=User.used_bytes - freed)
    )
    return keys
