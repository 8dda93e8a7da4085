"""`POST /api/datasets/confirm`: checks, idempotence, the ingestion run, the event, 503."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey
from prefect.settings import PREFECT_API_URL, temporary_settings
from sqlalchemy import func, select, update

from catalog.database import catalog_for
from catalog.tables import Dataset, DatasetVersion, Upload, utcnow
from core.events import UPLOAD_CONFIRMED
from core.statuses import VersionStatus
from tests.support.api_client import Api
from tests.support.prefect_events import find_events, related_ids
from tests.support.upload_steps import CSV, confirm, error_of, upload


def _runs_for(version_id: str) -> list[dict[str, str]]:
    async def read() -> list[dict[str, str]]:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    idempotency_key=FlowRunFilterIdempotencyKey(any_=[version_id])
                )
            )
        return [
            {"id": str(run.id), "deployment_id": str(run.deployment_id), **run.parameters}
            for run in runs
        ]

    return asyncio.run(read())


def _count(api: Api, table: type) -> int:
    with catalog_for(api.settings.catalog_url).session() as session:
        return int(session.execute(select(func.count()).select_from(table)).scalar_one())


def test_confirm_creates_the_version_and_starts_one_ingestion_run(
    api: Api, ingest_deployment: str
) -> None:
    response = confirm(api, upload(api))
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "pending"
    runs = _runs_for(body["version_id"])
    assert runs == [
        {
            "id": body["flow_run_id"],
            "deployment_id": ingest_deployment,
            "version_id": body["version_id"],
        }
    ]
    version = api.client.get(
        f"/api/datasets/{body['dataset_id']}/versions/{body['version_id']}", headers=api.token()
    ).json()
    assert version["status"] == "pending" and version["flow_run_id"] == body["flow_run_id"]


def test_confirm_twice_returns_the_same_version_and_run(api: Api) -> None:
    upload_id = upload(api)
    first = confirm(api, upload_id)
    second = confirm(api, upload_id)
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert _count(api, DatasetVersion) == 1 and _count(api, Dataset) == 1
    assert len(_runs_for(first.json()["version_id"])) == 1


def test_concurrent_confirms_create_one_version_and_one_run(api: Api) -> None:
    upload_id = upload(api)
    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: confirm(api, upload_id), range(8)))
    assert {answer.status_code for answer in answers} == {202}, [
        a.text for a in answers if a.status_code != 202
    ]
    assert len({answer.text for answer in answers}) == 1
    assert _count(api, DatasetVersion) == 1 and _count(api, Dataset) == 1
    assert len(_runs_for(answers[0].json()["version_id"])) == 1


def test_confirm_emits_upload_confirmed_linked_to_the_run(api: Api) -> None:
    upload_id = upload(api)
    body = confirm(api, upload_id).json()
    events = find_events(
        UPLOAD_CONFIRMED,
        lambda e: e["resource"]["prefect.resource.id"] == f"automl.upload.{upload_id}",
    )
    assert len(events) == 1
    assert related_ids(events[0]) >= {
        f"automl.version.{body['version_id']}",
        f"automl.dataset.{body['dataset_id']}",
        f"prefect.flow-run.{body['flow_run_id']}",
    }


def test_a_new_version_of_an_existing_dataset(api: Api) -> None:
    first = confirm(api, upload(api)).json()
    second = confirm(api, upload(api), dataset_id=first["dataset_id"]).json()
    assert second["dataset_id"] == first["dataset_id"]
    assert second["version_id"] != first["version_id"]
    detail = api.client.get(f"/api/datasets/{first['dataset_id']}", headers=api.token()).json()
    assert [v["id"] for v in detail["versions"]] == [first["version_id"], second["version_id"]]


def test_another_users_upload_is_404_and_stays_confirmable(api: Api) -> None:
    upload_id = upload(api, user="alice")
    assert error_of(confirm(api, upload_id, user="mallory")) == (404, "not_found")
    assert confirm(api, upload_id, user="alice").status_code == 202


def test_an_unknown_upload_is_404(api: Api) -> None:
    assert error_of(confirm(api, "00000000-0000-4000-8000-000000000000")) == (404, "not_found")


def test_confirm_before_the_put_is_409_and_creates_nothing(api: Api) -> None:
    response = api.post("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": 10})
    status, code = error_of(confirm(api, response.json()["upload_id"]))
    assert (status, code) == (409, "conflict")
    assert _count(api, DatasetVersion) == 0


def test_a_file_of_another_size_than_declared_is_422(api: Api) -> None:
    response = api.post("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": 10})
    upload_id = response.json()["upload_id"]
    # Written past the URL (a store that does not check signed lengths would let this through).
    api.store.client.put_object(
        Bucket=api.store.bucket_name, Key=f"uploads/temp/{upload_id}.csv", Body=CSV
    )
    status, code = error_of(confirm(api, upload_id))
    assert (status, code) == (422, "content_rejected")
    assert _count(api, DatasetVersion) == 0


def test_an_expired_upload_is_410(api: Api) -> None:
    upload_id = upload(api)
    with catalog_for(api.settings.catalog_url).session() as session:
        session.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert error_of(confirm(api, upload_id)) == (410, "expired")
    assert _count(api, DatasetVersion) == 0


def test_an_upload_the_cleanup_flow_closed_as_expired_is_410(api: Api) -> None:
    upload_id = upload(api)
    with catalog_for(api.settings.catalog_url).session() as session:
        session.execute(
            update(Upload)
            .where(Upload.id == upload_id)
            .values(status="expired", expires_at=utcnow() - timedelta(seconds=1))
        )
    assert error_of(confirm(api, upload_id)) == (410, "expired")
    assert _count(api, DatasetVersion) == 0


@pytest.mark.parametrize("name", ["../x", "a/b", "", "tab\there"])
def test_an_unsafe_dataset_name_is_400(api: Api, name: str) -> None:
    status, _ = error_of(
        api.post("/api/datasets/confirm", {"upload_id": upload(api), "dataset_name": name})
    )
    assert status == 400


def test_orchestrator_down_is_503_and_a_later_confirm_succeeds(api: Api) -> None:
    upload_id = upload(api)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        down = confirm(api, upload_id)
    assert error_of(down) == (503, "orchestrator_unavailable")
    later = confirm(api, upload_id)
    assert later.status_code == 202, later.text
    body = later.json()
    assert len(_runs_for(body["version_id"])) == 1
    assert str(UUID(body["flow_run_id"])) == body["flow_run_id"]
    assert _count(api, DatasetVersion) == 1


def test_a_repeated_confirm_reports_the_version_as_it_is_now_and_only_to_its_owner(
    api: Api,
) -> None:
    upload_id = upload(api)
    first = confirm(api, upload_id).json()
    assert first["status"] == "pending"
    with catalog_for(api.settings.catalog_url).session() as session:
        session.execute(
            update(DatasetVersion)
            .where(DatasetVersion.id == first["version_id"])
            .values(status=VersionStatus.FAILED)
        )
    again = confirm(api, upload_id)
    assert again.status_code == 202
    assert again.json() == {**first, "status": "failed"}
    assert error_of(confirm(api, upload_id, user="bob"))[0] == 404
