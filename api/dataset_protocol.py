"""Reads of datasets and versions, presigned downloads and soft delete, as the API answers them."""

from __future__ import annotations

from prefect_aws import S3Bucket

from api.schemas import (
    DatasetDetail,
    DatasetPage,
    DatasetSummary,
    DownloadUrlResponse,
    VersionDetail,
    VersionSummary,
)
from catalog.database import Catalog
from catalog.deletion import mark_dataset_deleted
from catalog.listing import dataset_page, users_dataset, users_version, versions_of
from catalog.tables import DatasetVersion
from core.errors import ConflictError
from core.keys import deleted_key
from core.statuses import VersionStatus
from tasks.storage import copy_key, delete_key, head_object
from tasks.uploads import presign_get_request


def _summary(version: DatasetVersion) -> VersionSummary:
    return VersionSummary(
        id=version.id,
        status=version.status,
        created_at=version.created_at,
        row_count=version.row_count,
        column_count=version.column_count,
        size_bytes=version.size_bytes,
    )


def list_datasets(catalog: Catalog, user_id: str, limit: int, offset: int) -> DatasetPage:
    with catalog.session() as session:
        page, total = dataset_page(session, user_id, limit, offset)
        items = [
            DatasetSummary(
                id=entry.dataset.id,
                name=entry.dataset.name,
                created_at=entry.dataset.created_at,
                version_count=len(entry.versions),
                latest_version=_summary(entry.versions[-1]) if entry.versions else None,
            )
            for entry in page
        ]
    return DatasetPage(items=items, total=total, limit=limit, offset=offset)


def get_dataset(catalog: Catalog, user_id: str, dataset_id: str) -> DatasetDetail:
    with catalog.session() as session:
        dataset = users_dataset(session, user_id, dataset_id)
        versions = [_summary(version) for version in versions_of(session, dataset_id)]
        return DatasetDetail(
            id=dataset.id, name=dataset.name, created_at=dataset.created_at, versions=versions
        )


def get_version(catalog: Catalog, user_id: str, dataset_id: str, version_id: str) -> VersionDetail:
    with catalog.session() as session:
        version = users_version(session, user_id, dataset_id, version_id)
        return VersionDetail(
            **_summary(version).model_dump(),
            dataset_id=version.dataset_id,
            raw_size_bytes=version.raw_size_bytes,
            raw_sha256=version.raw_sha256,
            sha256=version.sha256,
            error=version.error,
            profile=version.profile,
            flow_run_id=version.flow_run_id,
            updated_at=version.updated_at,
        )


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
    signed = presign_get_request(storage, key, expires_in, download_name=name)
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
            copy_key(storage, key, deleted_key(key))
            delete_key(storage, key)
            moved += 1
    return moved
