"""`POST /api/datasets/upload-url`: auth, the checks of docs/spec.md §3, a PUT through the URL."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select, update

from api.app import create_app
from catalog.accounts import create_token
from catalog.database import catalog_for
from catalog.tables import Upload
from core.settings import get_settings
from tests.support.api_client import Api
from tests.support.api_server import serve_api
from tests.support.stores import Store

BODY = b"a,b\n1,2\n3,4\n"


def _error(response: httpx.Response) -> tuple[int, str]:
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}
    assert body["error"]["message"]
    return response.status_code, body["error"]["code"]


def test_a_missing_token_is_401_with_the_error_body(api: Api) -> None:
    response = api.client.post(
        "/api/datasets/upload-url", json={"filename": "a.csv", "size_bytes": 1}
    )
    assert _error(response) == (401, "unauthenticated")


def test_an_unknown_or_malformed_token_is_401(api: Api) -> None:
    for header in ("Bearer aml_not-a-real-token", "Basic YWxpY2U6c2VjcmV0", "Bearer"):
        response = api.client.post(
            "/api/datasets/upload-url",
            json={"filename": "a.csv", "size_bytes": 1},
            headers={"Authorization": header},
        )
        assert _error(response) == (401, "unauthenticated")


def test_the_url_accepts_the_file_with_the_listed_headers(api: Api) -> None:
    response = api.post(
        "/api/datasets/upload-url", {"filename": "sales.csv", "size_bytes": len(BODY)}
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    assert plan["method"] == "PUT" and plan["multipart"] is None
    assert plan["headers"]["Content-Type"] == "application/octet-stream"
    assert plan["headers"]["Content-Length"] == str(len(BODY))
    assert (
        "X-Amz-Signature=" in plan["upload_url"]
        and "X-Amz-Algorithm=AWS4-HMAC-SHA256" in plan["upload_url"]
    )
    put = httpx.put(plan["upload_url"], content=BODY, headers=plan["headers"])
    assert put.status_code == 200, put.text
    key = f"uploads/temp/{plan['upload_id']}.csv"
    assert api.store.keys("uploads/") == [key]


def test_the_url_expires_after_the_configured_lifetime(api_with: Callable[..., Api]) -> None:
    api = api_with(AUTOML_PRESIGN_EXPIRES_SECONDS="120")
    response = api.post("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": 5})
    assert "X-Amz-Expires=120&" in response.json()["upload_url"]
    expires_at = datetime.fromisoformat(response.json()["expires_at"])
    assert abs((expires_at - datetime.now(UTC)).total_seconds() - 120) < 30


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"filename": "notes.txt", "size_bytes": 10}, 400, "invalid_input"),
        ({"filename": "../../etc/passwd.csv", "size_bytes": 10}, 400, "invalid_name"),
        ({"filename": "a.csv", "size_bytes": 0}, 400, "invalid_input"),
        ({"filename": "a.csv", "size_bytes": -5}, 400, "invalid_input"),
        ({"filename": "a.csv"}, 400, "invalid_input"),
        ({"filename": "a.csv", "size_bytes": 10, "colour": "red"}, 400, "invalid_input"),
        ({"filename": "a.csv", "size_bytes": 100 * 1024**2 + 1}, 413, "file_too_large"),
    ],
)
def test_bad_requests_get_the_spec_status_and_reserve_nothing(
    api: Api, body: dict[str, object], status: int, code: str
) -> None:
    response = api.post("/api/datasets/upload-url", body)
    assert _error(response) == (status, code)
    with catalog_for(api.settings.catalog_url).session() as session:
        assert session.execute(select(func.count()).select_from(Upload)).scalar_one() == 0


def test_a_body_that_is_not_json_is_400(api: Api) -> None:
    response = api.client.post(
        "/api/datasets/upload-url",
        content=b"{not json",
        headers={**api.token(), "Content-Type": "application/json"},
    )
    assert _error(response) == (400, "invalid_input")


def test_reservations_count_against_the_quota_until_it_is_full(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(AUTOML_TIERS=json.dumps({"tiny": {"max_file_bytes": 600, "quota_bytes": 1000}}))

    def ask(size: int) -> httpx.Response:
        return api.post(
            "/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": size}, "carol"
        )

    api.token("carol", "tiny")
    assert ask(600).status_code == 200
    over = ask(401)
    assert _error(over) == (507, "quota_exceeded")
    assert "400 of your 1,000-byte quota are free" in over.json()["error"]["message"]
    assert ask(400).status_code == 200


def test_an_expired_reservation_no_longer_counts(api_with: Callable[..., Api]) -> None:
    api = api_with(AUTOML_TIERS=json.dumps({"tiny": {"max_file_bytes": 600, "quota_bytes": 1000}}))
    headers = api.token("erin", "tiny")
    body = {"filename": "a.csv", "size_bytes": 600}
    first = api.client.post("/api/datasets/upload-url", json=body, headers=headers)
    assert (
        api.client.post("/api/datasets/upload-url", json=body, headers=headers).status_code == 507
    )
    with catalog_for(api.settings.catalog_url).session() as session:
        session.execute(
            update(Upload)
            .where(Upload.id == first.json()["upload_id"])
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert (
        api.client.post("/api/datasets/upload-url", json=body, headers=headers).status_code == 200
    )


def test_50_parallel_requests_at_the_quota_edge_never_overshoot(
    quota_edge: Store, ingest_deployment: str
) -> None:
    store = quota_edge
    settings = get_settings()
    app = create_app(settings, storage=store.block)
    with catalog_for(settings.catalog_url).session() as session:
        token = create_token(session, settings, "dave", "edge")
    headers = {"Authorization": f"Bearer {token}"}
    with serve_api(app) as base_url, httpx.Client(base_url=base_url, timeout=60) as client:

        def ask(index: int) -> int:
            response = client.post(
                "/api/datasets/upload-url",
                json={"filename": f"f{index}.csv", "size_bytes": 64},
                headers=headers,
            )
            return response.status_code

        with ThreadPoolExecutor(max_workers=50) as pool:
            statuses = list(pool.map(ask, range(50)))
    assert sorted(set(statuses)) == [200, 507]
    assert statuses.count(200) == 1000 // 64  # 15 fit, the 16th would overshoot
    with catalog_for(settings.catalog_url).session() as session:
        reserved = session.execute(select(func.sum(Upload.reserved_bytes))).scalar_one()
    assert reserved == 15 * 64 <= 1000


def test_a_file_over_5_tib_is_413_even_if_a_tier_allows_it(api_with: Callable[..., Api]) -> None:
    huge = 6 * 1024**4
    api = api_with(AUTOML_TIERS=json.dumps({"huge": {"max_file_bytes": huge, "quota_bytes": huge}}))
    headers = api.token("hank", "huge")
    body = {"filename": "a.csv", "size_bytes": huge}
    response = api.client.post("/api/datasets/upload-url", json=body, headers=headers)
    assert _error(response) == (413, "file_too_large")
