"""Reading a user's datasets and versions; another user's (or a deleted) record is not found."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.tables import Dataset, DatasetVersion
from core.errors import NotFoundError


@dataclass(frozen=True)
class DatasetWithVersions:
    dataset: Dataset
    versions: list[DatasetVersion]  # oldest first


def users_dataset(session: Session, user_id: str, dataset_id: str) -> Dataset:
    dataset = session.get(Dataset, dataset_id)
    if dataset is None or dataset.user_id != user_id or dataset.deleted_at is not None:
        raise NotFoundError(f"no dataset {dataset_id}")
    return dataset


def versions_of(session: Session, dataset_id: str) -> list[DatasetVersion]:
    return list(
        session.execute(
            select(DatasetVersion)
            .where(DatasetVersion.dataset_id == dataset_id, DatasetVersion.deleted_at.is_(None))
            .order_by(DatasetVersion.created_at, DatasetVersion.id)
        ).scalars()
    )


def users_version(
    session: Session, user_id: str, dataset_id: str, version_id: str
) -> DatasetVersion:
    users_dataset(session, user_id, dataset_id)
    version = session.get(DatasetVersion, version_id)
    if version is None or version.dataset_id != dataset_id or version.deleted_at is not None:
        raise NotFoundError(f"no version {version_id} in dataset {dataset_id}")
    return version


def dataset_page(
    session: Session, user_id: str, limit: int, offset: int
) -> tuple[list[DatasetWithVersions], int]:
    """One page of the user's live datasets, newest first, and how many there are in all."""
    live = (Dataset.user_id == user_id, Dataset.deleted_at.is_(None))
    total = session.execute(select(func.count()).select_from(Dataset).where(*live)).scalar_one()
    datasets = list(
        session.execute(
            select(Dataset)
            .where(*live)
            .order_by(Dataset.created_at.desc(), Dataset.id)
            .limit(limit)
            .offset(offset)
        ).scalars()
    )
    by_dataset: dict[str, list[DatasetVersion]] = {dataset.id: [] for dataset in datasets}
    if by_dataset:
        for version in session.execute(
            select(DatasetVersion)
            .where(
                DatasetVersion.dataset_id.in_(list(by_dataset)),
                DatasetVersion.deleted_at.is_(None),
            )
            .order_by(DatasetVersion.created_at, DatasetVersion.id)
        ).scalars():
            by_dataset[version.dataset_id].append(version)
    items = [DatasetWithVersions(dataset, by_dataset[dataset.id]) for dataset in datasets]
    return items, int(total)
