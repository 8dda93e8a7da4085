"""On a store that checks signatures, the API's upload URL accepts only what it was signed for,
and writes its key once."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest

from tests.support.api_client import Api
from tests.support.upload_steps import CSV

pytestmark = pytest.mark.e2e  # a store that checks signatures: LocalStack (moto does not)


def _plan(api: Api) -> dict[str, object]:
    response = api.post("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": len(CSV)})
    assert response.status_code == 200, response.text
    plan: dict[str, object] = response.json()
    return plan


def _put(plan: dict[str, object], body: bytes = CSV, **headers: str) -> int:
    sent = {**plan["headers"], **headers}  # type: ignore[dict-item]
    return httpx.put(str(plan["upload_url"]), content=body, headers=sent).status_code


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        (CSV + b"x,y,z\n", {"Content-Length": str(len(CSV) + 6)}),
        (CSV, {"Content-Type": "text/csv"}),
    ],
    ids=["another-length", "another-content-type"],
)
def test_a_request_other_than_the_signed_one_is_refused(
    signing_api_with: Callable[..., Api], body: bytes, headers: dict[str, str]
) -> None:
    api = signing_api_with()
    assert _put(_plan(api), body, **headers) == 403
    assert api.store.keys() == []


def test_a_tampered_signature_is_refused(signing_api_with: Callable[..., Api]) -> None:
    api = signing_api_with()
    plan = _plan(api)
    url = str(plan["upload_url"])
    plan["upload_url"] = url[:-4] + ("0000" if not url.endswith("0000") else "1111")
    assert _put(plan) == 403
    assert api.store.keys() == []


def test_an_expired_url_is_refused(signing_api_with: Callable[..., Api]) -> None:
    api = signing_api_with(AUTOML_PRESIGN_EXPIRES_SECONDS="1")
    plan = _plan(api)
    time.sleep(2.5)  # the URL's lifetime is the behaviour under test, not a wait for work
    assert _put(plan) == 403
    assert api.store.keys() == []


def test_the_url_writes_its_key_once(signing_api_with: Callable[..., Api]) -> None:
    api = signing_api_with()
    plan = _plan(api)
    assert _put(plan) == 200
    replacement = CSV.replace(b"Oslo", b"Rome")
    assert _put(plan, replacement) == 412
    key = f"uploads/temp/{plan['upload_id']}.csv"
    stored = api.store.client.get_object(Bucket=api.store.bucket_name, Key=key)["Body"].read()
    assert stored == CSV
