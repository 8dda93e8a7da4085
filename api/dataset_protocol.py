"""Reads of datasets and versions, presigned downloads and soft delete, as the API answers them."""

from __future__ import annotations

from prefect_aws import S3Bucket

from api.schemas import (
    DatasetDetail,
    DatasetPage,
    DatasetRecord,
    DatasetSummary,
    DownloadUrlResponse,
    VersionDetail,
    VersionSummary,
)
from blocks.objects import delete_object, head_object
from blocks.presigning import presign_get
from blocks.transfers import copy_object
from catalog.database import Catalog
from catalog.deletion import mark_dataset_deleted
from catalog.listing import (
    DatasetWithVersions,
    dataset_page,
    users_dataset,
    users_version,
    versions_of,
)
from core.errors import ConflictError
from core.keys import deleted_key
from core.statuses import VersionStatus


def _dataset_summary(entry: DatasetWithVersions) -> DatasetSummary:
    latest = entry.versions[-1] if entry.versions else None
    return DatasetSummary(
        **DatasetRecord.model_validate(entry.dataset).model_dump(),
        version_count=len(entry.versions),
        latest_version=VersionSummary.model_validate(latest) if latest is not None else None,
    )


def list_datasets(catalog: Catalog, user_id: str, limit: int, offset: int) -> DatasetPage:
    with catalog.session() as session:
        page, total = dataset_page(session, user_id, limit, offset)
        items = [_dataset_summary(entry) for entry in page]
    return DatasetPage(items=items, total=total, limit=limit, offset=offset)


def get_dataset(catalog: Catalog, user_id: str, dataset_id: str) -> DatasetDetail:
    with catalog.session() as session:
        dataset = users_dataset(session, user_id, dataset_id)
        versions = versions_of(session, dataset_id)
        return DatasetDetail(
            **DatasetRecord.model_validate(dataset).model_dump(),
            versions=[VersionSummary.model_validate(version) for version in versions],
        )


def get_version(catalog: Catalog, user_id: str, dataset_id: str, version_id: str) -> VersionDetail:
    with catalog.session() as session:
        return VersionDetail.model_validate(users_version(session, user_id, dataset_id, version_id))


def download_url(
    catalog: Catalog,
    storage: S3Bucket,
    user_id: str,
    dataset_id: str,
    version_id: str,
    expires_in: int,
) -> DownloadUrlResponse:
    """A presigned GET of a ready version's Parquet file, named after the dataset."""
    with catalog.session() as session:
        dataset = users_dataset(session, user_id, dataset_id)
        version = users_version(session, user_id, dataset_id, version_id)
        if version.status != VersionStatus.READY:
            raise ConflictError(f"version {version_id} is {version.status}, not ready to download")
        key, name = version.parquet_key, f"{dataset.id}-{version.id}.parquet"
    signed = presign_get(storage, key, expires_in, download_name=name)
    return DownloadUrlResponse(url=signed.url, expires_at=signed.expires_at)


def delete_dataset(catalog: Catalog, storage: S3Bucket, user_id: str, dataset_id: str) -> int:
    """Marks the dataset deleted (atomically, so racing deletes and confirms cannot double-count
    or slip a version in), then moves its objects under `deleted/`; returns how many moved.
    Each object is copied before its live key is removed, so none is ever lost."""
    with catalog.session() as session:
        keys = mark_dataset_deleted(session, user_id, dataset_id)
    moved = 0
    for key in keys:
        if head_object(storage, key) is not None:
            copy_object(storage, key, deleted_key(key))
            delete_object(storage, key)
            moved += 1
    return moved
