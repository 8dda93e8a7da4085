"""Two process workers on the deployed clone's work pool and the API, over one bucket and one
catalog: the scale-out path of tests/production/test_prefect_deploy.py."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings

from blocks.storage import s3_client, save_storage_block
from catalog.database import Catalog
from core.settings import DEFAULT_TIERS, Settings
from tests.support.production import Background, Deployed
from tests.support.stores import StoreSpec, create_bucket

WORKERS = ("worker-a", "worker-b")
ENTERPRISE_UNLIMITED_IN_FLIGHT = {
    **DEFAULT_TIERS["enterprise"].model_dump(),
    "max_ingestions_in_flight": 10_000,
    "max_training_jobs_in_flight": 10_000,
}
WORKER_LIMIT = 4  # concurrent flow runs a worker takes: neither can hold the test's 20 ingestions


@dataclass
class Pool:
    """Two workers on the pool and the API, over one bucket and one catalog."""

    api_url: str
    processes: list[Background]
    settings: Settings
    store: Any
    catalog: Catalog

    @property
    def bucket(self) -> str:
        return self.settings.r2_bucket_name


@contextmanager
def worker_pool(
    deployed: Deployed, store_spec: StoreSpec, catalog_url: str, directory: Path
) -> Iterator[Pool]:
    """The workers and the API started on a fresh bucket of `store_spec` and the catalog at
    `catalog_url`, their logs and data in `directory`; the bucket removed afterwards."""
    settings = Settings(
        R2_ENDPOINT=store_spec.endpoint,
        R2_ACCESS_KEY_ID=store_spec.access_key,
        R2_SECRET_ACCESS_KEY=store_spec.secret_key,
        R2_REGION=store_spec.region,
        R2_BUCKET_NAME=f"automl-test-{uuid.uuid4().hex[:16]}",
    )
    environment = {
        **deployed.environment,
        "R2_ENDPOINT": store_spec.endpoint,
        "R2_ACCESS_KEY_ID": store_spec.access_key,
        "R2_SECRET_ACCESS_KEY": store_spec.secret_key,
        "R2_REGION": store_spec.region,
        "R2_BUCKET_NAME": settings.r2_bucket_name,
        "AUTOML_DATABASE_URL": catalog_url,
        "AUTOML_DATA_DIR": str(directory / "automl-data"),
        "PREFECT_WORKER_QUERY_SECONDS": "1",  # polls every second (default 10)
        # The deploy test queues more ingestions than the deployment runs at once, to see its
        # concurrency hold: its enterprise user may have them all in flight.
        "AUTOML_TIERS": json.dumps({"enterprise": ENTERPRISE_UNLIMITED_IN_FLIGHT}),
    }
    # What `automl setup-storage` leaves (its flow has tests of its own): the bucket, and the
    # storage block saved on the server, which every flow run loads.
    with temporary_settings(
        updates={PREFECT_API_URL: deployed.api_url, PREFECT_API_AUTH_STRING: deployed.auth_string}
    ):
        store = s3_client(save_storage_block(settings))
    create_bucket(store, settings.r2_bucket_name, store_spec.region)
    catalog = Catalog(catalog_url)
    try:
        with (
            deployed.worker(WORKERS[0], environment, WORKER_LIMIT, directory / "a.log") as a,
            deployed.worker(WORKERS[1], environment, WORKER_LIMIT, directory / "b.log") as b,
            deployed.api(environment, directory / "api.log") as (api_url, api),
        ):
            yield Pool(api_url, [a, b, api], settings, store, catalog)
    finally:
        catalog.dispose()
        _remove_bucket(store, settings.r2_bucket_name)


def bucket_keys(store: Any, bucket: str) -> list[str]:
    """Every key in `bucket`, page by page."""
    pages = store.get_paginator("list_objects_v2").paginate(Bucket=bucket)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


def _remove_bucket(store: Any, bucket: str) -> None:
    with contextlib.suppress(ClientError):  # never created if setup-storage failed
        for key in bucket_keys(store, bucket):
            store.delete_object(Bucket=bucket, Key=key)
        store.delete_bucket(Bucket=bucket)
