"""The storage block: saved where the Prefect UI shows it, one client config for every store."""

from __future__ import annotations

import json
from typing import Any

from prefect.client.orchestration import get_client
from prefect_aws import AwsCredentials, S3Bucket

from blocks.embedded_s3 import EmbeddedS3Server
from blocks.storage import (
    CREDENTIALS_BLOCK_NAME,
    STORAGE_BLOCK_NAME,
    build_storage_block,
    load_storage_block,
    s3_client,
)
from core.settings import Settings
from tests.support.stores import Store


def test_the_block_is_saved_on_the_prefect_server(store: Store) -> None:
    loaded = load_storage_block()
    assert isinstance(loaded, S3Bucket)
    assert loaded.bucket_name == store.bucket_name
    assert loaded.credentials.aws_client_parameters.endpoint_url == store.spec.endpoint

    keys = loaded.credentials
    assert isinstance(keys, AwsCredentials) and keys.aws_access_key_id == store.spec.access_key

    async def named_documents() -> dict[str, str]:
        async with get_client() as client:
            documents = await client.read_block_documents()  # the named ones
        return {d.name or "": d.block_type.slug if d.block_type else "" for d in documents}

    import asyncio

    # The credentials live inside the storage block, not as a named block of their own: the
    # server's event about a named block carries its plain fields, the access key id among them.
    named = asyncio.run(named_documents())
    assert named.get(STORAGE_BLOCK_NAME) == "s3-bucket"
    assert CREDENTIALS_BLOCK_NAME not in named and "aws-credentials" not in named.values()


def test_the_client_signs_v4_path_style_with_checksums_only_when_required() -> None:
    client = s3_client(build_storage_block(Settings(R2_ENDPOINT="https://acct.example.com")))
    config = client.meta.config
    assert config.signature_version == "s3v4"
    assert config.s3 == {"addressing_style": "path"}
    assert config.request_checksum_calculation == "when_required"
    assert config.response_checksum_validation == "when_required"
    assert client.meta.region_name == "auto"
    url = client.generate_presigned_url("get_object", Params={"Bucket": "b", "Key": "k"})
    assert url.startswith("https://acct.example.com/b/k?")
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url


def test_a_required_checksum_goes_as_content_md5_and_a_chosen_one_is_kept(
    bucket: Store,
) -> None:
    sent: list[tuple[str, dict[str, str]]] = []

    def record(request: Any, **_: Any) -> None:
        headers = {
            name.lower(): value.decode() if isinstance(value, bytes) else str(value)
            for name, value in request.headers.items()
        }
        sent.append((request.url.partition("?")[2], headers))

    client = bucket.client
    client.meta.events.register("before-send.s3", record)
    try:
        rules = {"CORSRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]}
        client.put_bucket_cors(Bucket=bucket.bucket_name, CORSConfiguration=rules)
        client.delete_objects(Bucket=bucket.bucket_name, Delete={"Objects": [{"Key": "k"}]})
        client.delete_objects(
            Bucket=bucket.bucket_name,
            Delete={"Objects": [{"Key": "k"}]},
            ChecksumAlgorithm="SHA256",
        )
    finally:
        client.meta.events.unregister("before-send.s3", record)
    (cors, cors_headers), (delete, delete_headers), (_, chosen_headers) = sent
    assert (cors, delete) == ("cors", "delete")
    for headers in (cors_headers, delete_headers):
        assert "content-md5" in headers  # the store checks the body against it
        assert not [name for name in headers if name.startswith(("x-amz-checksum", "x-amz-sdk"))]
    assert chosen_headers["x-amz-sdk-checksum-algorithm"] == "SHA256"
    assert "x-amz-checksum-sha256" in chosen_headers and "content-md5" not in chosen_headers
    assert client.get_bucket_cors(Bucket=bucket.bucket_name)["CORSRules"][0]["AllowedMethods"] == [
        "PUT"
    ]


def test_secrets_are_not_in_the_block_repr_or_its_public_fields() -> None:
    secret = "block-secret-never-shown"
    block = build_storage_block(
        Settings(R2_ENDPOINT="https://acct.example.com", R2_SECRET_ACCESS_KEY=secret)
    )
    assert secret not in repr(block)
    assert secret not in json.dumps(block.model_dump(mode="json"))


def test_the_embedded_server_binds_loopback_on_a_free_port() -> None:
    with EmbeddedS3Server() as first, EmbeddedS3Server() as second:
        assert first.endpoint_url.startswith("http://127.0.0.1:")
        assert first.endpoint_url != second.endpoint_url
        client = s3_client(build_storage_block(Settings(R2_ENDPOINT=first.endpoint_url)))
        client.create_bucket(
            Bucket="embedded-check", CreateBucketConfiguration={"LocationConstraint": "auto"}
        )
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["embedded-check"]
