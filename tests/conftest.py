"""Session fixtures: one S3 server per kind, one Prefect test harness, one PostgreSQL server;
and the per-test fixtures over them (a store of each kind, a bucket, a catalog database, the
deployments the API starts runs of). Then the fixtures of the modules at the top of tests/: the
Chromium check, stores reached through a store profile, and the production path's own server,
deploy and workers. Every fixture lives in a conftest.py, none in a test module
(tests/test_layout.py).

Stores: `default` is the embedded moto server, or the server named by AUTOML_TEST_S3_ENDPOINT
(e.g. MinIO); `strict` is LocalStack's S3 with signature checks on. Storage-facing tests run
against both. Under CI=true nothing that a test needs may be skipped: it fails instead.

LocalStack and PostgreSQL are servers beyond the session's Prefect harness and in-process moto:
the parameters that need them (`strict`, `postgresql`) carry the `e2e` marker, so that
`-m "not e2e"` leaves them out (README, Tests).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.one_ca_file import one_ca_certificate

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
# The test servers start without registering every imported block type (a fifth of a server's
# start-up CPU): a block's save registers its own type and schema
# (tests/support/prefect_patches.py).
os.environ.setdefault("PREFECT_SERVER_REGISTER_BLOCKS_ON_START", "false")
# They write the events they receive every 0.5 s instead of 5 s: a test that reads a run's events
# back waited for that write (4 s of a confirm-event test's 5).
os.environ.setdefault("PREFECT_SERVER_SERVICES_EVENT_PERSISTER_FLUSH_INTERVAL", "0.5")

# Each Prefect client builds a TLS context even to a plain-HTTP server: from one certificate, not
# certifi's ~140 (tests/support/one_ca_file.py).
os.environ.setdefault("PREFECT_API_SSL_CERT_FILE", one_ca_certificate())

import pytest
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings
from prefect.testing.utilities import prefect_test_harness

import catalog.verified_tokens
from blocks.embedded_s3 import EmbeddedS3Server
from core.settings import MiB, get_settings
from flows.ingest_dataset import ingest_dataset
from flows.setup_storage import setup_storage
from tests.support.api_client import Api, api_factory
from tests.support.browser import chromium_available
from tests.support.collector import (
    freeze_the_collected_and_collect_less_often,
    pause_collections_while_collecting,
)
from tests.support.fault_proxy import FaultProxy, Profiled, fault_proxy
from tests.support.isolation import isolate_environment
from tests.support.localstack import localstack_python, run_localstack
from tests.support.postgres import postgres_bin_dir, run_postgres
from tests.support.prefect_events import drain_events
from tests.support.prefect_patches import (
    block_schemas_computed_once,
    block_types_registered_once,
    prefect_client_backoff_capped,
)
from tests.support.prerequisites import require
from tests.support.store_profiles import PROFILES
from tests.support.stores import (
    STORE_KINDS,
    Store,
    StoreSpec,
    checks_signatures,
    e2e_kind,
    use_store,
)
from tests.support.token_clock import Clock


@pytest.fixture(autouse=True)
def _isolated_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Every test starts from the defaults of docs/spec.md §1 in its own data dir."""
    isolate_environment(monkeypatch, tmp_path)
    yield
    get_settings.cache_clear()


@pytest.fixture(scope="session", autouse=True)
def _block_schemas_computed_once() -> Iterator[None]:
    with block_schemas_computed_once():
        yield


@pytest.fixture(scope="session", autouse=True)
def _block_types_registered_once() -> Iterator[None]:
    with block_types_registered_once():
        yield


# Retrying tasks, and botocore between its own attempts, wait at most this long in the tests
# that ask for `brief_retry_waits` (fault scenarios whose outage outlasts every retry).
BRIEF_RETRY_WAIT_SECONDS = 0.1


