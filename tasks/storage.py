"""Retryable Prefect tasks over the storage block: streamed transfers, object facts, presigning.

Tasks take keys and local paths, never credentials or file contents. They retry with backoff
on transient failures (5xx, throttling, timeouts, dropped connections) and fail at once on 4xx.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from prefect import Task, task
from prefect.client.schemas.objects import State, TaskRun
from prefect.logging import get_run_logger
from prefect.tasks import exponential_backoff
from prefect_aws import S3Bucket

from blocks.storage import load_storage_block, s3_client
from tasks.uploads import PresignedRequest, presign_get_request, presign_put_request

MiB = 1024**2
P = ParamSpec("P")
R = TypeVar("R")

# Multipart from 16 MiB on, in 16 MiB parts: at most 10,000 parts covers ~156 GiB; larger files
# get proportionally larger parts (see `transfer_config`).
MULTIPART_THRESHOLD = 16 * MiB
MIN_PART_SIZE = 16 * MiB
MAX_PARTS = 10_000
TRANSFER_CONCURRENCY = 4
# Downloads: ranged GETs of a fixed size (no part-count limit applies to reads), written in
# order so the SHA-256 is computed on the way. At most DOWNLOAD_WINDOW parts are held in memory
# at once: DOWNLOAD_WINDOW * DOWNLOAD_PART_SIZE = 128 MiB whatever the object's size.
DOWNLOAD_PART_SIZE = 16 * MiB
DOWNLOAD_WINDOW = 2 * TRANSFER_CONCURRENCY
DOWNLOAD_PART_ATTEMPTS = 3

TASK_RETRIES = 4
TASK_RETRY_DELAYS = exponential_backoff(backoff_factor=1)
TASK_RETRY_JITTER = 0.5

_TRANSIENT_CODES = frozenset(
    {
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "RequestTimeout",
        "RequestTimeoutException",
        "InternalError",
        "ServiceUnavailable",
        "TooManyRequests",
        # A conditional write racing another request on the same key; S3 says to retry it.
        "ConditionalRequestConflict",
    }
)
_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionError,
    TimeoutError,
)
# A response body that broke off mid-stream (the request itself succeeded).
_STREAM_ERRORS = (IncompleteReadError, ResponseStreamingError, ReadTimeoutError, ConnectionError)


def _error_chain(exc: BaseException | None) -> Iterator[BaseException]:
    """`exc` and what it wraps: the transfer manager wraps client errors (`S3UploadFailedError`
    raised while handling the `ClientError`), s3transfer's RetriesExceededError keeps the real
    error only in `last_exception`."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = getattr(exc, "last_exception", None) or exc.__cause__ or exc.__context__


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)


def is_transient_storage_error(exc: BaseException | None) -> bool:
    """True for failures worth retrying: 5xx, throttling and connection errors, never 4xx.

    Wrapped errors count by what they wrap (the cause chain is walked).
    """
    for error in _error_chain(exc):
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code")
            status = _status(error)
            return status >= 500 or status == 429 or code in _TRANSIENT_CODES
        if isinstance(error, _CONNECTION_ERRORS + _STREAM_ERRORS):
            return True
    return False


def is_precondition_failed(exc: BaseException | None) -> bool:
    """True if the store refused a conditional request (412), e.g. a write-once key taken."""
    for error in _error_chain(exc):
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code")
            return code == "PreconditionFailed" or _status(error) == 412
    return False


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


@dataclass(frozen=True)
class DownloadedFile:
    """A local copy of an object: its size and the SHA-256 of its bytes, hashed as they came."""

    size: int
    sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    """What the store says about one object."""

    key: str
    size: int
    etag: str
    content_type: str | None
    last_modified: datetime


