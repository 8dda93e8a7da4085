"""Presigning and multipart bookkeeping: multipart plans, part URLs, completion, abort."""

from __future__ import annotations

import os
from datetime import datetime

import botocore.auth
import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from blocks import presigning
from blocks.objects import head_object, write_tombstone
from blocks.storage import build_storage_block, load_storage_block, s3_client
from core.settings import Settings
from tests.support.stores import Store

MiB = 1024**2
TiB = 1024**4


@given(st.integers(min_value=1, max_value=5 * TiB))
def test_a_plan_covers_the_file_within_s3_part_limits(size: int) -> None:
    plan = presigning.plan_multipart(size)
    assert 5 * MiB <= plan.part_size <= 5 * 1024**3
    assert 1 <= plan.part_count <= 10_000
    assert plan.part_size * (plan.part_count - 1) < size <= plan.part_size * plan.part_count
    last = plan.part_length(plan.part_count, size)
    assert 0 < last <= plan.part_size


def test_a_5_tib_file_fits_in_10000_parts() -> None:
    plan = presigning.plan_multipart(5 * TiB)
    assert plan.part_count <= 10_000
    with pytest.raises(ValueError):
        presigning.plan_multipart(5 * TiB + 1)


def test_multipart_applies_above_the_threshold_and_always_above_5_gib() -> None:
    assert not presigning.needs_multipart(100 * MiB, 100 * MiB)
    assert presigning.needs_multipart(100 * MiB + 1, 100 * MiB)
    assert presigning.needs_multipart(5 * 1024**3 + 1, 10 * 1024**3)


def test_presigned_part_urls_upload_a_multipart_object(bucket: Store) -> None:
    storage = load_storage_block()
    key = "uploads/temp/mp.csv"
    size = 16 * MiB + 1024
    plan = presigning.plan_multipart(size)
    assert plan.part_count == 2
    body = os.urandom(size)
    multipart_id = presigning.start_multipart(storage, key)
    etags = []
    for number in (1, 2):
        length = plan.part_length(number, size)
        request = presigning.presign_part(storage, key, multipart_id, number, length, 600)
        offset = plan.part_size * (number - 1)
        response = httpx.put(
            request.url, content=body[offset : offset + length], headers=request.headers
        )
        assert response.status_code == 200, response.text
        etags.append((number, response.headers["etag"]))
    presigning.complete_multipart(storage, key, multipart_id, list(reversed(etags)))
    stored = bucket.client.get_object(Bucket=bucket.bucket_name, Key=key)["Body"].read()
    assert stored == body


def test_completing_with_a_wrong_etag_is_rejected(bucket: Store) -> None:
    storage = load_storage_block()
    key = "uploads/temp/bad.csv"
    multipart_id = presigning.start_multipart(storage, key)
    request = presigning.presign_part(storage, key, multipart_id, 1, 10, 600)
    assert httpx.put(request.url, content=b"0123456789", headers=request.headers).is_success
    with pytest.raises(presigning.MultipartRejectedError):
        presigning.complete_multipart(storage, key, multipart_id, [(1, "0" * 32)])
    assert bucket.keys("uploads/") == []


def test_completion_never_replaces_an_object_at_the_key(bucket: Store) -> None:
    """Completion sends If-None-Match: *, like the PUT URL: a tombstone (or any object) at the
    key stays."""
    storage = load_storage_block()
    key = "uploads/temp/taken.csv"
    write_tombstone(storage, key)
    multipart_id = presigning.start_multipart(storage, key)
    request = presigning.presign_part(storage, key, multipart_id, 1, 10, 600)
    put = httpx.put(request.url, content=b"0123456789", headers=request.headers)
    assert put.is_success
    with pytest.raises(presigning.MultipartRejectedError, match="already holds an object"):
        presigning.complete_multipart(storage, key, multipart_id, [(1, put.headers["etag"])])
    info = head_object(storage, key)
    assert info is not None and info.tombstone and info.size == 0
    presigning.abort_multipart(storage, key, multipart_id)


def test_an_aborted_upload_is_gone_and_aborting_again_is_harmless(bucket: Store) -> None:
    storage = load_storage_block()
    key = "uploads/temp/abort.csv"
    multipart_id = presigning.start_multipart(storage, key)
    assert presigning.abort_multipart(storage, key, multipart_id) is True
    listed = bucket.client.list_multipart_uploads(Bucket=bucket.bucket_name)
    assert [u["UploadId"] for u in listed.get("Uploads", [])] == []
    assert presigning.abort_multipart(storage, key, multipart_id) is False


def test_part_numbers_outside_1_to_10000_are_refused(bucket: Store) -> None:
    with pytest.raises(ValueError, match="part number"):
        presigning.presign_part(load_storage_block(), "uploads/temp/x.csv", "id", 10_001, 5, 60)


@pytest.mark.parametrize(
    ("endpoint", "key", "size", "write_once"),
    [
        ("https://acct.example.com", "uploads/temp/0b7e-4c1a.csv", 1000, True),
        ("http://127.0.0.1:9000/", "uploads/temp/a_b.parquet", 5 * 1024**3, False),
        ("https://acct.example.com", "uploads/temp/needs encoding+é.csv", 10, True),
    ],
)
def test_a_put_url_is_the_one_botocore_presigns(
    endpoint: str, key: str, size: int, write_once: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`presign_put` signs with botocore's signer on the request botocore would build: at the
    same instant, the very URL of `generate_presigned_url` (a key needing encoding goes through
    botocore's whole call)."""
    instant = datetime(2026, 12, 3, 11, 59, 59)
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *_: instant)
    storage = build_storage_block(Settings(R2_ENDPOINT=endpoint, R2_REGION="auto"))
    signed = presigning.presign_put(storage, key, size, 900, write_once)
    params: dict[str, object] = {
        "Bucket": storage.bucket_name,
        "Key": key,
        "ContentType": presigning.UPLOAD_CONTENT_TYPE,
        "ContentLength": size,
    }
    if write_once:
        params["IfNoneMatch"] = "*"
    expected = s3_client(storage).generate_presigned_url(
        "put_object", Params=params, ExpiresIn=900, HttpMethod="PUT"
    )
    assert signed.url == expected
    assert "X-Amz-Date=20261203T115959Z" in signed.url
