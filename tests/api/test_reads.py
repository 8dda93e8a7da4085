"""Reads, presigned downloads, soft delete, health: the caller's records only, never another's."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Callable

import httpx
import polars as pl
from sqlalchemy import select

from catalog.database import Catalog, catalog_for
from catalog.tables import User
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.upload_steps import CSV, confirm, error_of, upload


def _ready_version(api: Api, user: str = "alice") -> dict[str, str]:
    """Uploads, confirms and ingests (the flow run for real) one small CSV."""
    body: dict[str, str] = confirm(api, upload(api, user=user), user=user).json()
    assert ingest_dataset(body["version_id"]) == "ready"
    return body


def test_a_ready_version_reads_back_with_profile_counts_and_checksums(api: Api) -> None:
    ids = _ready_version(api)
    response = api.client.get(
        f"/api/datasets/{ids['dataset_id']}/versions/{ids['version_id']}", headers=api.token()
    )
    assert response.status_code == 200
    version = response.json()
    assert version["status"] == "ready"
    assert (version["row_count"], version["column_count"]) == (3, 3)
    assert version["raw_size_bytes"] == len(CSV) and version["size_bytes"] > 0
    assert len(version["sha256"]) == len(version["raw_sha256"]) == 64
    assert {c["name"] for c in version["profile"]["columns"]} == {"city", "temperature", "rainy"}
    assert version["error"] is None


def test_the_download_url_serves_the_parquet_file(api: Api) -> None:
    ids = _ready_version(api)
    response = api.client.get(
        f"/api/datasets/{ids['dataset_id']}/versions/{ids['version_id']}/download-url",
        headers=api.token(),
    )
    assert response.status_code == 200
    download = httpx.get(response.json()["url"])
    assert download.status_code == 200
    frame = pl.read_parquet(io.BytesIO(download.content))
    assert frame["city"].to_list() == ["Oslo", "Lima", "Pune"]


def test_a_pending_version_has_no_download_yet(api: Api) -> None:
    ids = confirm(api, upload(api)).json()
    response = api.client.get(
        f"/api/datasets/{ids['dataset_id']}/versions/{ids['version_id']}/download-url",
        headers=api.token(),
    )
    assert error_of(response) == (409, "conflict")


def test_lists_are_paginated_newest_first(api: Api) -> None:
    api.token("alice", "pro")  # three ingestions in flight: more than the free tier allows
    created = [confirm(api, upload(api)).json()["dataset_id"] for _ in range(3)]
    first = api.client.get("/api/datasets?limit=2", headers=api.token()).json()
    second = api.client.get("/api/datasets?limit=2&offset=2", headers=api.token()).json()
    assert first["total"] == second["total"] == 3
    listed = [item["id"] for item in first["items"] + second["items"]]
    assert listed == list(reversed(created))
    assert first["items"][0]["latest_version"]["status"] == "pending"
    bad = api.client.get("/api/datasets?limit=0", headers=api.token())
    assert error_of(bad) == (400, "invalid_input")


def test_another_users_records_are_404_everywhere(api: Api) -> None:
    ids = _ready_version(api, user="alice")
    dataset, version = ids["dataset_id"], ids["version_id"]
    mallory = api.token("mallory")
    for path in (
        f"/api/datasets/{dataset}",
        f"/api/datasets/{dataset}/versions/{version}",
        f"/api/datasets/{dataset}/versions/{version}/download-url",
    ):
        assert error_of(api.client.get(path, headers=mallory)) == (404, "not_found"), path
    assert error_of(api.client.delete(f"/api/datasets/{dataset}", headers=mallory)) == (
        404,
        "not_found",
    )
    assert api.client.get("/api/datasets", headers=mallory).json()["total"] == 0
    assert api.client.get(f"/api/datasets/{dataset}", headers=api.token()).status_code == 200


def test_soft_delete_moves_the_files_and_hides_the_dataset(api: Api) -> None:
    ids = _ready_version(api)
    dataset, version = ids["dataset_id"], ids["version_id"]
    live_key = f"datasets/alice/{dataset}/{version}.parquet"
    assert api.store.keys("datasets/") == [live_key]
    with catalog_for(api.settings.catalog_url).session() as session:
        used_before = session.execute(select(User.used_bytes).where(User.id == "alice")).scalar()
    assert used_before and used_before > 0
    response = api.client.delete(f"/api/datasets/{dataset}", headers=api.token())
    assert response.status_code == 200 and response.json()["objects_moved"] == 1
    assert api.store.keys("datasets/") == []
    assert api.store.keys("deleted/") == [f"deleted/{live_key}"]
    for path in (f"/api/datasets/{dataset}", f"/api/datasets/{dataset}/versions/{version}"):
        assert error_of(api.client.get(path, headers=api.token())) == (404, "not_found")
    assert api.client.get("/api/datasets", headers=api.token()).json()["total"] == 0
    with catalog_for(api.settings.catalog_url).session() as session:
        used_after = session.execute(select(User.used_bytes).where(User.id == "alice")).scalar()
    assert used_after == 0
    again = api.client.delete(f"/api/datasets/{dataset}", headers=api.token())
    assert error_of(again) == (404, "not_found")


def test_a_dataset_being_ingested_cannot_be_deleted_yet(api: Api) -> None:
    ids = confirm(api, upload(api)).json()
    response = api.client.delete(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
    assert error_of(response) == (409, "conflict")
    assert api.client.get(f"/api/datasets/{ids['dataset_id']}", headers=api.token()).is_success


def test_health_reports_ok_and_names_what_fails(api_with: Callable[..., Api]) -> None:
    api = api_with()
    healthy = api.client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.json() == {"status": "ok", "checks": {"storage": "ok", "database": "ok"}}
    api.store.remove_bucket()
    failing = api.client.get("/healthz")
    assert failing.status_code == 503
    assert failing.json()["checks"]["database"] == "ok"
    assert failing.json()["checks"]["storage"] == "failing: ClientError"  # no store details


def test_health_names_an_unreachable_database(api: Api) -> None:
    state = api.client.app.state.automl  # type: ignore[attr-defined]
    unreachable = Catalog("postgresql+psycopg://automl@127.0.0.1:9/automl?connect_timeout=2")
    api.client.app.state.automl = dataclasses.replace(state, catalog=unreachable)  # type: ignore[attr-defined]
    failing = api.client.get("/healthz")
    assert failing.status_code == 503
    assert failing.json()["checks"]["storage"] == "ok"
    assert failing.json()["checks"]["database"] == "failing: OperationalError"
