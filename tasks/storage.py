"""Retrying Prefect tasks over the plain storage operations of `blocks/`, one a verb.

Each task has the name of the plain operation it wraps (`tasks.storage.head_object(key)` wraps
`blocks.objects.head_object(bucket, key)`) and loads the storage block itself: tasks take keys
and local paths, never credentials or file contents. They retry with backoff on transient
failures (5xx, throttling, timeouts, dropped connections) and fail at once on 4xx.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.tasks import exponential_backoff

from blocks import objects, presigning, transfers
from blocks.objects import ObjectInfo, is_transient_storage_error
from blocks.presigning import PresignedRequest
from blocks.storage import load_storage_block
from blocks.transfers import DownloadedFile
from core.listings import ListedObject, OpenMultipart

P = ParamSpec("P")
R = TypeVar("R")

TASK_RETRIES = 4
TASK_RETRY_DELAYS = exponential_backoff(backoff_factor=1)
TASK_RETRY_JITTER = 0.5


def retry_on_transient(task: Task[..., Any], task_run: TaskRun, state: State[Any]) -> bool:
    """Prefect `retry_condition_fn`: retry a failed storage task only on transient errors."""
    try:
        state.result(raise_on_failure=True)
    except Exception as exc:
        return is_transient_storage_error(exc)
    return False


def storage_task(task_run_name: str) -> Callable[[Callable[P, R]], Task[P, R]]:
    """Decorator of every storage-facing task: the shared retry policy, a readable run name."""
    return task(
        task_run_name=task_run_name,
        retries=TASK_RETRIES,
        retry_delay_seconds=TASK_RETRY_DELAYS,
        retry_jitter_factor=TASK_RETRY_JITTER,
        retry_condition_fn=retry_on_transient,
    )


@storage_task(task_run_name="head-{key}")
def head_object(key: str) -> ObjectInfo | None:
    """Exists, size and ETag of one object in one request."""
    return objects.head_object(load_storage_block(), key)


@storage_task(task_run_name="read-{key}")
def read_object(key: str) -> bytes | None:
    """A small object's body (metadata JSON), or None if there is no such key."""
    return objects.read_object(load_storage_block(), key)


@storage_task(task_run_name="delete-{key}")
def delete_object(key: str) -> bool:
    """Deletes `key`; True if it existed. Deleting a missing key is not an error (idempotent)."""
    return objects.delete_object(load_storage_block(), key)


@storage_task(task_run_name="tombstone-{key}")
def write_tombstone(key: str) -> None:
    """Keeps a used upload's key occupied without its bytes (see
    `blocks.objects.write_tombstone`)."""
    objects.write_tombstone(load_storage_block(), key)


@storage_task(task_run_name="free-upload-key-{key}")
def free_upload_key(key: str, urls_expire_at: datetime, now: datetime) -> bool:
    """Deletes a used upload's temp key, or tombstones it while its URLs may be valid (see
    `blocks.objects.free_upload_key`)."""
    return objects.free_upload_key(load_storage_block(), key, urls_expire_at, now)


@storage_task(task_run_name="list-{prefix}")
def list_objects(prefix: str) -> list[ListedObject]:
    """Every object under `prefix` with its LastModified, in key order."""
    return objects.list_objects(load_storage_block(), prefix)


@storage_task(task_run_name="list-multipart-{prefix}")
def list_multipart_uploads(prefix: str) -> list[OpenMultipart]:
    """Every multipart upload open under `prefix`."""
    return objects.list_multipart_uploads(load_storage_block(), prefix)


@storage_task(task_run_name="abort-multipart-{key}")
def abort_multipart(key: str, multipart_upload_id: str) -> bool:
    """Aborts the multipart upload and frees its parts; False if the store no longer had it."""
    return presigning.abort_multipart(load_storage_block(), key, multipart_upload_id)


@storage_task(task_run_name="copy-{source_key}")
def copy_object(source_key: str, destination_key: str) -> ObjectInfo:
    """Server-side copy (multipart copy for large objects, so 5 TiB objects work)."""
    return transfers.copy_object(load_storage_block(), source_key, destination_key)


@storage_task(task_run_name="move-to-deleted-{key}")
def move_to_deleted(key: str) -> bool:
    """Copies `key` to `deleted/{key}`, then removes it; False if it was already gone (see
    `blocks.transfers.move_to_deleted`)."""
    return transfers.move_to_deleted(load_storage_block(), key)


@storage_task(task_run_name="upload-{key}")
def upload_file(local_path: Path, key: str, content_type: str | None = None) -> ObjectInfo:
    """Streams a local file to `key` with the transfer manager (multipart above 16 MiB)."""
    return transfers.upload_file(load_storage_block(), local_path, key, content_type)


@storage_task(task_run_name="upload-once-{key}")
def upload_file_once(
    local_path: Path, key: str, content_type: str | None = None
) -> ObjectInfo | None:
    """Writes `key` only if it holds no object yet; None if it does (see
    `blocks.transfers.upload_file_once`)."""
    return transfers.upload_file_once(load_storage_block(), local_path, key, content_type)


@storage_task(task_run_name="download-{key}")
def download_file(key: str, local_path: Path) -> DownloadedFile:
    """Streams `key` to a local file, hashing its bytes as they are written (see
    `blocks.transfers.download_file`)."""
    return transfers.download_file(load_storage_block(), key, local_path)


@storage_task(task_run_name="presign-put-{key}")
def presign_put(
    key: str, size_bytes: int, expires_in: int, write_once: bool = True
) -> PresignedRequest:
    """A presigned PUT bound to type, length and (if asked) `If-None-Match` (see
    `blocks.presigning.presign_put`)."""
    return presigning.presign_put(load_storage_block(), key, size_bytes, expires_in, write_once)


@storage_task(task_run_name="presign-get-{key}")
def presign_get(key: str, expires_in: int, download_name: str | None = None) -> PresignedRequest:
    """A presigned GET (see `blocks.presigning.presign_get`)."""
    return presigning.presign_get(load_storage_block(), key, expires_in, download_name)
