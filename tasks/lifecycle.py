"""Tasks of the scheduled lifecycle flows: the catalog's side (retried on a lost connection) and
the store's (listings and multipart aborts, retried on transient storage errors)."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from blocks.storage import load_storage_block
from catalog.datasets import mark_failed
from catalog.lifecycle import (
    KeptUpload,
    StaleUpload,
    StoreMultipart,
    TempObject,
    UnfinishedVersion,
    expire_stale_uploads,
    kept_failed_uploads,
    mark_upload_purged,
    record_restarted_run,
    stray_temp_objects,
    unfinished_versions,
    unowned_multipart_uploads,
)
from tasks.records import CATALOG_RETRIES, catalog_session
from tasks.storage import ListedObject, list_multipart_uploads, list_objects, storage_task
from tasks.uploads import abort_multipart


@task(task_run_name="expire-uploads-before-{now}", **CATALOG_RETRIES)
def expire_uploads(now: datetime) -> list[StaleUpload]:
    """Closes pending uploads whose confirm window ended before `now` (see
    `catalog.lifecycle.expire_stale_uploads`)."""
    with catalog_session() as session:
        return expire_stale_uploads(session, now)


@storage_task(task_run_name="list-{prefix}")
def list_objects_under(prefix: str) -> list[ListedObject]:
    return list_objects(load_storage_block(), prefix)


@storage_task(task_run_name="list-multipart-{prefix}")
def list_open_multipart(prefix: str) -> list[StoreMultipart]:
    return [
        StoreMultipart(u.key, u.multipart_upload_id, u.initiated)
        for u in list_multipart_uploads(load_storage_block(), prefix)
    ]


@storage_task(task_run_name="abort-multipart-{key}")
def abort_multipart_upload(key: str, multipart_upload_id: str) -> bool:
    """Aborts the multipart upload and frees its parts; False if the store no longer had it."""
    return abort_multipart(load_storage_block(), key, multipart_upload_id)


@task(task_run_name="find-unowned-multipart-of-{count}", **CATALOG_RETRIES)
def find_unowned_multipart(
    uploads: list[StoreMultipart], initiated_before: datetime, count: int
) -> list[StoreMultipart]:
    with catalog_session() as session:
        return unowned_multipart_uploads(session, uploads, initiated_before)


@task(task_run_name="find-strays-of-{count}-temp-objects", **CATALOG_RETRIES)
def find_stray_temp_objects(
    objects: list[ListedObject], orphaned_before: datetime, count: int
) -> list[str]:
    temp = [TempObject(o.key, o.last_modified) for o in objects]
    with catalog_session() as session:
        return stray_temp_objects(session, temp, orphaned_before)


@task(task_run_name="find-unfinished-versions", **CATALOG_RETRIES)
def find_unfinished_versions(created_before: datetime) -> list[UnfinishedVersion]:
    with catalog_session() as session:
        return unfinished_versions(session, created_before)


@task(task_run_name="record-run-{version_id}", **CATALOG_RETRIES)
def record_restart(version_id: str, previous_run_id: str | None, flow_run_id: str) -> bool:
    with catalog_session() as session:
        return record_restarted_run(session, version_id, previous_run_id, flow_run_id)


@task(task_run_name="give-up-version-{version_id}", **CATALOG_RETRIES)
def give_up_ingestion(version_id: str, reason: str) -> None:
    """Fails a version whose runs keep ending without a result: its reservation is released and
    its temp object kept for inspection, as for any failed ingestion."""
    with catalog_session() as session:
        mark_failed(session, version_id, reason)


@task(task_run_name="find-kept-failed-uploads", **CATALOG_RETRIES)
def find_kept_failed_uploads() -> list[KeptUpload]:
    with catalog_session() as session:
        return kept_failed_uploads(session)


@task(task_run_name="mark-purged-{upload_id}", **CATALOG_RETRIES)
def mark_purged(upload_id: str) -> bool:
    with catalog_session() as session:
        return mark_upload_purged(session, upload_id)
