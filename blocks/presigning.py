"""Presigned requests and multipart bookkeeping: PUT and GET URLs, multipart plans, part URLs,
completion and abort.

These run in the API's request path, so they are plain functions over a storage block rather
than Prefect tasks: a request must not wait for task-run bookkeeping. Bytes never pass through
them; they sign requests a client sends straight to the store.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import ClientError
from prefect_aws import S3Bucket

from blocks.objects import (
    MAX_OBJECT_BYTES,
    MAX_PART_SIZE,
    MAX_PARTS,
    MAX_SINGLE_PUT_BYTES,
    MIN_PART_SIZE,
    is_precondition_failed,
)
from blocks.storage import s3_client
from core.settings import MiB

UPLOAD_CONTENT_TYPE = "application/octet-stream"
# Parts a browser sends comfortably; grown for huge files so the count stays under 10,000.
PREFERRED_PART_SIZE = 16 * MiB


@dataclass(frozen=True)
class PresignedRequest:
    """A request a client can send straight to storage, with every header it must send."""

    url: str
    method: str
    headers: dict[str, str]
    expires_at: datetime


@dataclass(frozen=True)
class MultipartPlan:
    part_size: int
    part_count: int

    def part_length(self, part_number: int, size_bytes: int) -> int:
        """Bytes in part `part_number` (1-based): every part is full except the last."""
        if part_number < self.part_count:
            return self.part_size
        return size_bytes - self.part_size * (self.part_count - 1)


def needs_multipart(size_bytes: int, threshold_bytes: int) -> bool:
    """Above the threshold, and always above 5 GiB (the most one PUT may carry)."""
    return size_bytes > threshold_bytes or size_bytes > MAX_SINGLE_PUT_BYTES


def plan_multipart(size_bytes: int) -> MultipartPlan:
    """Equal parts of at least 16 MiB (whole MiB), as few as needed to stay within 10,000."""
    if not 0 < size_bytes <= MAX_OBJECT_BYTES:
        raise ValueError(f"a multipart upload holds 1 byte to 5 TiB, not {size_bytes}")
    needed = -(-size_bytes // MAX_PARTS)
    part_size = max(PREFERRED_PART_SIZE, -(-needed // MiB) * MiB)
    part_count = max(1, -(-size_bytes // part_size))
    assert MIN_PART_SIZE <= part_size <= MAX_PART_SIZE and part_count <= MAX_PARTS
    return MultipartPlan(part_size=part_size, part_count=part_count)


def expiry(expires_in: int) -> datetime:
    return datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=expires_in)


def presign_put(
    bucket: S3Bucket, key: str, size_bytes: int, expires_in: int, write_once: bool = True
) -> PresignedRequest:
    """A SigV4 PUT URL bound to the content type, the exact length and (if asked) `If-None-Match`.

    The bound headers are signed, so a client sending another length or type is refused by the
    store; `If-None-Match: *` makes the URL write its key once where the store honours it.
    """
    params: dict[str, Any] = {
        "Bucket": bucket.bucket_name,
        "Key": key,
        "ContentType": UPLOAD_CONTENT_TYPE,
        "ContentLength": size_bytes,
    }
    headers = {"Content-Type": UPLOAD_CONTENT_TYPE, "Content-Length": str(size_bytes)}
    if write_once:
        params["IfNoneMatch"] = "*"
        headers["If-None-Match"] = "*"
    client = s3_client(bucket)
    url = _signed_put_url(bucket, client, key, headers, expires_in)
    if url is None:
        url = client.generate_presigned_url(
            "put_object", Params=params, ExpiresIn=expires_in, HttpMethod="PUT"
        )
    return PresignedRequest(url=url, method="PUT", headers=headers, expires_at=expiry(expires_in))


# Keys that need no percent-encoding in a path (every key this project makes).
_PLAIN_KEY = re.compile(r"[A-Za-z0-9._/-]+")
# The credentials each S3 client signs with, by the client's identity (see `_signed_put_url`).
_SIGNING_CREDENTIALS: dict[int, tuple[Any, Any]] = {}


def _signed_put_url(
    bucket: S3Bucket, client: Any, key: str, headers: dict[str, str], expires_in: int
) -> str | None:
    """The presigned PUT URL, signed by botocore's own SigV4 query signer (`S3SigV4QueryAuth`,
    the signer `generate_presigned_url` ends in) on the request that call would build: the
    path-style URL `{endpoint}/{bucket}/{key}` and the bound headers. It skips the call's
    parameter validation, endpoint rules and serialization, two thirds of its 0.2 ms in every
    upload-url; `tests/blocks/test_presigning.py` checks the URL is the one botocore builds.
    None (botocore's whole call then) for a key that needs encoding or an endpoint with a path.
    """
    endpoint = client.meta.endpoint_url
    if not _PLAIN_KEY.fullmatch(key) or urlsplit(endpoint).path not in ("", "/"):
        return None
    known = _SIGNING_CREDENTIALS.get(id(client))
    if known is None or known[0] is not client:
        credentials = bucket.credentials.get_boto3_session().get_credentials()
        if credentials is None:
            return None
        if len(_SIGNING_CREDENTIALS) >= 16:
            _SIGNING_CREDENTIALS.clear()
        known = _SIGNING_CREDENTIALS[id(client)] = (client, credentials)
    request = AWSRequest(
        method="PUT", url=f"{endpoint.rstrip('/')}/{bucket.bucket_name}/{key}", headers=headers
    )
    signer = S3SigV4QueryAuth(
        known[1].get_frozen_credentials(), "s3", client.meta.region_name, expires=expires_in
    )
    signer.add_auth(request)
    return str(request.url)


def presign_get(
    bucket: S3Bucket, key: str, expires_in: int, download_name: str | None = None
) -> PresignedRequest:
    """A SigV4 GET URL; `download_name` sets the browser's file name (already a checked name)."""
    params: dict[str, Any] = {"Bucket": bucket.bucket_name, "Key": key}
    if download_name:
        params["ResponseContentDisposition"] = f'attachment; filename="{download_name}"'
    url = s3_client(bucket).generate_presigned_url(
        "get_object", Params=params, ExpiresIn=expires_in, HttpMethod="GET"
    )
    return PresignedRequest(url=url, method="GET", headers={}, expires_at=expiry(expires_in))


def start_multipart(bucket: S3Bucket, key: str) -> str:
    """Opens a multipart upload at the store; its parts are then PUT through presigned URLs."""
    response = s3_client(bucket).create_multipart_upload(
        Bucket=bucket.bucket_name, Key=key, ContentType=UPLOAD_CONTENT_TYPE
    )
    return str(response["UploadId"])


def presign_part(
    bucket: S3Bucket,
    key: str,
    multipart_upload_id: str,
    part_number: int,
    part_length: int,
    expires_in: int,
) -> PresignedRequest:
    """A SigV4 PUT URL for one part, bound to that part's exact length."""
    if not 1 <= part_number <= MAX_PARTS:
        raise ValueError(f"part number must be within 1..{MAX_PARTS}, got {part_number}")
    url = s3_client(bucket).generate_presigned_url(
        "upload_part",
        Params={
            "Bucket": bucket.bucket_name,
            "Key": key,
            "UploadId": multipart_upload_id,
            "PartNumber": part_number,
            "ContentLength": part_length,
        },
        ExpiresIn=expires_in,
        HttpMethod="PUT",
    )
    return PresignedRequest(
        url=url,
        method="PUT",
        headers={"Content-Length": str(part_length)},
        expires_at=expiry(expires_in),
    )


_PART_REJECTIONS = frozenset({"InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"})


class MultipartRejectedError(Exception):
    """The store refused to assemble the parts (missing, wrong ETag, too small)."""


def complete_multipart(
    bucket: S3Bucket, key: str, multipart_upload_id: str, parts: list[tuple[int, str]]
) -> None:
    """Assembles the object from `(part_number, etag)` pairs, in part-number order.

    Sends `If-None-Match: *` like the single PUT URL does: the assembled object never replaces
    one already at the key (412, reported as a rejection).
    """
    ordered = [
        {"PartNumber": number, "ETag": etag if etag.startswith('"') else f'"{etag}"'}
        for number, etag in sorted(parts)
    ]
    try:
        s3_client(bucket).complete_multipart_upload(
            Bucket=bucket.bucket_name,
            Key=key,
            UploadId=multipart_upload_id,
            MultipartUpload={"Parts": ordered},
            IfNoneMatch="*",
        )
    except ClientError as exc:
        if is_precondition_failed(exc):
            raise MultipartRejectedError(f"{key} already holds an object") from exc
        error = exc.response.get("Error", {})
        if error.get("Code") in _PART_REJECTIONS:
            raise MultipartRejectedError(str(error.get("Message") or error.get("Code"))) from exc
        raise


def abort_multipart(bucket: S3Bucket, key: str, multipart_upload_id: str) -> bool:
    """Aborts the upload and frees its parts; False if the store no longer knows it."""
    try:
        s3_client(bucket).abort_multipart_upload(
            Bucket=bucket.bucket_name, Key=key, UploadId=multipart_upload_id
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
            return False
        raise
    return True


@dataclass(frozen=True)
class StoredPart:
    """A part the store holds for an open multipart upload (ListParts)."""

    part_number: int
    size_bytes: int
    etag: str


def list_parts(bucket: S3Bucket, key: str, multipart_upload_id: str) -> list[StoredPart] | None:
    """Every part the store holds, in part-number order (all pages of ListParts), so a client
    resuming an upload sends only the others; None if the store no longer knows the upload."""
    client = s3_client(bucket)
    parts: list[StoredPart] = []
    marker = 0
    while True:
        try:
            page = client.list_parts(
                Bucket=bucket.bucket_name,
                Key=key,
                UploadId=multipart_upload_id,
                PartNumberMarker=marker,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NoSuchUpload":
                return None
            raise
        for part in page.get("Parts", []):
            parts.append(
                StoredPart(
                    part_number=int(part["PartNumber"]),
                    size_bytes=int(part["Size"]),
                    etag=str(part["ETag"]),
                )
            )
        if not page.get("IsTruncated"):
            return parts
        marker = int(page["NextPartNumberMarker"])
