"""The S3 stores the tests run against: how to reach one (`StoreSpec`), one test's view of it
(`Store`, with a bucket name no other test uses), and the parametrisations over store kinds.

`default` is the embedded moto server, or the server named by AUTOML_TEST_S3_ENDPOINT (e.g.
MinIO); `strict` is LocalStack's S3 with signature checks on (an e2e test: see tests/conftest.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from prefect_aws import S3Bucket

from blocks.objects import TOMBSTONE_METADATA
from blocks.storage import build_storage_block, s3_client, save_storage_block
from core.settings import Settings, get_settings

STORE_KINDS = ("default", "strict")


def e2e_kind(kind: str) -> Any:
    """A store kind as a parameter; `strict` (LocalStack, a server of its own) marked `e2e`."""
    return pytest.param(kind, marks=pytest.mark.e2e) if kind == "strict" else kind


# For tests whose behaviour does not depend on the store (Prefect runs, catalog states, settings,
# artifacts): the `store` fixture (and so `bucket`) of one kind only. Storage-facing behaviour
# (presigned URLs, signatures, conditional writes, multipart, CORS, listings) keeps both kinds.
default_store_only = pytest.mark.parametrize("store", ["default"], indirect=True)
strict_store_only = pytest.mark.parametrize("store", [e2e_kind("strict")], indirect=True)


@dataclass(frozen=True)
class StoreSpec:
    """How to reach one S3 server."""

    kind: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str

    def through(self, endpoint: str, kind: str | None = None) -> StoreSpec:
        """The same server reached at `endpoint` (a fault proxy in front of it)."""
        return replace(self, endpoint=endpoint, kind=kind or self.kind)


def create_bucket(client: Any, name: str, region: str) -> None:
    """Outside us-east-1 the region must be named (as `ensure_bucket` does)."""
    arguments: dict[str, Any] = {"Bucket": name}
    if region != "us-east-1":
        arguments["CreateBucketConfiguration"] = {"LocationConstraint": region}
    client.create_bucket(**arguments)


@dataclass(frozen=True)
class Store:
    """One test's view of a store: its settings, the saved block, and a boto3 client."""

    spec: StoreSpec
    settings: Settings
    block: S3Bucket
    client: Any

    @property
    def bucket_name(self) -> str:
        return self.settings.r2_bucket_name

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    def data_keys(self, prefix: str = "") -> list[str]:
        """`keys` without the tombstones that keep used upload keys occupied (docs/spec.md
        §3.2): the objects that hold bytes of the user's."""
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        )
        return [
            item["Key"]
            for page in pages
            for item in page.get("Contents", [])
            if item["Size"] > 0 or not self.is_tombstone(item["Key"])
        ]

    def is_tombstone(self, key: str) -> bool:
        head = self.client.head_object(Bucket=self.bucket_name, Key=key)
        return bool(
            head["ContentLength"] == 0
            and head.get("Metadata", {}).items() >= TOMBSTONE_METADATA.items()
        )

    def create_bucket(self) -> None:
        create_bucket(self.client, self.bucket_name, self.spec.region)

    def remove_bucket(self) -> None:
        try:
            for key in self.keys():
                self.client.delete_object(Bucket=self.bucket_name, Key=key)
            self.client.delete_bucket(Bucket=self.bucket_name)
        except ClientError:
            pass


def use_store(spec: StoreSpec, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Points the settings at `spec` with a fresh bucket name and saves the storage block."""
    values = {
        "R2_ENDPOINT": spec.endpoint,
        "R2_ACCESS_KEY_ID": spec.access_key,
        "R2_SECRET_ACCESS_KEY": spec.secret_key,
        "R2_BUCKET_NAME": f"automl-test-{uuid.uuid4().hex[:16]}",
        "R2_REGION": spec.region,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    settings = get_settings()
    block = save_storage_block(settings)
    return Store(spec, settings, block, s3_client(block))


_signature_checks: dict[str, bool] = {}


def checks_signatures(spec: StoreSpec) -> bool:
    """Probes a store: does it refuse a presigned URL whose signature was tampered with?"""
    if spec.kind not in _signature_checks:
        client = s3_client(
            build_storage_block(
                Settings(
                    R2_ENDPOINT=spec.endpoint,
                    R2_ACCESS_KEY_ID=spec.access_key,
                    R2_SECRET_ACCESS_KEY=spec.secret_key,
                    R2_REGION=spec.region,
                )
            )
        )
        probe_bucket = f"automl-probe-{uuid.uuid4().hex[:12]}"
        create_bucket(client, probe_bucket, spec.region)
        client.put_object(Bucket=probe_bucket, Key="probe", Body=b"probe")
        url = client.generate_presigned_url(
            "get_object", Params={"Bucket": probe_bucket, "Key": "probe"}, ExpiresIn=60
        )
        tampered = url[:-1] + ("0" if url[-1] != "0" else "1")
        _signature_checks[spec.kind] = httpx.get(tampered).status_code == 403
        client.delete_object(Bucket=probe_bucket, Key="probe")
        client.delete_bucket(Bucket=probe_bucket)
    return _signature_checks[spec.kind]
