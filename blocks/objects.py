"""Plain operations on the objects of the storage block: facts, deletes, reads, listings, and
which storage errors are worth retrying.

Plain functions over an `S3Bucket`, no Prefect tasks: the API calls them in its request path
(a request must not wait for task-run bookkeeping) and `tasks/storage.py` wraps them in
retrying tasks for the flows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    IncompleteReadError,
    ReadTimeoutError,
    ResponseStreamingError,
)
from prefect_aws import S3Bucket

from blocks.storage import s3_client
from core.listings import ListedObject, OpenMultipart
from core.settings import GiB, MiB, TiB

# S3's limits (R2 and MinIO share them): 5 MiB..5 GiB a part, 10,000 parts, 5 GiB in one PUT,
# 5 TiB an object.
MIN_PART_SIZE = 5 * MiB
MAX_PART_SIZE = 5 * GiB
MAX_PARTS = 10_000
MAX_SINGLE_PUT_BYTES = 5 * GiB
MAX_OBJECT_BYTES = 5 * TiB

SMALL_OBJECT_LIMIT = 16 * MiB

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
STREAM_ERRORS = (IncompleteReadError, ResponseStreamingError, ReadTimeoutError, ConnectionError)


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
        if isinstance(error, _CONNECTION_ERRORS + STREAM_ERRORS):
            return True
    return False


def is_precondition_failed(exc: BaseException | None) -> bool:
    """True if the store refused a conditional request (412), e.g. a write-once key taken."""
    for error in _error_chain(exc):
        if isinstance(error, ClientError):
            code = error.response.get("Error", {}).get("Code")
            return code == "PreconditionFailed" or _status(error) == 412
    return False


# The user metadata that marks a tombstone (`x-amz-meta-automl-tombstone: 1`).
TOMBSTONE_METADATA = {"automl-tombstone": "1"}


@dataclass(frozen=True)
class ObjectInfo:
    """What the store says about one object."""

    key: str
    size: int
    etag: str
    content_type: str | None
    last_modified: datetime
    tombstone: bool = False  # a zero-byte placeholder, never data (see `is_tombstone`)


def _is_missing(exc: ClientError) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    return code in {"404", "NoSuchKey", "NotFound"}


def is_tombstone(size: int, metadata: dict[str, str]) -> bool:
    """A tombstone (`write_tombstone`) holds no bytes and carries its metadata; both are
    required: an object with bytes is data whatever metadata a client set on it."""
    return size == 0 and metadata.items() >= TOMBSTONE_METADATA.items()


def head_object(bucket: S3Bucket, key: str) -> ObjectInfo | None:
    """The object's size, ETag and type, or None if there is no such key."""
    try:
        head = s3_client(bucket).head_object(Bucket=bucket.bucket_name, Key=key)
    except ClientError as exc:
        if _is_missing(exc):
            return None
        raise
    size = int(head["ContentLength"])
    return ObjectInfo(
        key=key,
        size=size,
        etag=str(head["ETag"]).strip('"'),
        content_type=head.get("ContentType"),
        last_modified=head["LastModified"],
        tombstone=is_tombstone(size, head.get("Metadata", {})),
    )


def delete_object(bucket: S3Bucket, key: str) -> bool:
    """Deletes `key`; True if it existed. Deleting a missing key is not an error (idempotent)."""
    existed = head_object(bucket, key) is not None
    s3_client(bucket).delete_object(Bucket=bucket.bucket_name, Key=key)
    return existed


def write_tombstone(bucket: S3Bucket, key: str) -> None:
    """Replaces whatever `key` holds by a zero-byte tombstone (or creates one).

    A presigned upload URL signs `If-None-Match: *`, so while its key holds any object the
    store refuses it (412): the tombstone keeps a used upload's key occupied, without the
    upload's bytes, until every URL for it has expired; the cleanup flow then removes it.
    It is one unconditional PutObject: the key is never free in between.
    """
    s3_client(bucket).put_object(
        Bucket=bucket.bucket_name, Key=key, Body=b"", Metadata=dict(TOMBSTONE_METADATA)
    )


def free_upload_key(bucket: S3Bucket, key: str, urls_expire_at: datetime, now: datetime) -> bool:
    """Frees a used upload's temp key: deleted once every URL for it expired (`urls_expire_at`,
    the upload's `expires_at`), else replaced by a tombstone so they stay refused (412) until
    `cleanup-stale-uploads` removes it. True if the key held data (not a tombstone, not empty)."""
    info = head_object(bucket, key)
    if urls_expire_at <= now:
        s3_client(bucket).delete_object(Bucket=bucket.bucket_name, Key=key)
    else:
        write_tombstone(bucket, key)
    return info is not None and not info.tombstone


def read_object(bucket: S3Bucket, key: str, max_bytes: int = SMALL_OBJECT_LIMIT) -> bytes | None:
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


# S3's largest listing page (and its default).
LISTING_PAGE_SIZE = 1000


def _listed(
    bucket: S3Bucket, operation: str, prefix: str, field: str, page_size: int = LISTING_PAGE_SIZE
) -> Iterator[dict[str, Any]]:
    """Every entry of `field` in the pages of a listing `operation` under `prefix`, fetched one
    page at a time as they are consumed."""
    pages = (
        s3_client(bucket)
        .get_paginator(operation)
        .paginate(
            Bucket=bucket.bucket_name, Prefix=prefix, PaginationConfig={"PageSize": page_size}
        )
    )
    for page in pages:
        yield from page.get(field, [])


def iter_objects(
    bucket: S3Bucket, prefix: str, page_size: int = LISTING_PAGE_SIZE
) -> Iterator[ListedObject]:
    """Every object under `prefix` with its LastModified and size, in key order (UTF-8 byte
    order), streamed page by page: memory does not grow with the bucket."""
    for item in _listed(bucket, "list_objects_v2", prefix, "Contents", page_size):
        yield ListedObject(
            key=item["Key"], last_modified=item["LastModified"], size=int(item["Size"])
        )


def list_objects(bucket: S3Bucket, prefix: str) -> list[ListedObject]:
    """Every object under `prefix` with its LastModified, in key order (paginated)."""
    return list(iter_objects(bucket, prefix))


def list_keys(bucket: S3Bucket, prefix: str) -> list[str]:
    """Every key under `prefix`, in key order."""
    return [listed.key for listed in list_objects(bucket, prefix)]


def check_bucket(bucket: S3Bucket) -> None:
    """Raises unless the bucket exists and these credentials reach it (one HeadBucket)."""
    s3_client(bucket).head_bucket(Bucket=bucket.bucket_name)


def list_multipart_uploads(bucket: S3Bucket, prefix: str) -> list[OpenMultipart]:
    """Every multipart upload open under `prefix` (paginated)."""
    return [
        OpenMultipart(
            key=item["Key"], multipart_upload_id=item["UploadId"], initiated=item["Initiated"]
        )
        for item in _listed(bucket, "list_multipart_uploads", prefix, "Uploads")
    ]
