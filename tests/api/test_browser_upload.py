"""The browser path for real: headless Chromium on another origin calls the API, PUTs the file
straight to the store through the presigned URL, and confirms. The store's CORS rules decide."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from api.app import create_app
from catalog.accounts import create_token
from catalog.database import catalog_for
from core.settings import get_settings
from flows.setup_storage import setup_storage
from tests.support.api_server import serve_api
from tests.support.browser import BrowserPage, browser_page, chromium_available
from tests.support.prerequisites import require
from tests.support.stores import Store, StoreSpec, use_store
from tests.support.upload_steps import CSV

pytestmark = pytest.mark.e2e  # headless Chromium, against LocalStack


@dataclass
class BrowserSetup:
    allowed: BrowserPage  # the web app's origin: in the bucket's CORS rules
    other: BrowserPage  # an origin the bucket's rules do not list
    api_url: str
    token: str
    store: Store


@pytest.fixture
def browser_setup(
    strict_store_spec: StoreSpec,
    ingest_deployment: str,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[BrowserSetup]:
    """LocalStack's S3 (it enforces CORS like R2 and MinIO) set up by `setup-storage` for one
    origin; the API allows both origins, so any refusal of the other one is the store's."""
    if not chromium_available():
        require("Chromium is not installed (apt-get install chromium)")
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


def upload_script(api_url: str, token: str, body: str) -> str:
    """What a web app does: ask for a URL, PUT the bytes with the listed headers, confirm."""
    return f"""
const api = {json.dumps(api_url)};
const auth = {{"Authorization": "Bearer " + {json.dumps(token)},
              "Content-Type": "application/json"}};
const bytes = new TextEncoder().encode({json.dumps(body)});
const planned = await fetch(api + "/api/datasets/upload-url", {{
  method: "POST", headers: auth,
  body: JSON.stringify({{filename: "weather.csv", size_bytes: bytes.length}}),
}});
const plan = await planned.json();
const outcome = {{upload_id: plan.upload_id, plan_status: planned.status}};
const headers = {{...plan.headers}};
delete headers["Content-Length"];  // the browser sets it from the body; it is still signed
try {{
  const put = await fetch(plan.upload_url, {{method: "PUT", headers, body: bytes}});
  outcome.put_status = put.status;
}} catch (e) {{
  outcome.put_error = String(e);
}}
const confirmed = await fetch(api + "/api/datasets/confirm", {{
  method: "POST", headers: auth,
  body: JSON.stringify({{upload_id: plan.upload_id, dataset_name: "from the browser"}}),
}});
outcome.confirm_status = confirmed.status;
outcome.confirm = await confirmed.json();
return outcome;
"""


def test_a_browser_on_the_allowed_origin_uploads_and_confirms(
    browser_setup: BrowserSetup,
) -> None:
    setup = browser_setup
    outcome = setup.allowed.run_script(
        upload_script(setup.api_url, setup.token, CSV.decode()), timeout=60
    )
    assert outcome["ok"], outcome
    value = outcome["value"]
    assert value["plan_status"] == 200 and value["put_status"] == 200, value
    assert value["confirm_status"] == 202, value
    assert value["confirm"]["status"] == "pending" and value["confirm"]["flow_run_id"]
    key = f"uploads/temp/{value['upload_id']}.csv"
    stored = setup.store.client.get_object(Bucket=setup.store.bucket_name, Key=key)
    assert stored["Body"].read() == CSV


def test_the_store_refuses_a_browser_on_another_origin(browser_setup: BrowserSetup) -> None:
    setup = browser_setup
    outcome = setup.other.run_script(
        upload_script(setup.api_url, setup.token, CSV.decode()), timeout=60
    )
    assert outcome["ok"], outcome
    value = outcome["value"]
    assert value["plan_status"] == 200  # the API let it ask: the refusal below is the store's
    assert value.get("put_error") == "TypeError: Failed to fetch", value
    assert value["confirm_status"] == 409 and value["confirm"]["error"]["code"] == "conflict"
    assert setup.store.keys("uploads/") == []
