"""Session fixtures: one S3 server per kind, one Prefect test harness, one PostgreSQL server.

Stores: `default` is the embedded moto server, or the server named by AUTOML_TEST_S3_ENDPOINT
(e.g. MinIO); `strict` is LocalStack's S3 with signature checks on. Storage-facing tests run
against both. Under CI=true nothing that a test needs may be skipped: it fails instead.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")

import httpx
import pytest
from botocore.exceptions import ClientError
from prefect.blocks.core import Block
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness
from prefect_aws import S3Bucket

from blocks.embedded_s3 import EmbeddedS3Server
from blocks.storage import build_storage_block, s3_client, save_storage_block
from core.settings import Settings, get_settings
from flows.ingest_dataset import ingest_dataset
from tests.support.fault_proxy import FaultProxy, fault_proxy
from tests.support.localstack import localstack_python, run_localstack
from tests.support.postgres import postgres_bin_dir, run_postgres

IN_CI = os.environ.get("CI", "").lower() == "true"
STORE_KINDS = ("default", "strict")
S3_ENV = ("R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY", "R2_BUCKET_NAME", "R2_REGION")

# For tests whose behaviour does not depend on the store (Prefect runs, catalog states, settings,
# artifacts): the `store` fixture (and so `bucket`) of one kind only. Storage-facing behaviour
# (presigned URLs, signatures, conditional writes, multipart, CORS, listings) keeps both kinds.
default_store_only = pytest.mark.parametrize("store", ["default"], indirect=True)
strict_store_only = pytest.mark.parametrize("store", ["strict"], indirect=True)


def require(reason: str) -> None:
    """Skips a test whose tool is missing on a developer machine; fails it under CI."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)


def isolate_environment(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """The spec's defaults (no R2_* or AUTOML_* variable) with the data dir in `directory`."""
    for name in list(os.environ):
        if name.startswith(("R2_", "AUTOML_")) and not name.startswith("AUTOML_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AUTOML_DATA_DIR", str(directory / "automl-data"))
    get_settings.cache_clear()


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from the spec's defaults in its own data dir."""
    isolate_environment(monkeypatch, tmp_path)
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _block_schemas_computed_once() -> Iterator[None]:
    """Every test saves the storage block; most of a save is Prefect rebuilding the JSON schema
    of `S3Bucket` and its nested blocks (about a hundred times per save, all pure functions of
    the class). Computed once per class and arguments, handed out as copies; the saves still go
    to the server as before."""
    computed: dict[tuple[Any, ...], dict[str, Any]] = {}
    build = Block.model_json_schema.__func__  # type: ignore[attr-defined]

    def model_json_schema(cls: type[Block], *args: Any, **kwargs: Any) -> dict[str, Any]:
        key = (cls, args, tuple(sorted(kwargs.items())))
        if key not in computed:
            computed[key] = build(cls, *args, **kwargs)
        return copy.deepcopy(computed[key])

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Block, "model_json_schema", classmethod(model_json_schema))
        yield


@dataclass(frozen=True)
class StoreSpec:
    """How to reach one S3 server."""

    kind: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str


@pytest.fixture(scope="session")
def default_store_spec() -> Iterator[StoreSpec]:
    endpoint = os.environ.get("AUTOML_TEST_S3_ENDPOINT")
    if endpoint:
        yield StoreSpec(
            "default",
            endpoint,
            os.environ.get("AUTOML_TEST_S3_ACCESS_KEY_ID", "minioadmin"),
            os.environ.get("AUTOML_TEST_S3_SECRET_ACCESS_KEY", "minioadmin"),
            os.environ.get("AUTOML_TEST_S3_REGION", "us-east-1"),
        )
        return
    with EmbeddedS3Server() as server:
        yield StoreSpec("default", server.endpoint_url, "minioadmin", "minioadmin", "auto")


@pytest.fixture(scope="session")
def strict_store_spec(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreSpec]:
    if localstack_python() is None:
        require("LocalStack is not installed; run scripts/install-localstack.sh")
    with run_localstack(tmp_path_factory.mktemp("localstack")) as endpoint:
        yield StoreSpec("strict", endpoint, "test", "test", "us-east-1")


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect server for the whole session; flows run for real against it."""
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        yield


@pytest.fixture(scope="session")
def ingest_deployment(prefect_api: None) -> str:
    """The `ingest-dataset` deployment registered on the test server (nothing serves it, so the
    runs the API creates stay scheduled; tests run the flow themselves where they need it)."""
    deployment: Any = ingest_dataset.to_deployment(name="ingest-dataset")  # sync: not awaited
    return str(deployment.apply())


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


@pytest.fixture(params=STORE_KINDS)
def store(
    request: pytest.FixtureRequest, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """A store of each kind with a bucket name no other test uses; the bucket does not exist."""
    spec: StoreSpec = request.getfixturevalue(f"{request.param}_store_spec")
    handle = use_store(spec, monkeypatch)
    yield handle
    handle.remove_bucket()


@pytest.fixture
def bucket(store: Store) -> Store:
    """A store of each kind with a fresh, empty bucket."""
    store.create_bucket()
    return store


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


@pytest.fixture
def signing_bucket(
    request: pytest.FixtureRequest, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """A fresh bucket on the first store that checks presigned signatures (found by probing)."""
    for kind in STORE_KINDS:
        try:
            spec: StoreSpec = request.getfixturevalue(f"{kind}_store_spec")
        except pytest.skip.Exception:
            continue
        if checks_signatures(spec):
            handle = use_store(spec, monkeypatch)
            handle.create_bucket()
            yield handle
            handle.remove_bucket()
            return
    require("no store that checks presigned signatures is available")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    url = os.environ.get("AUTOML_TEST_DATABASE_URL")
    if url:
        yield url
        return
    if postgres_bin_dir() is None:
        require("PostgreSQL is not installed (apt-get install postgresql)")
    with run_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty catalog database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'catalog.db'}"
        return
    import sqlalchemy as sa

    server_url: str = request.getfixturevalue("postgres_server")
    name = f"automl_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    yield sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture
def faulty_bucket(
    default_store_spec: StoreSpec, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Store, FaultProxy]]:
    """A fresh bucket on the default store, reached through a proxy that can inject faults."""
    with fault_proxy(default_store_spec.endpoint) as proxy:
        spec = StoreSpec(
            "default",
            proxy.endpoint_url,
            default_store_spec.access_key,
            default_store_spec.secret_key,
            default_store_spec.region,
        )
        handle = use_store(spec, monkeypatch)
        handle.create_bucket()
        yield handle, proxy
        proxy.faults.clear()
        handle.remove_bucket()
