"""Files past AUTOML_EMBEDDED_STORE_WARN_BYTES on a stack that runs on the embedded store: the
upload-url answer warns (docs/spec.md §3.2), `automl upload`'s client passes it on, and only
`automl up` without R2_ENDPOINT tells the API it runs on that store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import api.app
import stack
from api.client import UploadClient
from core.settings import EMBEDDED_STORE_WARN_BYTES, Settings
from tests.support.api_client import Api
from tests.support.api_server import serve_api
from tests.support.ports import free_port
from tests.support.upload_steps import CSV

LIMIT = 1000


def _warnings(api: Api, size_bytes: int, user: str = "alice") -> list[str]:
    response = api.client.post(
        "/api/datasets/upload-url",
        json={"filename": "a.csv", "size_bytes": size_bytes},
        headers=api.token(user, "pro"),
    )
    assert response.status_code == 200, response.text
    warnings: list[str] = response.json()["warnings"]
    return warnings


def test_a_file_past_the_limit_on_the_embedded_store_is_warned_about(
    api_on_embedded_store_with: Callable[..., Api],
) -> None:
    api = api_on_embedded_store_with(AUTOML_EMBEDDED_STORE_WARN_BYTES=str(LIMIT))
    [warning] = _warnings(api, LIMIT + 1)
    assert "embedded S3 server" in warning and "MinIO or R2" in warning
    assert "R2_ENDPOINT" in warning and "a file of 1,001 bytes" in warning


def test_a_multipart_plan_past_the_limit_is_warned_about_too(
    api_on_embedded_store_with: Callable[..., Api],
) -> None:
    api = api_on_embedded_store_with(AUTOML_EMBEDDED_STORE_WARN_BYTES=str(LIMIT))
    response = api.client.post(
        "/api/datasets/upload-url",
        json={"filename": "big.csv", "size_bytes": 200 * 1024**2},
        headers=api.token("bob", "pro"),
    )
    plan = response.json()
    assert plan["multipart"] is not None and len(plan["warnings"]) == 1
    assert "file of 210 MB" in plan["warnings"][0]


def test_a_file_at_or_below_the_limit_is_not_warned_about(
    api_on_embedded_store_with: Callable[..., Api],
) -> None:
    api = api_on_embedded_store_with(AUTOML_EMBEDDED_STORE_WARN_BYTES=str(LIMIT))
    assert _warnings(api, LIMIT) == []
    assert _warnings(api, 1) == []


def test_a_configured_store_is_never_warned_about(api_with: Callable[..., Api]) -> None:
    api = api_with(AUTOML_EMBEDDED_STORE_WARN_BYTES=str(LIMIT))
    assert _warnings(api, LIMIT + 1) == []
    assert _warnings(api, 50 * 1024**2) == []


def test_the_default_limit_is_the_measured_one() -> None:
    assert Settings().embedded_store_warn_bytes == EMBEDDED_STORE_WARN_BYTES


def test_the_client_passes_the_warning_on_before_sending_the_file(
    api_on_embedded_store_with: Callable[..., Api], tmp_path: Path
) -> None:
    api = api_on_embedded_store_with(AUTOML_EMBEDDED_STORE_WARN_BYTES="10")
    path = tmp_path / "weather.csv"
    path.write_bytes(CSV)
    events: list[str] = []
    token = api.token()["Authorization"].removeprefix("Bearer ")
    with serve_api(api.client.app) as url, UploadClient(url, token) as client:  # type: ignore[arg-type]
        result = client.upload(
            path,
            "weather",
            progress=lambda sent: events.append(f"sent {sent}"),
            warn=lambda message: events.append(f"warning {message}"),
        )
    assert result["status"] == "pending"
    assert events[0].startswith("warning this stack stores files in its embedded S3 server")
    assert [event for event in events if event.startswith("warning")] == [events[0]]
    assert events[1:] == [f"sent {len(CSV)}"]


@pytest.mark.parametrize(
    ("variables", "embedded"),
    [({}, True), ({"R2_ENDPOINT": "http://127.0.0.1:9000"}, False)],
)
def test_only_the_stack_on_the_embedded_store_tells_the_api_so(
    variables: dict[str, str], embedded: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[bool] = []

    def recording_create_app(settings: Settings, *args: Any, embedded_store: bool) -> FastAPI:
        made.append(embedded_store)
        return FastAPI()

    monkeypatch.delenv("R2_ENDPOINT", raising=False)
    monkeypatch.setattr(api.app, "create_app", recording_create_app)
    monkeypatch.setattr(api.app, "shut_down", lambda app: None)  # the stand-in started nothing
    settings = Settings(AUTOML_API_PORT=free_port(), **variables)  # type: ignore[arg-type]
    with stack.api_server(settings):
        pass
    assert made == [embedded]
