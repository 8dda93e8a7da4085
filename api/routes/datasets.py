"""Dataset routes: list, read, versions, version comparison, presigned download, soft delete."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from api.comparison_protocol import version_changes
from api.dataset_protocol import (
    delete_dataset,
    download_url,
    get_dataset,
    get_version,
    list_datasets,
)
from api.deps import CatalogDep, CurrentUser, SettingsDep, StorageDep
from api.identifiers import ID_LENGTH, ID_PATTERN, DatasetIdPath, VersionIdPath
from api.schemas import (
    DatasetDetail,
    DatasetPage,
    DeleteResponse,
    DownloadUrlResponse,
    ErrorBody,
    VersionChangesResponse,
    VersionDetail,
)
from core.statuses import DatasetStatus

router = APIRouter(prefix="/api/datasets", tags=["datasets"])
NOT_FOUND: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody},
    404: {"model": ErrorBody},
}


@router.get("", response_model=DatasetPage, responses={**NOT_FOUND, 400: {"model": ErrorBody}})
def list_user_datasets(
    user: CurrentUser,
    catalog: CatalogDep,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000_000)] = 0,
) -> DatasetPage:
    """The caller's datasets, newest first, one page at a time."""
    return list_datasets(catalog, user.id, limit, offset)


@router.get("/{dataset_id}", response_model=DatasetDetail, responses=NOT_FOUND)
def read_dataset(
    dataset_id: DatasetIdPath, user: CurrentUser, catalog: CatalogDep
) -> DatasetDetail:
    return get_dataset(catalog, user.id, dataset_id)


@router.get(
    "/{dataset_id}/versions/{version_id}", response_model=VersionDetail, responses=NOT_FOUND
)
def read_version(
    dataset_id: DatasetIdPath, version_id: VersionIdPath, user: CurrentUser, catalog: CatalogDep
) -> VersionDetail:
    """Status, profile, counts, size, checksums and error of one version."""
    return get_version(catalog, user.id, dataset_id, version_id)


@router.get(
    "/{dataset_id}/versions/{version_id}/download-url",
    response_model=DownloadUrlResponse,
    responses={**NOT_FOUND, 409: {"model": ErrorBody}},
)
def version_download_url(
    dataset_id: DatasetIdPath,
    version_id: VersionIdPath,
    user: CurrentUser,
    settings: SettingsDep,
    catalog: CatalogDep,
    storage: StorageDep,
) -> DownloadUrlResponse:
    """A presigned GET of the version's Parquet file."""
    return download_url(
        catalog, storage, user.id, dataset_id, version_id, settings.presign_expires_seconds
    )


@router.delete(
    "/{dataset_id}",
    response_model=DeleteResponse,
    responses={
        **NOT_FOUND,
        202: {"model": DeleteResponse},
        400: {"model": ErrorBody},
        409: {"model": ErrorBody},
    },
)
def soft_delete_dataset(
    dataset_id: DatasetIdPath,
    user: CurrentUser,
    catalog: CatalogDep,
    storage: StorageDep,
    response: Response,
    permanent: Annotated[bool, Query()] = False,
) -> DeleteResponse:
    """Soft delete: the dataset, its versions and the models and plots trained on it read as
    gone, and their files move under `deleted/` (purged later, or at once with
    `permanent=true`). 202 when the store failed half-way: the cleanup flow finishes it (or, with
    `permanent=true`, while purging: `DELETE /api/trash` purges the rest)."""
    answer = delete_dataset(catalog, storage, user.id, dataset_id, permanent)
    if answer.status != DatasetStatus.DELETED or answer.purge_stopped:
        response.status_code = status.HTTP_202_ACCEPTED
    return answer


@router.get(
    "/{dataset_id}/versions/{version_id}/changes",
    response_model=VersionChangesResponse,
    responses={**NOT_FOUND, 400: {"model": ErrorBody}, 409: {"model": ErrorBody}},
)
def read_version_changes(
    dataset_id: DatasetIdPath,
    version_id: VersionIdPath,
    user: CurrentUser,
    settings: SettingsDep,
    catalog: CatalogDep,
    since: Annotated[
        str | None,
        Query(
            pattern=ID_PATTERN,
            min_length=ID_LENGTH,
            max_length=ID_LENGTH,
            description="Compare with this version of the dataset (earlier or later) instead "
            "of the latest ready version before this one.",
        ),
    ] = None,
) -> VersionChangesResponse:
    """What changed from an earlier version: columns added and removed, type changes, the row
    count and null rates that moved past AUTOML_NULL_RATE_CHANGE_THRESHOLD, from the stored
    profiles (no file is read). 409 while either version is not ready."""
    return version_changes(
        catalog, user.id, dataset_id, version_id, since, settings.null_rate_change_threshold
    )
