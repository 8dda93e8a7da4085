"""Reads of datasets and versions, presigned downloads and soft delete, as the API answers them."""

from __future__ import annotations

import logging

from prefect_aws import S3Bucket

from api.schemas import (
    DatasetDetail,
    DatasetPage,
    DatasetRecord,
    DatasetSummary,
    DeleteResponse,
    DownloadUrlResponse,
    VersionDetail,
    VersionSummary,
)
from api.trash_protocol import purge_trash
from blocks.presigning import presign_get
from blocks.transfers import move_to_deleted
from catalog.database import Catalog
from catalog.deletion import mark_dataset_deleted
from catalog.listing import (
    DatasetWithVersions,
    dataset_page,
    users_dataset,
    users_version,
    versions_of,
)
from core.errors import ConflictError, TrashPurgeStoppedError
from core.statuses import DatasetStatus, VersionStatus
from tasks.deletion import finish_delete

logger = logging.getLogger("api.datasets")


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


def delete_dataset(
    catalog: Catalog, storage: S3Bucket, user_id: str, dataset_id: str, permanent: bool = False
) -> DeleteResponse:
    """Records the delete (atomically, so racing deletes and confirms cannot double-count or
    slip a version in), then moves its objects under `deleted/` (each copied before its live key
    is removed, so none is ever lost). If the store fails half-way the delete stays recorded
    (`deleting`) and the answer says how many objects remain: the cleanup flow moves them.
    `permanent` then purges the dataset's trash at once instead of after the retention period; a
    store failing then leaves the delete as it is and the answer names what was purged."""
    with catalog.session() as session:
        mark_dataset_deleted(session, user_id, dataset_id)
    progress = finish_delete(catalog.session, lambda key: move_to_deleted(storage, key), dataset_id)
    if progress.error is not None:
        logger.warning("delete of dataset %s stopped: %s", dataset_id, progress.error)
    purged, purge_stopped = 0, False
    if permanent:
        try:
            purged = purge_trash(catalog, storage, user_id, dataset_id).objects_purged
        except TrashPurgeStoppedError as exc:  # the delete stays recorded: never a 503 now
            logger.warning("purge of deleted dataset %s stopped: %s", dataset_id, exc.__cause__)
            purged, purge_stopped = exc.objects_purged, True
    if progress.finished:
        message = f"deleted: {progress.moved} objects moved under deleted/" + (
            f", {purged} purged for good" if permanent else ", kept until purged"
        )
        status = DatasetStatus.DELETED
    else:
        message = (
            f"accepted, finishing: the delete is recorded and the dataset is gone; "
            f"{progress.remaining} objects are still to be moved under deleted/ and the "
            "cleanup flow will finish it"
        )
        status = DatasetStatus.DELETING
    if purge_stopped and progress.finished:
        message = (
            f"accepted, finishing: the delete is done ({progress.moved} objects moved under "
            f"deleted/); storage failed after {purged} of them were purged for good, the rest "
            "stay in trash until DELETE /api/trash purges them"
        )
    return DeleteResponse(
        id=dataset_id,
        status=status,
        objects_moved=progress.moved,
        objects_remaining=progress.remaining,
        objects_purged=purged,
        purge_stopped=purge_stopped,
        message=message,
    )
