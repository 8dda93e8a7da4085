"""API fixtures: the app over a fresh bucket (tests/support/api_client.py) and the ingest
deployment its confirm starts, configured for what one module tests (multipart, training,
signatures, an outage, the quota's edge), or served over HTTP."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

import flows.ingest_dataset as ingest_module
from api.app import create_app
from blocks.storage import build_storage_block
from catalog.accounts import create_token
from catalog.database import catalog_for
from core.settings import DEFAULT_TIERS, MiB, Settings, get_settings
from flows.ingest_dataset import ingest_dataset
from flows.setup_storage import setup_storage
from tests.support.api_client import Api, api_factory, make_api
from tests.support.api_server import serve_api
from tests.support.browser import BrowserSetup, browser_page
from tests.support.devtools import DevtoolsBrowser, devtools_browser
from tests.support.fault_proxy import FaultProxy
from tests.support.fuzzing import Fuzzed
from tests.support.stores import Store, StoreSpec, use_store
from tests.support.upload_page import PageStack, serve_page_stack
from tests.support.upload_steps import confirm, upload


@pytest.fixture
def api_store(
    default_store_spec: StoreSpec, prefect_api: None, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Store]:
    """A fresh bucket on the default store (moto, or AUTOML_TEST_S3_ENDPOINT)."""
    handle = use_store(default_store_spec, monkeypatch)
    handle.create_bucket()
    yield handle
    handle.remove_bucket()


@pytest.fixture
def api(api_store: Store, ingest_deployment: str) -> Iterator[Api]:
    """The API on the default store with a SQLite catalog in the test's data dir."""
    yield from make_api(api_store)


@pytest.fixture
def api_with(
    api_store: Store, ingest_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Api]]:
    """The API over the default store, made after setting the given variables."""
    yield from api_factory(api_store, monkeypatch)


@pytest.fixture
def api_on_each_store_with(
    bucket: Store, ingest_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Api]]:
    """The API over each store kind (LocalStack's checks signatures), made after setting the
    given variables."""
    yield from api_factory(bucket, monkeypatch)


@pytest.fixture
def signing_api_with(
    signing_bucket: Store, ingest_deployment: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., Api]]:
    """The API over a store that checks presigned signatures, made after setting the given
    variables (the tests that use it are `e2e`: see `signing_bucket`)."""
    yield from api_factory(signing_bucket, monkeypatch)


@pytest.fixture
def multipart_api(api_on_each_store_with: Callable[..., Api]) -> Api:
    """The API on each store with the smallest multipart threshold the settings allow."""
    return api_on_each_store_with(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))


@pytest.fixture
def training_api(api_with: Callable[..., Api], train_deployment: str) -> Api:
    """The API with the `train-model` deployment registered for its train route to start."""
    # A short search: the search itself is tested in tests/tasks/training/test_train.py. Its
    # tests start two jobs of one free user: the limit of jobs in flight has its own tests.
    two_jobs = {**DEFAULT_TIERS["free"].model_dump(), "max_training_jobs_in_flight": 2}
    return api_with(AUTOML_TRAINING_BUDGET_SECONDS="2", AUTOML_TIERS=json.dumps({"free": two_jobs}))


@pytest.fixture
def served(api_with: Callable[..., Api]) -> Iterator[tuple[Api, str]]:
    """The API (multipart from 5 MiB) served by uvicorn on 127.0.0.1, and its URL: what
    `automl upload` talks to."""
    api = api_with(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))
    with serve_api(api.client.app) as url:  # type: ignore[arg-type]
        yield api, url


@pytest.fixture
def storage_down(api: Api) -> Api:
    """The API's storage block pointed at a port nothing listens on (a store that is down)."""
    settings = Settings(
        R2_ENDPOINT="http://127.0.0.1:9", R2_BUCKET_NAME=api.settings.r2_bucket_name
    )
    block = build_storage_block(settings)
    state = api.client.app.state.automl  # type: ignore[attr-defined]
    api.client.app.state.automl = dataclasses.replace(state, storage=block)  # type: ignore[attr-defined]
    return api


