"""The storage connection as a Prefect block (prefect-aws `S3Bucket`), built from the settings.

One client configuration serves R2, MinIO and AWS S3 alike: Signature V4, path-style
addressing, checksums only when the operation requires them, and then as `Content-MD5` (R2 and
older MinIO reject the CRC32 checksums boto3 >= 1.36 sends by default).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from botocore.config import Config
from prefect_aws import AwsClientParameters, AwsCredentials, S3Bucket

from core.settings import Settings

STORAGE_BLOCK_NAME = "automl-storage"
# The name this project's credentials block had until issue 15 (see `save_storage_block`).
CREDENTIALS_BLOCK_NAME = "automl-storage-credentials"


def client_config() -> Config:
    """The botocore configuration every S3 client of the project uses."""
    return Config(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"mode": "standard", "max_attempts": 3},
        connect_timeout=10,
        # The API signs and checks objects from up to 40 request threads (uvicorn's pool).
        max_pool_connections=50,
        read_timeout=120,
    )


def build_storage_block(settings: Settings, endpoint_url: str | None = None) -> S3Bucket:
    """An unsaved `S3Bucket` for the configured store (or `endpoint_url`, the embedded one)."""
    endpoint = endpoint_url or settings.endpoint_url
    if endpoint is None:
        raise ValueError("no S3 endpoint: set R2_ENDPOINT or start the embedded server")
    credentials = AwsCredentials(
        aws_access_key_id=settings.r2_access_key_id.get_secret_value(),
        aws_secret_access_key=settings.r2_secret_access_key,
        region_name=settings.r2_region,
        aws_client_parameters=AwsClientParameters(endpoint_url=endpoint, config=client_config()),
    )
    return S3Bucket(bucket_name=settings.r2_bucket_name, credentials=credentials)


def save_storage_block(settings: Settings, endpoint_url: str | None = None) -> S3Bucket:
    """Builds the block and saves it so it shows in the Prefect UI. Its credentials are saved
    inside it (an anonymous block), not as a block of their own: the server announces every
    named block it saves in a `prefect.block-document.*` event that carries the block's plain
    string fields, and an `AwsCredentials`'s access key id is one (issue 15)."""
    bucket = build_storage_block(settings, endpoint_url)
    bucket.save(STORAGE_BLOCK_NAME, overwrite=True)
    return bucket


def load_storage_block() -> S3Bucket:
    """The saved storage block; flows and tasks reach storage only through it.

    Always the sync load: inside a running event loop (uvicorn calling the API's factory)
    Prefect's async dispatch would hand back an un-awaited coroutine instead of the block."""
    block: S3Bucket = S3Bucket.load(  # type: ignore[assignment, call-arg]
        STORAGE_BLOCK_NAME, validate=False, _sync=True
    )
    return block


# The client of each credentials object this process used, by identity: prefect-aws caches
# clients by a hash of the credentials' fields, which walks them on every call (0.13 ms, a
# tenth of an upload-url's CPU). Holding the object keeps its id from being reused.
_CLIENTS: dict[int, tuple[object, Any]] = {}
_MOST_CLIENTS = 16  # blocks built per test or per run: past this, start again


def s3_client(bucket: S3Bucket) -> Any:
    """The boto3 S3 client of a storage block (one per credentials object and process)."""
    credentials = bucket.credentials
    known = _CLIENTS.get(id(credentials))
    if known is not None and known[0] is credentials:
        return known[1]
    client = credentials.get_s3_client()
    client.meta.events.register(
        "before-call.s3", required_checksum_as_content_md5, unique_id=_CONTENT_MD5_HOOK
    )
    if len(_CLIENTS) >= _MOST_CLIENTS:
        _CLIENTS.clear()
    _CLIENTS[id(credentials)] = (credentials, client)
    return client


_CONTENT_MD5_HOOK = "automl-required-checksum-as-content-md5"


def required_checksum_as_content_md5(params: dict[str, Any], model: Any, **_: Any) -> None:
    """A checksum the operation requires (PutBucketCors, PutBucketLifecycleConfiguration,
    DeleteObjects) goes as `Content-MD5`, as botocore sent it before 1.36, not as the
    `x-amz-checksum-crc32` + `x-amz-sdk-checksum-algorithm` headers it picks by default even
    under `when_required`: R2 documents those headers as not implemented on these operations
    (https://developers.cloudflare.com/r2/api/s3/api/) and answers 501 `NotImplemented`, and
    every S3 store accepts Content-MD5. A checksum the caller chose is left alone."""
    required = model.http_checksum_required or model.http_checksum.get("requestChecksumRequired")
    checksum = params.get("context", {}).get("checksum", {})
    algorithm = checksum.get("request_algorithm")
    chosen_by_caller = any(
        name.lower() == "x-amz-sdk-checksum-algorithm" for name in params.get("headers", {})
    )
    body = params.get("body")
    if not required or chosen_by_caller or not isinstance(body, bytes | bytearray):
        return
    if isinstance(algorithm, dict) and algorithm.get("in") == "header":
        del checksum["request_algorithm"]  # botocore then adds no checksum header of its own
        checksum.pop("request_algorithm_header", None)
        digest = hashlib.md5(body, usedforsecurity=False).digest()
        params["headers"]["Content-MD5"] = base64.b64encode(digest).decode("ascii")
