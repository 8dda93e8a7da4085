"""Error bodies name no endpoint, SQL or path: a store or catalog failure's details are logged
under the request id that the body quotes (issue 15, "nothing private leaks")."""

from __future__ import annotations

import logging

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError
from sqlalchemy.exc import OperationalError

from tests.support.api_client import Api
from tests.support.upload_steps import error_of

ENDPOINT = "http://10.9.8.7:9000/private-bucket"
SQL = "SELECT token_hash FROM api_tokens WHERE user_id = ?"
TEMP_PATH = "/tmp/ingest-0123/raw.csv"
PRIVATE = (ENDPOINT, "10.9.8.7", SQL, "token_hash", TEMP_PATH, "Traceback")


def _failing_with(monkeypatch: pytest.MonkeyPatch, exc: Exception) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    monkeypatch.setattr("api.routes.datasets.list_datasets", broken)


_STORE_DOWN = EndpointConnectionError(endpoint_url=f"{ENDPOINT}/{TEMP_PATH}")
_STORE_REFUSES = ClientError(
    {"Error": {"Code": "AccessDenied", "Message": f"no access to {ENDPOINT} {TEMP_PATH}"}},
    "ListObjectsV2",
)
_CATALOG_FAILS = OperationalError(SQL, {"user_id": "alice"}, Exception(f"disk I/O {TEMP_PATH}"))


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (_STORE_DOWN, (503, "storage_unavailable")),
        (_STORE_REFUSES, (500, "internal_error")),
        (_CATALOG_FAILS, (500, "internal_error")),
    ],
    ids=["store-unreachable", "store-refuses", "catalog-error"],
)
def test_a_store_or_catalog_error_body_names_nothing_private(
    api: Api,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    exc: Exception,
    expected: tuple[int, str],
) -> None:
    _failing_with(monkeypatch, exc)
    with caplog.at_level(logging.INFO, logger="api"):
        response = api.client.get("/api/datasets", headers={**api.token(), "X-Request-ID": "r-15"})
    assert error_of(response) == expected
    for private in PRIVATE:
        assert private not in response.text
    # The details are the operator's, in the log, under the id the caller can quote.
    logged = [r.getMessage() for r in caplog.records if "r-15" in r.getMessage()]
    assert any(ENDPOINT in line or SQL in line for line in logged), logged
    # 500 and 503 alike quote the id the details are logged under.
    assert "(request id r-15)" in response.json()["error"]["message"]


def test_an_unknown_route_echoes_at_most_a_short_excerpt_of_its_path(api: Api) -> None:
    response = api.client.get("/api/" + "x" * 10_000, headers=api.token())
    assert response.status_code == 404
    message = response.json()["error"]["message"]
    assert message.startswith("no route GET /api/xxx")
    assert len(message) < 100