@pytest.fixture
def quota_edge(api_store: Store, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    """The default store with a catalog of each database kind and a tier whose files and quota
    are small (`edge`: 64 bytes a file, 1000 in all)."""
    monkeypatch.setenv("AUTOML_DATABASE_URL", database_url)
    monkeypatch.setenv(
        "AUTOML_TIERS", json.dumps({"edge": {"max_file_bytes": 64, "quota_bytes": 1000}})
    )
    get_settings.cache_clear()
    return api_store


@pytest.fixture
def browser_setup(
    chromium_required: None,
    strict_store_spec: StoreSpec,
    ingest_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[BrowserSetup]:
    """LocalStack's S3 (it enforces CORS like R2 and MinIO) set up by `setup-storage` for one
    origin; the API allows both origins, so any refusal of the other one is the store's."""
    store = use_store(strict_store_spec, monkeypatch)
    with browser_page() as allowed, browser_page() as other:
        setup_storage(cors_origins=[allowed.origin])
        monkeypatch.setenv("AUTOML_CORS_ORIGINS", f"{allowed.origin},{other.origin}")
        get_settings.cache_clear()
        settings = get_settings()
        app = create_app(settings, storage=store.block)  # migrates the catalog
        with catalog_for(settings.catalog_url).session() as session:
            token = create_token(session, settings, "browser-user", "free")
        with serve_api(app) as api_url:
            yield BrowserSetup(allowed, other, api_url, token, store)
    store.remove_bucket()


@pytest.fixture
def any_catalog_api(api_with: Callable[..., Api], database_url: str) -> Api:
    """The API over a catalog of each kind (SQLite; PostgreSQL, which refuses NUL in text)."""
    return api_with(AUTOML_DATABASE_URL=database_url)


@pytest.fixture
def fuzzed(any_catalog_api: Api) -> Iterator[Fuzzed]:
    """The API over a catalog of each kind, served over HTTP for schemathesis, with one ready
    version of alice's (so generated requests also reach real records) and her token."""
    api = any_catalog_api
    owned: dict[str, str] = confirm(api, upload(api)).json()
    assert ingest_dataset(owned["version_id"]) == "ready"
    with serve_api(api.client.app) as url:  # type: ignore[arg-type]
        yield Fuzzed(url, api.token(), owned)


@pytest.fixture
def api_on_embedded_store_with(api_with: Callable[..., Api]) -> Callable[..., Api]:
    """`api_with`, but the app told it runs on the embedded store, as `automl up` without
    R2_ENDPOINT tells it (the bytes still go to the test's store)."""

    def configured(**variables: str) -> Api:
        api = api_with(**variables)
        state = api.client.app.state.automl  # type: ignore[attr-defined]
        api.client.app.state.automl = dataclasses.replace(state, embedded_store=True)  # type: ignore[attr-defined]
        return api

    return configured


@pytest.fixture
def served_on_embedded_store(
    api_on_embedded_store_with: Callable[..., Api],
) -> Iterator[tuple[Api, str]]:
    """`served`, on a stack that runs on the embedded store and warns from 10 bytes."""
    api = api_on_embedded_store_with(AUTOML_EMBEDDED_STORE_WARN_BYTES="10")
    with serve_api(api.client.app) as url:  # type: ignore[arg-type]
        yield api, url


@pytest.fixture
def datasets_cli(api: Api, monkeypatch: pytest.MonkeyPatch) -> Api:
    """`automl datasets` and `automl usage` run in-process (typer's CliRunner) against this
    test's API: their client speaks to the app's test client with the token they were given,
    and tables are printed 200 columns wide so ids are whole."""
    import cli_datasets
    from api.datasets_client import DatasetsClient

    class OnTheTestApp(DatasetsClient):
        def close(self) -> None:  # the test client belongs to the test, not to the command
            self._store.close()

    def connect(api_url: str, token: str) -> DatasetsClient:
        api.client.headers["Authorization"] = f"Bearer {token}"
        return OnTheTestApp(api.client)

    monkeypatch.setattr(cli_datasets, "connect", connect)
    monkeypatch.setattr(cli_datasets, "console", Console(width=200))
    monkeypatch.setenv("AUTOML_API_URL", "http://testserver")
    get_settings.cache_clear()
    return api


Events = list[tuple[str, dict[str, Any]]]


@pytest.fixture
def ingested_events(monkeypatch: pytest.MonkeyPatch) -> Events:
    """The events `ingest-dataset` emits, as (name, payload), in order (none reach Prefect)."""
    emitted: Events = []

    def record(event: str, kind: str, identifier: str, payload: dict[str, Any], *_: Any) -> None:
        emitted.append((event, payload))

    monkeypatch.setattr(ingest_module, "emit", record)
    return emitted


@pytest.fixture
def proxied_multipart_api(
    faulty_bucket: tuple[Store, FaultProxy],
    ingest_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[Api, FaultProxy]]:
    """The API (multipart from 5 MiB) whose part URLs reach the store through a fault proxy:
    its log counts the PUTs the store saw, and it fails chosen parts."""
    store, proxy = faulty_bucket
    for configured in api_factory(store, monkeypatch):
        yield configured(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB)), proxy


@pytest.fixture
def no_part_retry_pause(monkeypatch: pytest.MonkeyPatch) -> None:
    """The upload client sends a failed part again at once (tests need no backoff)."""
    import api.client

    monkeypatch.setattr(api.client, "PART_RETRY_DELAYS", (0.0, 0.0, 0.0))


@pytest.fixture
def three_part_csv(tmp_path: Path) -> tuple[Path, bytes]:
    """A CSV of three multipart parts (16 MiB, 16 MiB, 1 MiB) and its bytes."""
    body = b"a,b\n" + b"".join(b"%d,%d\n" % (i, i * 7) for i in range(33 * MiB // 8))
    body = body[: 33 * MiB]
    path = tmp_path / "big.csv"
    path.write_bytes(body)
    return path, body


@pytest.fixture
def served_through_proxy(
    proxied_multipart_api: tuple[Api, FaultProxy],
) -> Iterator[tuple[Api, FaultProxy, str]]:
    """`proxied_multipart_api` served by uvicorn on 127.0.0.1, and its URL: what a killed
    `automl upload` process talked to."""
    api, proxy = proxied_multipart_api
    with serve_api(api.client.app) as url:  # type: ignore[arg-type]
        yield api, proxy, url


@pytest.fixture
def page_stack(
    chromium_required: None,
    strict_store_spec: StoreSpec,
    ingest_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PageStack]:
    """The API and its page on LocalStack, the bucket's CORS rules listing the API's origin."""
    with serve_page_stack(strict_store_spec, monkeypatch, bucket_lists_the_page=True) as stack:
        yield stack


@pytest.fixture
def page_stack_unlisted(
    chromium_required: None,
    strict_store_spec: StoreSpec,
    ingest_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[PageStack]:
    """The same, but the bucket's CORS rules list another origin only."""
    with serve_page_stack(strict_store_spec, monkeypatch, bucket_lists_the_page=False) as stack:
        yield stack


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevtoolsBrowser]:
    """A fresh headless Chromium driven over DevTools (its profile under the test's tmp dir)."""
    with devtools_browser(tmp_path) as opened:
        yield opened
