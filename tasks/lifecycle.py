"""Catalog tasks of the scheduled lifecycle flows, retried on a lost connection (their storage
steps, listings and multipart aborts, are the tasks of `tasks/storage.py`)."""

from __future__ import annotations

from datetime import datetime

from prefect import task

from catalog.datasets import ingestion_target, mark_failed
from catalog.lifecycle import (
    KeptUpload,
    StaleUpload,
    UnfinishedVersion,
    expire_stale_uploads,
    kept_failed_uploads,
    mark_upload_purged,
    record_restarted_run,
    stray_temp_objects,
    unannounced_runs,
    unfinished_versions,
    unowned_multipart_uploads,
)
from core.listings import ListedObject, OpenMultipart
from tasks.records import CATALOG_RETRIES, catalog_session


@task(task_run_name="expire-uploads-before-{now}", **CATALOG_RETRIES)
def expire_uploads(now: datetime) -> list[StaleUpload]:
    """Closes pending uploads whose confirm window ended before `now` (see
    `catalog.lifecycle.expire_stale_uploads`)."""
    with catalog_session() as session:
        return expire_stale_uploads(session, now)


@task(task_run_name="find-unowned-multipart-of-{count}", **CATALOG_RETRIES)
def find_unowned_multipart(
    uploads: list[OpenMultipart], initiated_before: datetime, count: int
) -> list[OpenMultipart]:
    with catalog_session() as session:
        return unowned_multipart_uploads(session, uploads, initiated_before)


@task(task_run_name="find-strays-of-{count}-temp-objects", **CATALOG_RETRIES)
def find_stray_temp_objects(
    objects: list[ListedObject], orphaned_before: datetime, count: int, now: datetime
) -> list[str]:
    with catalog_session() as session:
        return stray_temp_objects(session, objects, orphaned_before, now)


@task(task_run_name="find-unfinished-versions", **CATALOG_RETRIES)
def find_unfinished_versions(created_before: datetime) -> list[UnfinishedVersion]:
    with catalog_session() as session:
        return unfinished_versions(session, created_before)


@task(task_run_name="find-unannounced-runs", **CATALOG_RETRIES)
def find_unannounced_runs(created_before: datetime) -> list[tuple[str, str]]:
    with catalog_session() as session:
        return unannounced_runs(session, created_before)


@task(task_run_name="record-run-{version_id}", **CATALOG_RETRIES)
def record_restart(version_id: str, previous_run_id: str | None, flow_run_id: str) -> bool:
    with catalog_session() as session:
        return record_restarted_run(session, version_id, previous_run_id, flow_run_id)


@task(task_run_name="give-up-version-{version_id}", **CATALOG_RETRIES)
def give_up_ingestion(version_id: str, reason: str) -> str | None:
    """Fails a version whose runs keep ending without a result: its reservation is released and
    its temp object kept for inspection, as for any failed ingestion. Returns the version's
    Parquet key if it is now failed (a crashed run may have uploaded it: to be removed), else
    None (it became ready meanwhile)."""
    with catalog_session() as session:
        if not mark_failed(session, version_id, reason):
            return None
        return ingestion_target(session, version_id).parquet_key


@task(task_run_name="find-kept-failed-uploads", **CATALOG_RETRIES)
def find_kept_failed_uploads() -> list[KeptUpload]:
    with catalog_session() as session:
        return kept_failed_uploads(session)


@task(task_run_name="mark-purged-{upload_id}", **CATALOG_RETRIES)
def mark_purged(upload_id: str) -> bool:
    with catalog_session() as session:
        return mark_upload_purged(session, upload_id)
