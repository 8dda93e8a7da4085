"""Storage tasks against every store: streamed transfers, object facts, copies, presigned URLs."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import httpx
import pytest
from prefect import flow

from blocks import transfers
from blocks.objects import ObjectInfo
from blocks.storage import load_storage_block, s3_client
from blocks.transfers import DownloadedFile
from tasks import storage
from tests.support.stores import Store

MiB = 1024**2


def _random_file(path: Path, size: int) -> str:
    digest = hashlib.sha256()
    with path.open("wb") as handle:
        remaining = size
        while remaining:
            chunk = os.urandom(min(remaining, 4 * MiB))
            handle.write(chunk)
            digest.update(chunk)
            remaining -= len(chunk)
    return digest.hexdigest()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(MiB), b""):
            digest.update(chunk)
    return digest.hexdigest()


def test_a_large_file_goes_up_in_parts_and_comes_back_identical(
    bucket: Store, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    expected = _random_file(source, 40 * MiB)

    @flow
    def round_trip() -> tuple[ObjectInfo, DownloadedFile]:
        info = storage.upload_file(
            source, "datasets/u/d/v.parquet", "application/vnd.apache.parquet"
        )
        back = storage.download_file("datasets/u/d/v.parquet", tmp_path / "back.bin")
        return info, back

    info, back = round_trip()
    assert info.size == back.size == 40 * MiB
    assert info.etag.endswith("-3")  # 16 MiB parts: multipart, not one PUT
    assert info.content_type == "application/vnd.apache.parquet"
    assert _sha256(tmp_path / "back.bin") == back.sha256 == expected


def test_a_download_of_more_parts_than_its_window_arrives_whole_and_hashed(
    bucket: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfers, "DOWNLOAD_PART_SIZE", MiB)  # 20 parts, window of 8
    body = os.urandom(20 * MiB - 7)
    bucket.client.put_object(Bucket=bucket.bucket_name, Key="uploads/temp/a.csv", Body=body)
    back = storage.download_file("uploads/temp/a.csv", tmp_path / "a.csv")
    assert (back.size, back.sha256) == (len(body), hashlib.sha256(body).hexdigest())
    assert (tmp_path / "a.csv").read_bytes() == body


def test_an_empty_object_downloads_as_an_empty_file(bucket: Store, tmp_path: Path) -> None:
    bucket.client.put_object(Bucket=bucket.bucket_name, Key="uploads/temp/e.csv", Body=b"")
    back = storage.download_file("uploads/temp/e.csv", tmp_path / "e.csv")
    assert (back.size, back.sha256) == (0, hashlib.sha256(b"").hexdigest())
    assert (tmp_path / "e.csv").read_bytes() == b""


@pytest.mark.parametrize("size", [5, 17 * MiB], ids=["one-request", "multipart"])
def test_a_write_once_upload_keeps_the_object_already_at_the_key(
    bucket: Store, tmp_path: Path, size: int
) -> None:
    key = "datasets/u/d/v.parquet"
    earlier = bucket.client.put_object(Bucket=bucket.bucket_name, Key=key, Body=b"first")
    source = tmp_path / "second.bin"
    source.write_bytes(os.urandom(size))
    assert storage.upload_file_once(source, key) is None
    stored = bucket.client.get_object(Bucket=bucket.bucket_name, Key=key)
    assert (stored["ETag"], stored["Body"].read()) == (earlier["ETag"], b"first")
    assert bucket.client.list_multipart_uploads(Bucket=bucket.bucket_name).get("Uploads", []) == []


def test_a_write_once_upload_loses_to_a_writer_that_completes_first(
    bucket: Store, tmp_path: Path
) -> None:
    key = "datasets/u/d/v.parquet"
    source = tmp_path / "ours.bin"
    source.write_bytes(os.urandom(17 * MiB))  # two parts
    client = s3_client(load_storage_block())  # the client the storage tasks use
    theirs: list[str] = []

    def other_writer_completes_first(params: dict[str, Any], **_: Any) -> None:
        if not theirs:  # our parts are up; the key is still free until another writer wins it
            theirs.append(client.put_object(Bucket=bucket.bucket_name, Key=key, Body=b"t")["ETag"])

    event = "before-parameter-build.s3.CompleteMultipartUpload"
    client.meta.events.register(event, other_writer_completes_first)
    try:
        assert storage.upload_file_once(source, key) is None
    finally:
        client.meta.events.unregister(event, other_writer_completes_first)
    stored = bucket.client.get_object(Bucket=bucket.bucket_name, Key=key)
    assert (stored["ETag"], stored["Body"].read()) == (theirs[0], b"t")
    assert bucket.client.list_multipart_uploads(Bucket=bucket.bucket_name).get("Uploads", []) == []


def test_a_write_once_upload_writes_a_free_key(bucket: Store, tmp_path: Path) -> None:
    source = tmp_path / "v.parquet"
    source.write_bytes(b"PAR1")
    info = storage.upload_file_once(source, "datasets/u/d/v.parquet", "application/x")
    assert info is not None and info.size == 4 and info.content_type == "application/x"


def test_a_small_file_goes_up_in_one_request(bucket: Store, tmp_path: Path) -> None:
    source = tmp_path / "small.csv"
    source.write_bytes(b"a,b\n1,2\n")
    info = storage.upload_file(source, "uploads/temp/x.csv")
    assert "-" not in info.etag
    assert bucket.keys() == ["uploads/temp/x.csv"]


def test_head_object_reports_size_and_missing_keys(bucket: Store) -> None:
    bucket.client.put_object(Bucket=bucket.bucket_name, Key="uploads/temp/a.csv", Body=b"12345")
    info = storage.head_object("uploads/temp/a.csv")
    assert info is not None and info.size == 5 and info.etag
    assert storage.head_object("uploads/temp/missing.csv") is None


def test_downloading_a_missing_key_fails_without_retrying(bucket: Store, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        storage.download_file("uploads/temp/missing.csv", tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_delete_is_idempotent(bucket: Store) -> None:
    bucket.client.put_object(Bucket=bucket.bucket_name, Key="plots/j/p.png", Body=b"png")
    assert storage.delete_object("plots/j/p.png") is True
    assert storage.delete_object("plots/j/p.png") is False
    assert bucket.keys() == []


def test_copy_keeps_the_source_and_writes_an_identical_object(bucket: Store) -> None:
    bucket.client.put_object(
        Bucket=bucket.bucket_name, Key="datasets/u/d/v.parquet", Body=b"x" * 100
    )
    copied = storage.copy_object("datasets/u/d/v.parquet", "deleted/datasets/u/d/v.parquet")
    assert copied.size == 100
    assert sorted(bucket.keys()) == ["datasets/u/d/v.parquet", "deleted/datasets/u/d/v.parquet"]


def test_a_presigned_put_uploads_with_exactly_the_listed_headers(bucket: Store) -> None:
    body = b"col_a,col_b\n1,2\n"
    request = storage.presign_put("uploads/temp/p.csv", len(body), 600)
    assert request.method == "PUT"
    assert request.headers == {
        "Content-Type": "application/octet-stream",
        "Content-Length": str(len(body)),
        "If-None-Match": "*",
    }
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in request.url
    assert "X-Amz-Expires=600" in request.url
    response = httpx.put(request.url, content=body, headers=request.headers)
    assert response.status_code == 200, response.text
    stored = bucket.client.get_object(Bucket=bucket.bucket_name, Key="uploads/temp/p.csv")
    assert stored["Body"].read() == body


def test_a_presigned_get_downloads_the_object(bucket: Store) -> None:
    bucket.client.put_object(Bucket=bucket.bucket_name, Key="plots/j/a.png", Body=b"\x89PNG")
    request = storage.presign_get("plots/j/a.png", 60, download_name="a.png")
    response = httpx.get(request.url)
    assert response.status_code == 200
    assert response.content == b"\x89PNG"
    assert response.headers["content-disposition"] == 'attachment; filename="a.png"'
