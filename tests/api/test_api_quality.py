"""The API describes itself fully, answers every error with the body of docs/spec.md §3, and logs
requests with an id but never a token or a signature."""

from __future__ import annotations

import asyncio
import logging
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.pool import QueuePool

from tests.support.api_client import Api
from tests.support.upload_steps import error_of

ROUTES = {
    ("post", "/api/datasets/upload-url"),
    ("post", "/api/datasets/upload-parts"),
    ("post", "/api/datasets/upload-abort"),
    ("post", "/api/datasets/confirm"),
    ("get", "/api/datasets"),
    ("get", "/api/datasets/{dataset_id}"),
    ("delete", "/api/datasets/{dataset_id}"),
    ("get", "/api/datasets/{dataset_id}/versions/{version_id}"),
    ("get", "/api/datasets/{dataset_id}/versions/{version_id}/download-url"),
    ("get", "/api/datasets/{dataset_id}/versions/{version_id}/changes"),
    ("get", "/healthz"),
    ("post", "/api/jobs/train"),
    ("get", "/api/jobs/{job_id}"),
    ("get", "/api/models/{job_id}"),
    ("get", "/api/jobs/{job_id}/plots"),
    ("get", "/api/usage"),
    ("delete", "/api/trash"),
    ("get", "/api/datasets/uploads"),
    ("get", "/api/datasets/uploads/{upload_id}"),
}


def test_openapi_describes_every_route_with_typed_bodies(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operations = {
        (method, path): operation
        for path, methods in spec["paths"].items()
        for method, operation in methods.items()
    }
    assert set(operations) == ROUTES
    for (method, path), operation in operations.items():
        success = next(code for code in operation["responses"] if code.startswith("2"))
        schema = operation["responses"][success]["content"]["application/json"]["schema"]
        assert "$ref" in schema, (method, path)
        if method == "post":
            body = operation["requestBody"]["content"]
            assert list(body) == ["application/json"], (method, path)  # never file bytes
        if path.startswith("/api/"):
            assert operation["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorBody"
            }
    assert "HTTPBearer" in spec["components"]["securitySchemes"]
    assert api.client.get("/docs").status_code == 200


def test_unknown_routes_and_methods_use_the_error_body(api: Api) -> None:
    assert error_of(api.client.get("/api/nothing-here")) == (404, "not_found")
    assert error_of(api.client.put("/api/datasets/confirm", json={})) == (
        405,
        "method_not_allowed",
    )


def test_responses_carry_a_request_id_and_accept_the_callers(api: Api) -> None:
    generated = api.client.get("/healthz")
    assert len(generated.headers["x-request-id"]) == 32
    given = api.client.get("/healthz", headers={"X-Request-ID": "web-123"})
    assert given.headers["x-request-id"] == "web-123"
    unsafe = api.client.get("/healthz", headers={"X-Request-ID": "evil\tinjected line"})
    assert unsafe.headers["x-request-id"] != "evil\tinjected line"


def test_request_logs_carry_the_id_and_never_a_token_or_signature(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    headers = api.token()
    token = headers["Authorization"].removeprefix("Bearer ")
    with caplog.at_level(logging.INFO):  # botocore signs at DEBUG: never run DEBUG in production
        response = api.client.post(
            "/api/datasets/upload-url",
            json={"filename": "a.csv", "size_bytes": 10},
            headers={**headers, "X-Request-ID": "trace-me"},
        )
    signature = response.json()["upload_url"].split("X-Amz-Signature=")[1]
    text = caplog.text
    assert "trace-me POST /api/datasets/upload-url 200" in text
    assert token not in text
    assert signature not in text
    assert "X-Amz-Signature" not in text
    assert api.settings.r2_secret_access_key.get_secret_value() not in text


def test_the_app_opens_its_catalogs_connections_before_the_first_request(
    api: Api, tmp_path: Path
) -> None:
    from api.app import create_app
    from catalog.database import catalog_for

    settings = api.settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'fresh.db'}"}
    )
    create_app(settings, storage=api.store.block)
    pool = catalog_for(settings.catalog_url).engine.pool
    assert isinstance(pool, QueuePool)
    assert pool.checkedin() == pool.size() > 1  # open and idle, before any request
    catalog_for(settings.catalog_url).dispose()


def test_the_app_checkpoints_sqlites_log_in_the_background_while_it_serves(
    api: Api, tmp_path: Path
) -> None:
    # What the thread does: tests/catalog/test_wal_checkpoints.py.
    from fastapi.testclient import TestClient

    from api.app import create_app
    from catalog.wal_checkpoints import BACKSTOP_PAGES, THREAD_NAME

    def checkpointing_threads() -> int:
        return sum(thread.name == THREAD_NAME for thread in threading.enumerate())

    settings = api.settings.model_copy(
        update={"database_url": f"sqlite:///{tmp_path / 'fresh.db'}"}
    )
    running = checkpointing_threads()
    app = create_app(settings, storage=api.store.block)
    with TestClient(app):
        assert checkpointing_threads() == running + 1
        with app.state.automl.catalog.engine.connect() as connection:
            threshold = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
        assert threshold == BACKSTOP_PAGES  # commits leave the log to the thread
    assert checkpointing_threads() == running  # the end of the app's lifespan stops it


def frozen_heaps(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records the factory's call to `freeze_startup_heap` instead of freezing this test
    process's heap (what freezing does is tested in a fresh process: test_api_imports.py)."""
    import api.app

    calls: list[bool] = []
    monkeypatch.setattr(api.app, "freeze_startup_heap", lambda: calls.append(True))
    return calls


def test_the_production_factory_builds_the_app_from_the_environment(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fastapi.testclient import TestClient

    from api.app import app_from_environment

    frozen = frozen_heaps(monkeypatch)
    with TestClient(app_from_environment()) as client:  # storage block loaded from Prefect
        assert client.get("/healthz").json()["status"] == "ok"
    assert frozen == [True]  # the served process's start-up objects left the collector's walk


def test_the_production_factory_works_inside_uvicorns_event_loop(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`uvicorn --factory` calls the factory inside its running loop, where Prefect's block
    loading would otherwise return a coroutine instead of the block."""
    from fastapi.testclient import TestClient

    from api.app import app_from_environment

    async def built_in_a_running_loop() -> FastAPI:
        return app_from_environment()

    frozen = frozen_heaps(monkeypatch)
    with TestClient(asyncio.run(built_in_a_running_loop())) as client:
        assert client.get("/healthz").json()["status"] == "ok"
    assert frozen == [True]
