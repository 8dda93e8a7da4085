"""Plain object operations: listings as the shared listing types, small reads, and which
storage errors are transient (worth retrying: 5xx, throttling, connections, and wrapped errors
by their cause; never 4xx)."""

from __future__ import annotations

import pytest
from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import ClientError, EndpointConnectionError, ReadTimeoutError

from blocks import objects
from blocks.objects import TOMBSTONE_METADATA
from blocks.storage import load_storage_block
from core.listings import ListedObject, OpenMultipart
from tests.support.stores import Store


def _client_error(status: int, code: str) -> ClientError:
    return ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}},  # type: ignore[typeddict-item]
        "HeadObject",
    )


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (_client_error(500, "InternalError"), True),
        (_client_error(503, "SlowDown"), True),
        (_client_error(429, "TooManyRequests"), True),
        (_client_error(400, "RequestTimeout"), True),
        (_client_error(403, "AccessDenied"), False),
        (_client_error(404, "NoSuchKey"), False),
        (_client_error(400, "InvalidArgument"), False),
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (ValueError("bad input"), False),
    ],
)
def test_failures_are_classified(error: Exception, transient: bool) -> None:
    assert objects.is_transient_storage_error(error) is transient


def test_a_download_that_ran_out_of_retries_is_transient() -> None:
    from boto3.exceptions import RetriesExceededError

    cause = ReadTimeoutError(endpoint_url="http://127.0.0.1:1")
    exhausted = RetriesExceededError(cause)  # type: ignore[arg-type]  # s3transfer passes these
    assert objects.is_transient_storage_error(exhausted)


def test_wrapped_transfer_errors_are_classified_by_their_cause() -> None:
    try:
        try:
            raise _client_error(503, "SlowDown")
        except ClientError as cause:
            raise S3UploadFailedError("upload failed") from cause
    except S3UploadFailedError as wrapped:
        assert objects.is_transient_storage_error(wrapped)


def test_listings_report_objects_and_open_multipart_uploads_as_the_shared_types(
    bucket: Store,
) -> None:
    for key in ("uploads/temp/b.csv", "uploads/temp/a.csv", "datasets/u/d/v.parquet"):
        bucket.client.put_object(Bucket=bucket.bucket_name, Key=key, Body=b"x")
    opened = bucket.client.create_multipart_upload(
        Bucket=bucket.bucket_name, Key="uploads/temp/m.csv"
    )["UploadId"]
    storage = load_storage_block()

    listed = objects.list_objects(storage, "uploads/temp/")
    assert [type(item) for item in listed] == [ListedObject, ListedObject]
    assert [item.key for item in listed] == ["uploads/temp/a.csv", "uploads/temp/b.csv"]
    assert objects.list_keys(storage, "datasets/") == ["datasets/u/d/v.parquet"]
    (multipart,) = objects.list_multipart_uploads(storage, "uploads/temp/")
    assert isinstance(multipart, OpenMultipart)
    assert (multipart.key, multipart.multipart_upload_id) == ("uploads/temp/m.csv", opened)


def test_a_small_read_refuses_a_large_object_and_answers_none_for_a_missing_key(
    bucket: Store,
) -> None:
    bucket.client.put_object(Bucket=bucket.bucket_name, Key="models/m.json", Body=b"{}" * 8)
    storage = load_storage_block()
    assert objects.read_object(storage, "models/m.json") == b"{}" * 8
    with pytest.raises(ValueError, match="16 bytes"):
        objects.read_object(storage, "models/m.json", max_bytes=15)
    assert objects.read_object(storage, "models/missing.json") is None


def test_a_tombstone_replaces_the_bytes_and_is_told_from_data(bucket: Store) -> None:
    storage = load_storage_block()
    key = "uploads/temp/u.csv"
    bucket.client.put_object(Bucket=bucket.bucket_name, Key=key, Body=b"a,b\n1,2\n")
    data = objects.head_object(storage, key)
    assert data is not None and not data.tombstone
    objects.write_tombstone(storage, key)
    tombstone = objects.head_object(storage, key)
    assert tombstone is not None and tombstone.tombstone and tombstone.size == 0
    assert objects.read_object(storage, key) == b""


def test_bytes_carrying_the_tombstone_metadata_are_data(bucket: Store) -> None:
    """A tombstone holds no bytes: an object with bytes is data whatever its metadata says (a
    client may set `x-amz-meta-*` itself), so it is never taken for a removed upload."""
    key = "uploads/temp/u.csv"
    bucket.client.put_object(
        Bucket=bucket.bucket_name, Key=key, Body=b"a,b\n1,2\n", Metadata=TOMBSTONE_METADATA
    )
    info = objects.head_object(load_storage_block(), key)
    assert info is not None and info.size > 0 and not info.tombstone
