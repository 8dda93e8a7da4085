"""The browser path for real: headless Chromium on another origin calls the API, PUTs the file
straight to the store through the presigned URL, and confirms. The store's CORS rules decide."""

from __future__ import annotations

import json

import pytest

from tests.support.browser import BrowserSetup
from tests.support.upload_steps import CSV

pytestmark = pytest.mark.e2e  # headless Chromium, against LocalStack


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
