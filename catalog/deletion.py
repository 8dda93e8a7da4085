"""Soft delete of a dataset: which objects move under `deleted/`, then the records."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.orm import Session

from catalog.datasets import FAILED, INGESTING, PENDING, READY
from catalog.listing import users_dataset, versions_of
from catalog.tables import Upload, User, utcnow
from core.errors import ConflictError


def live_keys_of_dataset(session: Session, user_id: str, dataset_id: str) -> list[str]:
    """The objects a delete moves: each ready version's Parquet and each failed version's kept
    upload. A dataset with an ingestion in progress is refused: its run would write afterwards.
    """
    users_dataset(session, user_id, dataset_id)
    keys: list[str] = []
    for version in versions_of(session, dataset_id):
        if version.status in (PENDING, INGESTING):
            raise ConflictError(
                f"version {version.id} is still {version.status}; delete the dataset once "
                "its ingestion has finished"
            )
        if version.status == READY:
            keys.append(version.parquet_key)
        elif version.status == FAILED:
            upload = session.get(Upload, version.upload_id)
            if upload is not None:
                keys.append(upload.temp_key)
    return keys


def mark_dataset_deleted(session: Session, user_id: str, dataset_id: str) -> None:
    """Marks the dataset and its versions deleted and gives their bytes back to the quota."""
    dataset = users_dataset(session, user_id, dataset_id)
    now = utcnow()
    freed = 0
    for version in versions_of(session, dataset_id):
        if version.status == READY:
            freed += version.size_bytes or 0
        version.deleted_at = now
    dataset.deleted_at = now
    session.execute(
        update(User).where(User.id == user_id).values(used_bytes=User.used_bytes - freed)
    )
