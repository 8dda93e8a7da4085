"""Moving bytes through the storage block: streamed uploads (write-once if asked), ranged
downloads hashed on the way, server-side copies.

Plain functions over an `S3Bucket`; `tasks/storage.py` wraps each in a retrying task.
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
from pathlib import Path
from typing import Any

from boto3.s3.transfer import TransferConfig
from prefect.logging import get_run_logger
from prefect_aws import S3Bucket

from blocks.objects import (
    MAX_PARTS,
    STREAM_ERRORS,
    ObjectInfo,
    delete_object,
    head_object,
    is_precondition_failed,
    write_tombstone,
)
from blocks.storage import s3_client
from core.keys import TEMP_UPLOADS_PREFIX, deleted_key
from core.settings import MiB

# Multipart from 16 MiB on, in 16 MiB parts: at most 10,000 parts covers ~156 GiB; larger files
# get proportionally larger parts (see `transfer_config`).
MULTIPART_THRESHOLD = 16 * MiB
MIN_TRANSFER_PART_SIZE = 16 * MiB
TRANSFER_CONCURRENCY = 4
# Downloads: ranged GETs of a fixed size (no part-count limit applies to reads), written in
# order so the SHA-256 is computed on the way. At most DOWNLOAD_WINDOW parts are held in memory
# at once: DOWNLOAD_WINDOW * DOWNLOAD_PART_SIZE = 128 MiB whatever the object's size.
DOWNLOAD_PART_SIZE = 16 * MiB
DOWNLOAD_WINDOW = 2 * TRANSFER_CONCURRENCY
DOWNLOAD_PART_ATTEMPTS = 3


@dataclass(frozen=True)
class DownloadedFile:
    """A local copy of an object: its size and the SHA-256 of its bytes, hashed as they came."""

    size: int
    sha256: str


def transfer_config(size_bytes: int) -> TransferConfig:
    """Transfer-manager settings: streamed multipart, part size grown to stay under 10,000."""
    part_size = max(MIN_TRANSFER_PART_SIZE, -(-size_bytes // MAX_PARTS))
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
    """The run's logger inside a task (shown in the Prefect UI), else this module's."""
    try:
        return get_run_logger()
    except Exception:
        return logging.getLogger(__name__)


def copy_object(bucket: S3Bucket, source_key: str, destination_key: str) -> ObjectInfo:
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


def move_to_deleted(bucket: S3Bucket, key: str) -> bool:
    """Soft-deletes one object: copies it to `deleted/{key}`, then removes the live key, so it is
    never lost whatever fails in between (a retry copies again). False if the live key held no
    object (moved before, or never written): nothing to do.

    An upload's temp key (a failed version's kept upload) is not freed but replaced by a
    tombstone: its presigned URL may still be valid and would write the key again (single-use
    URLs, docs/spec.md §3.2); `cleanup-stale-uploads` removes the tombstone once it expired."""
    info = head_object(bucket, key)
    if info is None or info.tombstone:
        return False
    copy_object(bucket, key, deleted_key(key))
    if key.startswith(TEMP_UPLOADS_PREFIX):
        write_tombstone(bucket, key)
    else:
        delete_object(bucket, key)
    return True


def upload_file(
    bucket: S3Bucket, local_path: Path, key: str, content_type: str | None = None
) -> ObjectInfo:
    """Streams a local file to `key` with the transfer manager (multipart above 16 MiB); checks
    it landed whole."""
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


def upload_file_once(
    bucket: S3Bucket, local_path: Path, key: str, content_type: str | None = None
) -> ObjectInfo | None:
    """Writes `key` only if it holds no object yet; None if it does (the store answered 412).

    The object already there is never overwritten, whether it was there before the upload
    started or another writer completed it meanwhile.
    """
    try:
        with _writes_once(s3_client(bucket), key):
            return upload_file(bucket, local_path, key, content_type)
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
        with suppress(*STREAM_ERRORS):
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


def download_file(bucket: S3Bucket, key: str, local_path: Path) -> DownloadedFile:
    """Streams `key` to a local file, hashing its bytes as they are written (no second pass).

    Ranged GETs run TRANSFER_CONCURRENCY at a time and are written in order, with at most
    DOWNLOAD_WINDOW parts in memory. Not the transfer manager's `download_fileobj` into a
    non-seekable hashing writer: s3transfer 0.19.3 with `response_checksum_validation=
    "when_required"` (our client) schedules the remaining ranges from the first range's done
    callback, which still holds a slot of its sliding window of 10 in-memory parts, so an object
    of more than 10 parts never finishes (a deadlock, reproduced on moto).
    """
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


# Hashing an object in place (`automl fsck --deep`): fewer parts in memory than a download.
HASH_WINDOW = 4
HASH_THREADS = 2


def hash_object(bucket: S3Bucket, key: str) -> DownloadedFile | None:
    """The size and SHA-256 of the object at `key`, streamed in ranged GETs (at most
    HASH_WINDOW parts of DOWNLOAD_PART_SIZE in memory, whatever its size), never written
    anywhere; None if there is no such key."""
    info = head_object(bucket, key)
    if info is None:
        return None
    client = s3_client(bucket)

    def fetch(first: int, last: int) -> bytes:
        return _fetch_range(client, bucket.bucket_name, info, first, last)

    digest = hashlib.sha256()
    parts = ordered_parts(fetch, info.size, DOWNLOAD_PART_SIZE, HASH_WINDOW, HASH_THREADS)
    with closing(parts):
        for part in parts:
            digest.update(part)
    return DownloadedFile(size=info.size, sha256=digest.hexdigest())
