"""The stack the load run drives, each part a real process on 127.0.0.1: a Prefect server on
PostgreSQL, the catalog on PostgreSQL, an S3 endpoint, and `automl up` (the HTTP API and the
Prefect runner that serves `ingest-dataset`, its runs forked from the warm process), with one
user and token per simulated user.

PostgreSQL for both databases, as production runs them: on SQLite the Prefect server refuses
concurrent writes (`database is locked`, docs/benchmarks.md *API*), and the catalog serializes
every upload-url and confirm on one writer.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

import httpx
import psutil
from botocore.exceptions import ClientError

from blocks.storage import build_storage_block, s3_client
from catalog.accounts import create_token
from catalog.database import Catalog
from core.settings import DEFAULT_TIERS, Settings
from stack_process import StackProcess
from tests.support.ports import free_port
from tests.support.production import base_environment, postgres_database, prefect_server

HOST = "127.0.0.1"
S3_START_SECONDS = 60.0
STACK_START_SECONDS = 240.0  # `automl up` on busy cores: imports, migrations, setup-storage
USER_PREFIX = "load-user-"
TIER = "enterprise"  # the load is about concurrency, not quotas: no upload may be refused
UNLIMITED_IN_FLIGHT = {
    **DEFAULT_TIERS[TIER].model_dump(),
    "max_ingestions_in_flight": 10_000,
    "max_training_jobs_in_flight": 10_000,
    "max_uploads_in_flight": 1_000_000,  # wrk's upload-url rows confirm none
}


@dataclass(frozen=True)
class S3Endpoint:
    """An S3 endpoint and its credentials, with the process serving it when we started one."""

    url: str
    access_key: str = "minioadmin"
    secret_key: str = "minioadmin"
    region: str = "auto"
    pid: int | None = None


def _serve_s3(port: int) -> None:
    """Child process: the embedded S3 server (moto) until terminated."""
    from blocks.embedded_s3 import EmbeddedS3Server

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it (SIGTERM)
    with EmbeddedS3Server(host=HOST, port=port):
        while True:
            time.sleep(3600)


def _wait_http(url: str, process: BaseProcess, what: str, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError(f"the {what} exited ({process.exitcode}) before it answered")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return
        time.sleep(0.2)
    raise RuntimeError(f"the {what} did not answer {url} in {seconds:.0f} s")


def _stop(process: BaseProcess) -> None:
    if process.is_alive():
        process.terminate()
        process.join(10)
    if process.is_alive():
        process.kill()
        process.join(5)


@contextmanager
def s3_process() -> Iterator[S3Endpoint]:
    """The embedded S3 server (moto) in a process of its own, so that its CPU shows apart."""
    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_s3, args=(port,), name="load-s3", daemon=True
    )
    process.start()
    try:
        url = f"http://{HOST}:{port}"
        _wait_http(f"{url}/", process, "S3 server", S3_START_SECONDS)
        yield S3Endpoint(url, pid=process.pid)
    finally:
        _stop(process)


def port_of(url: str) -> int:
    port = httpx.URL(url).port
    if port is None:
        raise ValueError(f"no port in {url}")
    return port


def listening_pid(port: int) -> int | None:
    """The process listening on `port` of this machine (a server started by a helper that only
    hands back its URL), if it can be seen."""
    with contextlib.suppress(psutil.Error):
        for connection in psutil.net_connections(kind="tcp"):
            address = connection.laddr
            if connection.status == psutil.CONN_LISTEN and address and address.port == port:
                return connection.pid
    return None


def remove_bucket(store: Any, bucket: str) -> None:
    """Empties and removes a bucket, if it exists (the store may be shared with other runs)."""
    with contextlib.suppress(ClientError):
        for page in store.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                store.delete_object(Bucket=bucket, Key=item["Key"])
        store.delete_bucket(Bucket=bucket)


@dataclass(frozen=True)
class LoadStack:
    """What the driver and the checks need to reach the running stack."""

    api_url: str
    settings: Settings  # the store, bucket and catalog `automl up` runs with
    prefect_api_url: str
    tokens: dict[str, str]  # user id → token
    stack: StackProcess
    prefect_pid: int | None
    s3: S3Endpoint
    workdir: Path

    @property
    def catalog_url(self) -> str:
        return self.settings.catalog_url

    def store(self) -> Any:
        """A boto3 client of the stack's store."""
        return s3_client(build_storage_block(self.settings))


def _create_tokens(catalog_url: str, settings: Settings, users: int) -> dict[str, str]:
    catalog = Catalog(catalog_url)
    try:
        with catalog.session() as session:
            return {
                f"{USER_PREFIX}{i:03d}": create_token(
                    session, settings, f"{USER_PREFIX}{i:03d}", TIER
                )
                for i in range(users)
            }
    finally:
        catalog.dispose()


@contextmanager
def load_stack(workdir: Path, postgres_url: str, s3: S3Endpoint, users: int) -> Iterator[LoadStack]:
    """A Prefect server and a catalog, each on a new database of the PostgreSQL server of
    `postgres_url`, and `automl up` over them and a new bucket of `s3` (its setup-storage
    creates it); `users` users with a token each. Everything is stopped and the databases
    dropped on the way out; the bucket stays (the caller's store may be shared)."""
    bucket = f"automl-load-{uuid.uuid4().hex[:12]}"
    environment = base_environment(workdir / "prefect-home", workdir / "pycache")
    with ExitStack() as stack:
        prefect_db = stack.enter_context(postgres_database(postgres_url, "asyncpg"))
        catalog_url = stack.enter_context(postgres_database(postgres_url, "psycopg"))
        prefect_log = workdir / "prefect-server.log"
        prefect_api_url = stack.enter_context(prefect_server(environment, prefect_db, prefect_log))
        stack_environment = {
            **environment,
            "PREFECT_API_URL": prefect_api_url,
            "R2_ENDPOINT": s3.url,
            "R2_ACCESS_KEY_ID": s3.access_key,
            "R2_SECRET_ACCESS_KEY": s3.secret_key,
            "R2_REGION": s3.region,
            "R2_BUCKET_NAME": bucket,
            "AUTOML_DATABASE_URL": catalog_url,
            "AUTOML_API_PORT": str(free_port()),
            "AUTOML_RUNNER_POLL_SECONDS": "1",
            # The default tiers' limits of work in flight fit the deployments' concurrency; the
            # load is about concurrency, not fairness, so its tier lifts them.
            "AUTOML_TIERS": json.dumps({TIER: UNLIMITED_IN_FLIGHT}),
        }
        data_dir = workdir / "automl-data"
        automl_up = StackProcess(data_dir, stack_environment)
        automl_up.start()
        stack.callback(automl_up.stop)
        endpoints = automl_up.wait_ready(STACK_START_SECONDS)
        assert endpoints.api_url is not None
        settings = Settings(
            R2_ENDPOINT=s3.url,
            R2_ACCESS_KEY_ID=s3.access_key,
            R2_SECRET_ACCESS_KEY=s3.secret_key,
            R2_REGION=s3.region,
            R2_BUCKET_NAME=bucket,
            AUTOML_DATABASE_URL=catalog_url,
            AUTOML_DATA_DIR=data_dir,
        )
        tokens = _create_tokens(catalog_url, settings, users)
        yield LoadStack(
            api_url=endpoints.api_url,
            settings=settings,
            prefect_api_url=prefect_api_url,
            tokens=tokens,
            stack=automl_up,
            prefect_pid=listening_pid(port_of(prefect_api_url)),
            s3=s3,
            workdir=workdir,
        )
