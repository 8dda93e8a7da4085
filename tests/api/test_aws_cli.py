"""Other clients: the AWS CLI lists and reads the bucket with the configured credentials, as the
recipe of docs/operations.md ("Reading the bucket with the AWS CLI") says."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.upload_steps import confirm, upload

# e2e: the `aws` command, run as a subprocess: processes of its own.
pytestmark = pytest.mark.e2e

AWS = str(Path(sys.executable).parent / "aws")


def _aws(api: Api, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    """`aws ... --endpoint-url R2_ENDPOINT` with the recipe's environment, from the settings."""
    settings = api.settings
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "R2_"))}
    recipe = {
        "AWS_ACCESS_KEY_ID": settings.r2_access_key_id.get_secret_value(),
        "AWS_SECRET_ACCESS_KEY": settings.r2_secret_access_key.get_secret_value(),
        "AWS_DEFAULT_REGION": settings.r2_region,
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
        # Nothing from this machine's ~/.aws, and no instance metadata lookup.
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    assert settings.r2_endpoint is not None
    return subprocess.run(
        [AWS, *args, "--endpoint-url", str(settings.r2_endpoint).rstrip("/")],
        capture_output=True,
        env={**clean, **recipe},
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def test_the_aws_cli_lists_and_reads_the_bucket(api: Api, tmp_path: Path) -> None:
    ids = confirm(api, upload(api)).json()
    assert ingest_dataset(ids["version_id"]) == "ready"
    bucket = api.store.bucket_name
    [key] = api.store.data_keys("datasets/")
    assert key.endswith(f"/{ids['dataset_id']}/{ids['version_id']}.parquet")
    stored = api.store.client.get_object(Bucket=bucket, Key=key)["Body"].read()

    listed = _aws(api, tmp_path, "s3", "ls", f"s3://{bucket}/datasets/", "--recursive")
    assert listed.returncode == 0, listed.stderr.decode()
    [line] = listed.stdout.decode().splitlines()
    assert line.split()[2:] == [str(len(stored)), key]  # date, time, size, key

    read = _aws(api, tmp_path, "s3", "cp", f"s3://{bucket}/{key}", "-")
    assert read.returncode == 0, read.stderr.decode()
    assert read.stdout == stored
