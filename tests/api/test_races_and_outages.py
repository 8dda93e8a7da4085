"""What the review found: racing deletes, a delete racing a confirm, abort racing confirm,
announcing a confirm once, storage outages as 503, and 500s a browser can still read."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from blocks.objects import head_object
from catalog.database import catalog_for
from catalog.tables import Upload, User
from core.events import UPLOAD_CONFIRMED
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.prefect_events import find_events
from tests.support.upload_steps import CSV, confirm, error_of, put_parts, upload

MiB = 1024**2


def _used_bytes(api: Api, user: str = "alice") -> int:
    with catalog_for(api.settings.catalog_url).session() as session:
        return int(session.execute(select(User.used_bytes).where(User.id == user)).scalar_one())


def _ready_dataset(api: Api) -> dict[str, str]:
    ids: dict[str, str] = confirm(api, upload(api)).json()
    assert ingest_dataset(ids["version_id"]) == "ready"
    return ids


def test_concurrent_deletes_free_the_bytes_once(api: Api) -> None:
    dataset = _ready_dataset(api)["dataset_id"]
    assert _used_bytes(api) > 0
    headers = api.token()

    def delete(_: int) -> int:
        return int(api.client.delete(f"/api/datasets/{dataset}", headers=headers).status_code)

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(delete, range(6)))
    assert statuses == [200, 404, 404, 404, 404, 404]
    assert _used_bytes(api) == 0
    assert len(api.store.keys("deleted/")) == 1


def test_a_version_cannot_be_added_to_a_deleted_dataset(api: Api) -> None:
    dataset = _ready_dataset(api)["dataset_id"]
    pending_upload = upload(api)
    assert api.client.delete(f"/api/datasets/{dataset}", headers=api.token()).status_code == 200
    late = confirm(api, pending_upload, dataset_id=dataset)
    assert error_of(late) == (404, "not_found")
    assert confirm(api, pending_upload).status_code == 202  # still confirmable elsewhere


def test_abort_after_confirm_is_refused_and_keeps_the_upload(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))
    body = b"a,b\n" + b"1,2\n" * (5 * MiB)
    sized = {"filename": "big.csv", "size_bytes": len(body)}
    upload_id = str(api.post("/api/datasets/upload-url", sized).json()["upload_id"])
    parts = put_parts(api, upload_id, body, 16 * MiB, 2)
    confirmed = api.post(
        "/api/datasets/confirm", {"upload_id": upload_id, "dataset_name": "big", "parts": parts}
    )
    assert confirmed.status_code == 202
    refused = api.post("/api/datasets/upload-abort", {"upload_id": upload_id})
    assert error_of(refused) == (409, "conflict")
    with catalog_for(api.settings.catalog_url).session() as session:
        record = session.execute(select(Upload).where(Upload.id == upload_id)).scalar_one()
        assert (record.status, record.reserved_bytes) == ("confirmed", len(body))


def test_concurrent_confirms_announce_the_upload_once(api: Api) -> None:
    upload_id = upload(api)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: confirm(api, upload_id), range(8)))
    assert {a.status_code for a in answers} == {202}
    events = find_events(
        UPLOAD_CONFIRMED,
        lambda e: e["resource"]["prefect.resource.id"] == f"automl.upload.{upload_id}",
    )
    assert len(events) == 1


def test_a_wrong_size_removes_the_file_and_frees_the_reservation(api: Api) -> None:
    response = api.post("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": 10})
    upload_id = response.json()["upload_id"]
    key = f"uploads/temp/{upload_id}.csv"
    api.store.client.put_object(Bucket=api.store.bucket_name, Key=key, Body=CSV)
    assert error_of(confirm(api, upload_id)) == (422, "content_rejected")
    # The bytes are removed; a tombstone keeps the key (the upload URL stays refused).
    assert api.store.keys("uploads/") == [key]
    info = head_object(api.store.block, key)
    assert info is not None and info.tombstone and info.size == 0
    with catalog_for(api.settings.catalog_url).session() as session:
        record = session.execute(select(Upload).where(Upload.id == upload_id)).scalar_one()
        assert (record.status, record.reserved_bytes) == ("rejected", 0)


def test_storage_down_is_503_and_changes_nothing(
    storage_down: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = storage_down
    planned = api.post("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": 10})
    assert planned.status_code == 200  # signing a URL needs no store
    down = confirm(api, planned.json()["upload_id"])
    assert error_of(down) == (503, "storage_unavailable")
    assert "127.0.0.1:9" not in down.text
    big = api.post("/api/datasets/upload-url", {"filename": "b.csv", "size_bytes": 200 * MiB})
    assert error_of(big) in {(503, "storage_unavailable"), (413, "file_too_large")}
    with catalog_for(api.settings.catalog_url).session() as session:
        statuses = dict(session.execute(select(Upload.id, Upload.status)).all())
    assert statuses == {planned.json()["upload_id"]: "pending"}  # confirmable once storage is back


def test_an_unexpected_error_is_a_500_with_request_id_and_cors(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom: secret detail")

    monkeypatch.setattr("api.routes.datasets.list_datasets", broken)
    origin = "http://localhost:3000"
    response = api.client.get(
        "/api/datasets", headers={**api.token(), "Origin": origin, "X-Request-ID": "r-500"}
    )
    assert error_of(response) == (500, "internal_error")
    assert response.headers["x-request-id"] == "r-500"
    assert response.headers["access-control-allow-origin"] == origin
    assert "secret detail" not in response.text and "r-500" in response.text
