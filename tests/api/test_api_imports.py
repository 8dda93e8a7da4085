"""The API process stays light: building the app and answering requests imports neither
scikit-learn, pandas nor matplotlib (the training and the plots run in flows, not here), and
the garbage collector's oldest generation does not walk what start-up built."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import boto3
import pytest

from tests.support.stores import StoreSpec, create_bucket

# e2e: a fresh interpreter importing the app: processes of its own.
pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parents[2]
FORBIDDEN = ("sklearn", "pandas", "matplotlib")
REPORTED = (*FORBIDDEN, "scipy", "joblib", "polars", "pyarrow", "numpy")

BUILD_AND_ASK = f"""
import gc, json, sys
from fastapi.testclient import TestClient
from api.app import create_app, freeze_startup_heap
from blocks.storage import build_storage_block
from core.settings import get_settings

settings = get_settings()
app = create_app(settings, storage=build_storage_block(settings))
freeze_startup_heap()  # as a serving process does, its app built
with TestClient(app) as client:
    health = client.get("/healthz").json()
    schemas = client.get("/openapi.json").json()["components"]["schemas"]
    for _ in range(300):
        client.get("/api/usage")  # refused without a token: still a request's garbage
gc.collect()
print(json.dumps({{
    "health": health,
    "model_metadata_documented": "ModelMetadata" in schemas,
    "imported": [name for name in {REPORTED!r} if name in sys.modules],
    "frozen": gc.get_freeze_count(),
    "oldest_generation": len(gc.get_objects(generation=2)),
}}))
"""


def test_building_the_app_and_serving_imports_no_training_or_plotting_library(
    default_store_spec: StoreSpec, tmp_path: Path
) -> None:
    """A fresh process, as `uvicorn api.app:app_from_environment` starts: the app over a real
    catalog (SQLite) and store (the default test store), asked for its health and schema."""
    bucket = f"automl-test-{uuid.uuid4().hex[:16]}"
    spec = default_store_spec
    client = boto3.client(
        "s3",
        endpoint_url=spec.endpoint,
        aws_access_key_id=spec.access_key,
        aws_secret_access_key=spec.secret_key,
        region_name=spec.region,
    )
    create_bucket(client, bucket, spec.region)
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("R2_", "AUTOML_", "PREFECT_"))
    }
    environment |= {
        "R2_ENDPOINT": spec.endpoint,
        "R2_ACCESS_KEY_ID": spec.access_key,
        "R2_SECRET_ACCESS_KEY": spec.secret_key,
        "R2_BUCKET_NAME": bucket,
        "R2_REGION": spec.region,
        "AUTOML_DATA_DIR": str(tmp_path / "data"),
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    try:
        finished = subprocess.run(
            [sys.executable, "-c", BUILD_AND_ASK],
            cwd=REPO_ROOT,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        )
    finally:
        client.delete_bucket(Bucket=bucket)
    seen = json.loads(finished.stdout.splitlines()[-1])
    assert seen["health"] == {"status": "ok", "checks": {"storage": "ok", "database": "ok"}}
    assert seen["model_metadata_documented"]
    assert not set(seen["imported"]) & set(FORBIDDEN), seen["imported"]
    # Start-up's objects (Prefect, SQLAlchemy, pydantic, the S3 client) are frozen: a collection
    # of the oldest generation, which every request in flight waits for, walks only the few
    # that requests left behind (~9,000 of 260,000; ~45,000 if the S3 client came later).
    assert seen["frozen"] > 100_000, seen
    assert seen["oldest_generation"] < seen["frozen"] / 10, seen