@pytest.fixture
def brief_retry_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every retrying task of the storage, catalog and lifecycle steps keeps its number of
    retries and its retry conditions, but waits BRIEF_RETRY_WAIT_SECONDS between attempts
    instead of its backoff (1, 2, 4, 8 s for storage steps), and so does botocore between its
    own 4 attempts of a request (up to 1, 2, 4 s): a scenario whose outage outlasts every
    retry ends in seconds. What is tested (which failures are retried, how often, and the state
    each step leaves) is unchanged."""
    from botocore.retries.standard import ExponentialBackoff
    from prefect import Task

    import flows.cleanup_stale_uploads as cleanup_flow
    import tasks.deletion
    import tasks.lifecycle
    import tasks.records
    import tasks.storage

    backoff = ExponentialBackoff.delay_amount
    monkeypatch.setattr(
        ExponentialBackoff,
        "delay_amount",
        lambda self, context: min(backoff(self, context), BRIEF_RETRY_WAIT_SECONDS),
    )
    modules = (tasks.storage, tasks.records, tasks.deletion, tasks.lifecycle, cleanup_flow)
    for module in modules:
        for value in vars(module).values():
            if isinstance(value, Task) and value.retries:
                monkeypatch.setattr(value, "retry_delay_seconds", [BRIEF_RETRY_WAIT_SECONDS])


@pytest.fixture(scope="session", autouse=True)
def _prefect_client_backoff_capped() -> Iterator[None]:
    with prefect_client_backoff_capped():
        yield


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


pause_collections_while_collecting()


def pytest_collection_finish(session: pytest.Session) -> None:
    freeze_the_collected_and_collect_less_often()


@pytest.fixture(scope="session")
def prefect_api() -> Iterator[None]:
    """One Prefect server for the whole session; flows run for real against it. Its teardown
    drains every events worker of the process with no time limit, and a worker left sending to a
    server a test has stopped retries for minutes: a bounded drain first stops them all."""
    with (
        prefect_test_harness(server_startup_timeout=120),
        temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}),
    ):
        try:
            yield
        finally:
            drain_events()


@pytest.fixture(scope="session")
def ingest_deployment(prefect_api: None) -> str:
    """The `ingest-dataset` deployment registered on the test server (nothing serves it, so the
    runs the API creates stay scheduled; tests run the flow themselves where they need it)."""
    deployment: Any = ingest_dataset.to_deployment(name="ingest-dataset")  # sync: not awaited
    return str(deployment.apply())


@pytest.fixture(scope="session")
def train_deployment(prefect_api: None) -> str:
    """The `train-model` deployment registered on the test server, for the API's train route
    (nothing serves it either). Its flow is imported here, not above: it brings scikit-learn,
    seconds that tests which never train should not wait."""
    from flows.train_model import train_model

    deployment: Any = train_model.to_deployment(name="train-model")  # sync: not awaited
    return str(deployment.apply())


@pytest.fixture(params=[e2e_kind(kind) for kind in STORE_KINDS])
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


@pytest.fixture
def signing_bucket(
    request: pytest.FixtureRequest, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """A fresh bucket on the first store that checks presigned signatures (found by probing).
    moto does not check them, so this is LocalStack unless AUTOML_TEST_S3_ENDPOINT names a store
    that does: the tests that use it are marked `e2e`."""
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


@pytest.fixture
def chromium_required() -> None:
    """Skips the test when Debian's Chromium is missing (fails it under CI=true)."""
    if not chromium_available():
        require("Chromium is not installed (apt-get install chromium)")


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.e2e)])
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
        spec = default_store_spec.through(proxy.endpoint_url)
        handle = use_store(spec, monkeypatch)
        handle.create_bucket()
        yield handle, proxy
        proxy.faults.clear()
        handle.remove_bucket()


# Store profiles (tests/test_store_profiles.py): stores we cannot run here, as the proxy answers.


@pytest.fixture(
    params=[
        pytest.param(
            (profile, kind),
            id=f"{profile}-{kind}",
            marks=[pytest.mark.e2e] if kind == "strict" else [],
        )
        for profile in sorted(PROFILES)
        for kind in STORE_KINDS
    ]
)
def profiled(
    request: pytest.FixtureRequest, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Profiled]:
    """A store of each kind (LocalStack checks the presigned signatures the proxy passes on)
    reached through the proxy with one profile; its bucket does not exist yet."""
    profile, kind = request.param
    upstream: StoreSpec = request.getfixturevalue(f"{kind}_store_spec")
    with fault_proxy(upstream.endpoint, PROFILES[profile]) as proxy:
        spec = upstream.through(proxy.endpoint_url)
        handle = use_store(spec, monkeypatch)
        yield Profiled(handle, proxy, upstream)
        handle.remove_bucket()


@pytest.fixture
def api_through_profile(
    profiled: Profiled,
    ingest_deployment: str,
    train_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Api]:
    """The API over the profiled store once setup-storage made its bucket, with a short
    training search (the search itself is tested in tests/tasks/training/test_train.py)."""
    assert {step.step: step.outcome for step in setup_storage()}["bucket"] == "applied"
    for configured in api_factory(profiled.store, monkeypatch):
        yield configured(
            AUTOML_TRAINING_BUDGET_SECONDS="2", AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB)
        )


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The verified-token memory's clock, moved on by the test (catalog/verified_tokens.py)."""
    fake = Clock()
    monkeypatch.setattr(catalog.verified_tokens, "_clock", fake)
    return fake
