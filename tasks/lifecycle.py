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
from core.errors import OrchestratorUnavailableError
from deployments.runs import restart_ingestion, run_is_live
from tasks.records import catalog_session
from tasks.storage import ListedObject, list_multipart_uploads, list_objects, storage_task
from tasks.uploads import abort_multipart


@task(task_run_name="expire-uploads-before-{now}", retries=3, retry_delay_seconds=[1, 2, 4])
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


@task(task_run_name="find-unowned-multipart-of-{count}", retries=3, retry_delay_seconds=[1, 2, 4])
def find_unowned_multipart(
    uploads: list[StoreMultipart], initiated_before: datetime, count: int
) -> list[StoreMultipart]:
    with catalog_session() as session:
        return unowned_multipart_uploads(session, uploads, initiated_before)


@task(task_run_name="find-strays-of-{count}-temp-objects", retries=3, retry_delay_seconds=[1, 2, 4])
def find_stray_temp_objects(
    objects: list[ListedObject], orphaned_before: datetime, count: int
) -> list[str]:
    temp = [TempObject(o.key, o.last_modified) for o in objects]
    with catalog_session() as session:
        return stray_temp_objects(session, temp, orphaned_before)


@task(task_run_name="find-unfinished-versions", retries=3, retry_delay_seconds=[1, 2, 4])
def find_unfinished_versions(created_before: datetime) -> list[UnfinishedVersion]:
    with catalog_session() as session:
        return unfinished_versions(session, created_before)


@task(
    task_run_name="check-run-{flow_run_id}",
    retries=3,
    retry_delay_seconds=[2, 5, 10],
    retry_condition_fn=lambda task, run, state: _orchestrator_down(state),
)
def ingestion_run_is_live(flow_run_id: str) -> bool:
    return run_is_live(flow_run_id)


def _orchestrator_down(state: object) -> bool:
    try:
        state.result(raise_on_failure=True)  # type: ignore[attr-defined]
    except OrchestratorUnavailableError:
        return True
    except Exception:
        return False
    return False


@task(
    task_run_name="restart-ingestion-{version_id}",
    retries=3,
    retry_delay_seconds=[2, 5, 10],
    retry_condition_fn=lambda task, run, state: _orchestrator_down(state),
)
def start_ingestion_again(version_id: str) -> str | None:
    """A live ingestion run of the version (see `deployments.runs.restart_ingestion`)."""
    return restart_ingestion(version_id)


@task(task_run_name="record-run-{version_id}", retries=3, retry_delay_seconds=[1, 2, 4])
def record_restart(version_id: str, previous_run_id: str | None, flow_run_id: str) -> bool:
    with catalog_session() as session:
        return record_restarted_run(session, version_id, previous_run_id, flow_run_id)


@task(task_run_name="give-up-version-{version_id}", retries=3, retry_delay_seconds=[1, 2, 4])
def give_up_ingestion(version_id: str, reason: str) -> None:
    """Fails a version whose runs keep ending without a result: its reservation is released and
    its temp object kept for inspection, as for any failed ingestion."""
    with catalog_session() as session:
        mark_failed(session, version_id, reason)


@task(task_run_name="find-kept-failed-uploads", retries=3, retry_delay_seconds=[1, 2, 4])
def find_kept_failed_uploads() -> list[KeptUpload]:
    with catalog_session() as session:
        return kept_failed_uploads(session)


@task(task_run_name="mark-purged-{upload_id}", retries=3, retry_delay_seconds=[1, 2, 4])
def mark_purged(upload_id: str) -> bool:
    with catalog_session() as session:
        return mark_upload_purged(session, upload_id)
