"""Through the fault proxy's store profiles (tests/support/store_profiles.py): R2 as Cloudflare
documents it and MinIO without bucket CORS. First that each profile refuses what that store
refuses (so a pass below means something), then that setup-storage and the whole path upload ->
confirm -> ingest -> train -> plots -> downloads work through each."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from prefect.settings import PREFECT_API_URL

from blocks.storage import load_storage_block
from blocks.transfers import (
    MULTIPART_THRESHOLD,
    copy_object,
    download_file,
    upload_file_once,
)
from core.settings import MiB
from flows.ingest_dataset import ingest_dataset
from flows.render_plots import render_plots
from flows.setup_storage import setup_storage
from flows.train_model import train_model
from samples.generate import SAMPLE
from stack_process import AUTOML
from tasks.bucket_setup import TEMP_LIFECYCLE_RULE_ID, SetupStep
from tests.support.api_client import Api
from tests.support.fault_proxy import FaultProxy, Profiled, fault_proxy
from tests.support.store_profiles import MINIO, R2
from tests.support.stores import Store, StoreSpec, use_store
from tests.support.upload_steps import confirm, put_parts, upload

pytestmark = pytest.mark.e2e  # the fault proxy playing R2 and MinIO, each case a whole path


def _refusal(call: Callable[[], Any]) -> tuple[int, str]:
    with pytest.raises(ClientError) as refused:
        call()
    response = refused.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def _boto3_defaults(store: Store) -> Any:
    """A client as boto3 >= 1.36 makes it by default: checksums whenever supported."""
    return boto3.client(
        "s3",
        endpoint_url=store.spec.endpoint,
        aws_access_key_id=store.spec.access_key,
        aws_secret_access_key=store.spec.secret_key,
        region_name=store.spec.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


NOT_IMPLEMENTED = (501, "NotImplemented")


def test_the_r2_profile_refuses_what_r2_documents_as_not_implemented(
    default_store_spec: StoreSpec, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fault_proxy(default_store_spec.endpoint, R2) as proxy:
        spec = default_store_spec.through(proxy.endpoint_url, "r2")
        store = use_store(spec, monkeypatch)
        store.create_bucket()
        try:
            client, name = store.client, store.bucket_name
            client.put_object(Bucket=name, Key="k", Body=b"ours")  # our client passes
            refused = {
                "GetBucketAcl": lambda: client.get_bucket_acl(Bucket=name),
                "PutBucketAcl": lambda: client.put_bucket_acl(Bucket=name, ACL="private"),
                "GetObjectAcl": lambda: client.get_object_acl(Bucket=name, Key="k"),
                "GetBucketPolicy": lambda: client.get_bucket_policy(Bucket=name),
                "DeleteBucketPolicy": lambda: client.delete_bucket_policy(Bucket=name),
                "GetObjectTagging": lambda: client.get_object_tagging(Bucket=name, Key="k"),
                "PutBucketVersioning": lambda: client.put_bucket_versioning(
                    Bucket=name, VersioningConfiguration={"Status": "Enabled"}
                ),
                "GetBucketVersioning": lambda: client.get_bucket_versioning(Bucket=name),
                "PutObject with x-amz-acl": lambda: client.put_object(
                    Bucket=name, Key="k2", Body=b"x", ACL="public-read"
                ),
                # boto3's own defaults: a CRC32 header on PutObject, a trailer on uploads.
                "PutObject, boto3 defaults": lambda: _boto3_defaults(store).put_object(
                    Bucket=name, Key="k3", Body=b"x"
                ),
                "PutObject with CRC32C": lambda: client.put_object(
                    Bucket=name, Key="k4", Body=b"x", ChecksumCRC32C="AAAAAA=="
                ),
            }
            for operation, call in refused.items():
                assert _refusal(call) == NOT_IMPLEMENTED, operation
            assert store.keys() == ["k"]

            # No presigned POST: a browser form upload to the bucket is refused.
            post = client.generate_presigned_post(name, "uploads/temp/form.csv", ExpiresIn=60)
            answer = httpx.post(post["url"], data=post["fields"], files={"file": b"a,b\n1,2\n"})
            assert answer.status_code == 501 and "<Code>NotImplemented</Code>" in answer.text
            assert store.keys() == ["k"]
        finally:
            store.remove_bucket()


def test_the_minio_profile_refuses_bucket_cors_only(
    default_store_spec: StoreSpec, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with fault_proxy(default_store_spec.endpoint, MINIO) as proxy:
        spec = default_store_spec.through(proxy.endpoint_url, "minio")
        store = use_store(spec, monkeypatch)
        store.create_bucket()
        try:
            client, name = store.client, store.bucket_name
            rules = {"CORSRules": [{"AllowedMethods": ["PUT"], "AllowedOrigins": ["*"]}]}
            assert _refusal(lambda: client.get_bucket_cors(Bucket=name)) == NOT_IMPLEMENTED
            assert (
                _refusal(lambda: client.put_bucket_cors(Bucket=name, CORSConfiguration=rules))
                == NOT_IMPLEMENTED
            )
            assert _refusal(lambda: client.delete_bucket_cors(Bucket=name)) == NOT_IMPLEMENTED
            client.get_bucket_acl(Bucket=name)  # what R2 refuses, MinIO answers
            _boto3_defaults(store).put_object(Bucket=name, Key="k", Body=b"x")
        finally:
            store.remove_bucket()


def _outcomes(steps: list[SetupStep]) -> dict[str, str]:
    return {step.step: step.outcome for step in steps}


def _refused_subresources(proxy: FaultProxy) -> set[str]:
    """What the profile refused, by the request's sub-resource (`acl`, `cors`, ...)."""
    return {path.partition("?")[2] or path for _method, path, _answer in proxy.refused}