def transfer_config(size_bytes: int) -> TransferConfig:
    """Transfer-manager settings: streamed multipart, part size grown to stay under 10,000."""
    part_size = max(MIN_PART_SIZE, -(-size_bytes // MAX_PARTS))
    return TransferConfig(
        multipart_threshold=MULTIPART_THRESHOLD,
        multipart_chunksize=part_size,
        max_concurrency=TRANSFER_CONCURRENCY,
        use_threads=True,
    )


class _ProgressLog:
    """Transfer callback that logs progress at most every few seconds (long transfers)."""

    def __init__(self, verb: str, key: str, total: int, every_seconds: float = 5.0) -> None:
        self._verb, self._key, self._total = verb, key, total
        self._done = 0
        self._every = every_seconds
        self._last = time.monotonic()
        self._lock = threading.Lock()
        self._logger = _logger()

    def __call__(self, transferred: int) -> None:
        with self._lock:
            self._done += transferred
            now = time.monotonic()
            if now - self._last >= self._every:
                self._last = now
                percent = 100 * self._done / self._total if self._total else 100.0
                self._logger.info(
                    "%s %s: %.0f%% (%d of %d bytes)",
                    self._verb,
                    self._key,
                    percent,
                    self._done,
                    self._total,
                )


def _logger() -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
    try:
        return get_run_logger()
    except Exception:
        return logging.getLogger(__name__)


def _bucket() -> S3Bucket:
    return load_storage_block()


def _is_missing(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    return code in {"404", "NoSuchKey", "NotFound"}


def head_object(bucket: S3Bucket, key: str) -> ObjectInfo | None:
    """The object's size, ETag and type, or None if there is no such key."""
    try:
        head = s3_client(bucket).head_object(Bucket=bucket.bucket_name, Key=key)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise
    return ObjectInfo(
        key=key,
        size=int(head["ContentLength"]),
        etag=str(head["ETag"]).strip('"'),
        content_type=head.get("ContentType"),
        last_modified=head["LastModified"],
    )


def delete_key(bucket: S3Bucket, key: str) -> bool:
    """Deletes `key`; True if it existed. Deleting a missing key is not an error (idempotent)."""
    existed = head_object(bucket, key) is not None
    s3_client(bucket).delete_object(Bucket=bucket.bucket_name, Key=key)
    return existed


def copy_key(bucket: S3Bucket, source_key: str, destination_key: str) -> ObjectInfo:
    """Server-side copy (multipart copy for large objects, so 5 TiB objects work)."""
    info = head_object(bucket, source_key)
    if info is None:
        raise FileNotFoundError(f"no object at {source_key}")
    s3_client(bucket).copy(
        CopySource={"Bucket": bucket.bucket_name, "Key": source_key},
        Bucket=bucket.bucket_name,
        Key=destination_key,
        Config=transfer_config(info.size),
    )
    copied = head_object(bucket, destination_key)
    if copied is None or copied.size != info.size:
        raise RuntimeError(f"copy of {source_key} to {destination_key} did not land whole")
    return copied


SMALL_OBJECT_LIMIT = 16 * MiB


def read_small_object(
    bucket: S3Bucket, key: str, max_bytes: int = SMALL_OBJECT_LIMIT
) -> bytes | None:
    """The whole body of a small object (metadata JSON), or None if there is no such key.

    Refuses anything larger than `max_bytes` rather than reading it into memory.
    """
    info = head_object(bucket, key)
    if info is None:
        return None
    if info.size > max_bytes:
        raise ValueError(f"{key} is {info.size} bytes, more than the {max_bytes} read whole")
    body: bytes = s3_client(bucket).get_object(Bucket=bucket.bucket_name, Key=key)["Body"].read()
    return body


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing: its key and when it was last written."""

    key: str
    last_modified: datetime


def list_objects(bucket: S3Bucket, prefix: str) -> list[ListedObject]:
    """Every object under `prefix` with its LastModified, in key order (paginated)."""
    pages = (
        s3_client(bucket)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket.bucket_name, Prefix=prefix)
    )
    return [
        ListedObject(key=item["Key"], last_modified=item["LastModified"])
        for page in pages
        for item in page.get("Contents", [])
    ]


def list_keys(bucket: S3Bucket, prefix: str) -> list[str]:
    """Every key under `prefix`, in key order."""
    return [listed.key for listed in list_objects(bucket, prefix)]


@dataclass(frozen=True)
class OpenMultipart:
    """A multipart upload the store holds open (its parts cost storage until aborted)."""

    key: str
    multipart_upload_id: str
    initiated: datetime


def list_multipart_uploads(bucket: S3Bucket, prefix: str) -> list[OpenMultipart]:
    """Every multipart upload open under `prefix` (paginated)."""
    pages = (
        s3_client(bucket)
        .get_paginator("list_multipart_uploads")
        .paginate(Bucket=bucket.bucket_name, Prefix=prefix)
    )
    return [
        OpenMultipart(
            key=item["Key"], multipart_upload_id=item["UploadId"], initiated=item["Initiated"]
        )
        for page in pages
        for item in page.get("Uploads", [])
    ]


@storage_task(task_run_name="read-{key}")
def read_object(key: str) -> bytes | None:
    """A small object's body (metadata JSON), or None if there is no such key."""
    return read_small_object(_bucket(), key)


@storage_task(task_run_name="object-info-{key}")
def object_info(key: str) -> ObjectInfo | None:
    """Exists, size and ETag of one object in one request."""
    return head_object(_bucket(), key)


def _put_file(bucket: S3Bucket, local_path: Path, key: str, content_type: str | None) -> ObjectInfo:
    """Streams a local file to `key` with the transfer manager; checks it landed whole."""
    size = local_path.stat().st_size
    extra: dict[str, str] = {"ContentType": content_type} if content_type else {}
    s3_client(bucket).upload_file(
        Filename=str(local_path),
        Bucket=bucket.bucket_name,
        Key=key,
        ExtraArgs=extra or None,
        Config=transfer_config(size),
        Callback=_ProgressLog("uploaded", key, size),
    )
    info = head_object(bucket, key)
    if info is None or info.size != size:
        raise RuntimeError(f"upload of {key} did not land whole")
    return info


@storage_task(task_run_name="upload-{key}")
def upload_file(local_path: Path, key: str, content_type: str | None = None) -> ObjectInfo:
    """Streams a local file to `key` with the transfer manager (multipart above 16 MiB)."""
    return _put_file(_bucket(), local_path, key, content_type)


@contextmanager
def _writes_once(client: Any, key: str) -> Iterator[None]:
    """While open, the requests of `client` that create `key` carry `If-None-Match: *`.

    The transfer manager refuses `IfNoneMatch` in ExtraArgs (not in s3transfer 0.19's
    ALLOWED_UPLOAD_ARGS), and would not pass it to CompleteMultipartUpload anyway. botocore's
    documented event hooks (`before-parameter-build`) add it to the two requests that create
    an object: PutObject (small files) and CompleteMultipartUpload (the store checks the key
    when the parts are joined, so a writer that completes first wins, and the parts of the
    loser are aborted by the transfer manager). The hook matches only `key`, so other transfers
    on the shared client are untouched.
    """

    def add_condition(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == key:
            params["IfNoneMatch"] = "*"

    events = client.meta.events
    names = [f"before-parameter-build.s3.{op}" for op in ("PutObject", "CompleteMultipartUpload")]
    for name in names:
        events.register(name, add_condition)
    try:
        yield
    finally:
        for name in names:
            events.unregister(name, add_condition)


@storage_task(task_run_name="upload-once-{key}")
def upload_file_once(
    local_path: Path, key: str, content_type: str | None = None
) -> ObjectInfo | None:
    """Writes `key` only if it holds no object yet; None if it does (the store answered 412).

    The object already there is never overwritten, whether it was there before the upload
    started or another writer completed it meanwhile.
    """
    bucket = _bucket()
    try:
        with _writes_once(s3_client(bucket), key):
            return _put_file(bucket, local_path, key, content_type)
    except Exception as exc:
        if is_precondition_failed(exc):
            _logger().info("%s already holds an object; it is kept, not overwritten", key)
            return None
        raise


def _get_range(client: Any, bucket: str, info: ObjectInfo, first: int, last: int) -> bytes:
    """Bytes `first..last` of the object as it was when inspected (`If-Match` its ETag): a
    changed object fails with 412 instead of mixing two versions."""
    response = client.get_object(
        Bucket=bucket, Key=info.key, Range=f"bytes={first}-{last}", IfMatch=f'"{info.etag}"'
    )
    data: bytes = response["Body"].read()
    if len(data) != last - first + 1:
        raise RuntimeError(f"{info.key}: asked for bytes {first}-{last}, got {len(data)}")
    return data


def _fetch_range(client: Any, bucket: str, info: ObjectInfo, first: int, last: int) -> bytes:
    """One part, asked for again when its body breaks off mid-stream (as s3transfer does)."""
    for _ in range(DOWNLOAD_PART_ATTEMPTS - 1):
        with suppress(*_STREAM_ERRORS):
            return _get_range(client, bucket, info, first, last)
    return _get_range(client, bucket, info, first, last)


def ordered_parts(
    fetch: Callable[[int, int], bytes], size: int, part_size: int, window: int, threads: int
) -> Generator[bytes, None, None]:
    """The bytes `0..size` in order, fetched as ranges by `threads` threads at once.

    At most `window` parts are in flight or waiting to be consumed, so memory stays under
    `window * part_size` however slow one part is (the rest wait for it instead of piling up).
    """
    pending: deque[Future[bytes]] = deque()
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="download") as pool:
        try:
            for first in range(0, size, part_size):
                if len(pending) == window:
                    yield pending.popleft().result()
                pending.append(pool.submit(fetch, first, min(first + part_size, size) - 1))
            while pending:
                yield pending.popleft().result()
        finally:
            for future in pending:
                future.cancel()


@storage_task(task_run_name="download-{key}")
def download_file(key: str, local_path: Path) -> DownloadedFile:
    """Streams `key` to a local file, hashing its bytes as they are written (no second pass).

    Ranged GETs run TRANSFER_CONCURRENCY at a time and are written in order, with at most
    DOWNLOAD_WINDOW parts in memory. Not the transfer manager's `download_fileobj` into a
    non-seekable hashing writer: s3transfer 0.19.3 with `response_checksum_validation=
    "when_required"` (our client) schedules the remaining ranges from the first range's done
    callback, which still holds a slot of its sliding window of 10 in-memory parts, so an object
    of more than 10 parts never finishes (a deadlock, reproduced on moto).
    """
    bucket = _bucket()
    info = head_object(bucket, key)
    if info is None:
        raise FileNotFoundError(f"no object at {key}")
    local_path.parent.mkdir(parents=True, exist_ok=True)
    client = s3_client(bucket)

    def fetch(first: int, last: int) -> bytes:
        return _fetch_range(client, bucket.bucket_name, info, first, last)

    digest = hashlib.sha256()
    progress = _ProgressLog("downloaded", key, info.size)
    parts = ordered_parts(
        fetch, info.size, DOWNLOAD_PART_SIZE, DOWNLOAD_WINDOW, TRANSFER_CONCURRENCY
    )
    with local_path.open("wb") as out, closing(parts):
        for part in parts:
            out.write(part)
            digest.update(part)
            progress(len(part))
    return DownloadedFile(size=info.size, sha256=digest.hexdigest())


@storage_task(task_run_name="delete-{key}")
def delete_object(key: str) -> bool:
    """Deletes `key`; True if it existed. Deleting a missing key is not an error (idempotent)."""
    return delete_key(_bucket(), key)


@storage_task(task_run_name="copy-{source_key}")
def copy_object(source_key: str, destination_key: str) -> ObjectInfo:
    """Server-side copy (multipart copy for large objects, so 5 TiB objects work)."""
    return copy_key(_bucket(), source_key, destination_key)


@storage_task(task_run_name="presign-put-{key}")
def presign_put(
    key: str, size_bytes: int, expires_in: int, write_once: bool = True
) -> PresignedRequest:
    """A presigned PUT bound to type, length and (if asked) `If-None-Match` (see
    `tasks.uploads.presign_put_request`)."""
    return presign_put_request(_bucket(), key, size_bytes, expires_in, write_once)


@storage_task(task_run_name="presign-get-{key}")
def presign_get(key: str, expires_in: int, download_name: str | None = None) -> PresignedRequest:
    return presign_get_request(_bucket(), key, expires_in, download_name)