def _upstream_client(upstream: StoreSpec) -> Any:
    """A client straight to the store behind the proxy, to read what a refused call hides."""
    client = boto3.client(
        "s3",
        endpoint_url=upstream.endpoint,
        aws_access_key_id=upstream.access_key,
        aws_secret_access_key=upstream.secret_key,
        region_name=upstream.region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    return client


def test_setup_storage_sets_up_the_bucket_through_each_profile(profiled: Profiled) -> None:
    store, proxy = profiled.store, profiled.proxy
    steps = setup_storage()
    outcomes = _outcomes(steps)
    details = {step.step: step.detail for step in steps}
    upstream = _upstream_client(profiled.upstream)
    assert outcomes["bucket"] == "applied"
    assert outcomes["lifecycle"] == "applied"
    rules = upstream.get_bucket_lifecycle_configuration(Bucket=store.bucket_name)["Rules"]
    assert [rule["ID"] for rule in rules] == [TEMP_LIFECYCLE_RULE_ID]
    if proxy.profile is R2:
        # CORS and the lifecycle rule go with Content-MD5, which R2 takes, not CRC32 headers.
        assert outcomes["cors"] == "applied"
        assert upstream.get_bucket_cors(Bucket=store.bucket_name)["CORSRules"]
        # R2 has no ACL or policy API: said, never reported as checked.
        assert outcomes["private"] == "unsupported"
        assert "ACLs (NotImplemented)" in details["private"]
        assert "bucket policies (NotImplemented)" in details["private"]
        assert "Public access" in details["private"]
        assert _refused_subresources(proxy) == {"acl", "policy"}
    else:
        assert outcomes["cors"] == "unsupported"
        assert "MINIO_API_CORS_ALLOW_ORIGIN" in details["cors"]
        assert outcomes["private"] == "unchanged"
        assert _refused_subresources(proxy) == {"cors"}
    # A second run changes nothing and refuses the same way.
    assert _outcomes(setup_storage()) == outcomes | {"bucket": "unchanged"}


def test_the_setup_storage_command_exits_0_through_each_profile(profiled: Profiled) -> None:
    store, proxy = profiled.store, profiled.proxy
    environment = {name: value for name, value in os.environ.items() if not name.startswith("R2_")}
    environment.update(
        PREFECT_API_URL=str(PREFECT_API_URL.value()),  # the session's server: no waiting
        R2_ENDPOINT=store.spec.endpoint,
        R2_ACCESS_KEY_ID=store.spec.access_key,
        R2_SECRET_ACCESS_KEY=store.spec.secret_key,
        R2_REGION=store.spec.region,
        R2_BUCKET_NAME=store.bucket_name,
    )
    result = subprocess.run(
        [AUTOML, "setup-storage"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr + result.stdout
    assert "unsupported" in result.stdout  # R2: private; MinIO: cors
    assert f"created {store.bucket_name}" in result.stdout
    assert proxy.refused  # the profile was in the way


def test_upload_ingest_train_plots_and_downloads_pass_through_each_profile(
    profiled: Profiled, api_through_profile: Api
) -> None:
    store, proxy = profiled.store, profiled.proxy
    api = api_through_profile
    ids = confirm(api, upload(api, SAMPLE.read_bytes(), "churn.csv")).json()
    assert ingest_dataset(ids["version_id"]) == "ready"
    version = api.client.get(
        f"/api/datasets/{ids['dataset_id']}/versions/{ids['version_id']}/download-url",
        headers=api.token(),
    ).json()
    parquet = httpx.get(version["url"])
    assert parquet.status_code == 200 and parquet.content.startswith(b"PAR1")

    job = api.post("/api/jobs/train", {"version_id": ids["version_id"], "target": "churned"})
    assert job.status_code == 202, job.text
    job_id = job.json()["job_id"]
    train_model(ids["version_id"], "churned", job_id)
    model = api.client.get(f"/api/models/{job_id}", headers=api.token()).json()
    download = httpx.get(model["download_url"])
    assert download.status_code == 200
    assert len(download.content) == model["metadata"]["model_file"]["size_bytes"]

    names = render_plots(job_id)
    listing = api.client.get(f"/api/jobs/{job_id}/plots", headers=api.token()).json()
    assert listing["rendered"] is True and names
    assert sorted(plot["name"] for plot in listing["plots"]) == sorted(names)
    for plot in listing["plots"]:
        png = httpx.get(plot["url"])
        assert png.status_code == 200 and png.content.startswith(b"\x89PNG")

    # Only set-up's probes were refused: no checksum header, no trailer, no ACL on the way.
    assert _refused_subresources(proxy) == ({"acl", "policy"} if proxy.profile is R2 else {"cors"})
    assert not store.data_keys("uploads/temp/")  # tombstones only (single-use URLs)


def test_multipart_transfers_pass_through_each_profile(profiled: Profiled, tmp_path: Path) -> None:
    """Large files: the transfer manager's multipart upload (written once), hashed ranged
    downloads and the multipart copy of a soft delete, none of which may carry a checksum."""
    store, proxy = profiled.store, profiled.proxy
    store.create_bucket()
    content = os.urandom(MULTIPART_THRESHOLD + MiB)  # two parts
    source = tmp_path / "big.bin"
    source.write_bytes(content)
    block = load_storage_block()

    written = upload_file_once(block, source, "datasets/u/d/v.parquet")
    assert written is not None and written.size == len(content)
    assert upload_file_once(block, source, "datasets/u/d/v.parquet") is None  # once only
    downloaded = download_file(block, "datasets/u/d/v.parquet", tmp_path / "back.bin")
    assert downloaded.sha256 == hashlib.sha256(content).hexdigest()
    copied = copy_object(block, "datasets/u/d/v.parquet", "deleted/datasets/u/d/v.parquet")
    assert copied.size == len(content)
    assert proxy.refused == []


def test_a_multipart_upload_through_the_api_passes_through_each_profile(
    profiled: Profiled, api_through_profile: Api
) -> None:
    """Presigned part PUTs from the client, then confirm completes the upload at the store."""
    store, proxy, api = profiled.store, profiled.proxy, api_through_profile
    body = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(2_000_000))
    body = body[: 17 * MiB]
    body = body[: body.rfind(b"\n") + 1]  # 17 MiB of whole rows: two 16 MiB parts
    plan = api.post("/api/datasets/upload-url", {"filename": "big.csv", "size_bytes": len(body)})
    assert plan.status_code == 200, plan.text
    assert plan.json()["multipart"] == {"part_size": 16 * MiB, "part_count": 2}
    upload_id = plan.json()["upload_id"]
    parts = put_parts(api, upload_id, body, 16 * MiB, 2)
    confirmed = api.post(
        "/api/datasets/confirm", {"upload_id": upload_id, "dataset_name": "big", "parts": parts}
    )
    assert confirmed.status_code == 202, confirmed.text
    key = f"uploads/temp/{upload_id}.csv"
    assert store.client.get_object(Bucket=store.bucket_name, Key=key)["Body"].read() == body
    assert _refused_subresources(proxy) == ({"acl", "policy"} if proxy.profile is R2 else {"cors"})
