"""Per-user limits on work in flight through the API: one confirm or training request beyond
the tier's limit is answered 429 with the error body and Retry-After; once one ends, the same
request is accepted."""

from __future__ import annotations

import json
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from catalog.database import catalog_for
from catalog.datasets import mark_failed
from catalog.jobs import mark_job_failed
from core.settings import MiB
from flows.ingest_dataset import ingest_dataset
from samples.generate import SAMPLE
from tests.support.api_client import Api
from tests.support.upload_steps import confirm, error_of, upload

LIMITED_FREE = json.dumps(
    {
        "free": {
            "max_file_bytes": 100 * MiB,
            "quota_bytes": 1024 * MiB,
            "max_ingestions_in_flight": 2,
            "max_training_jobs_in_flight": 1,
        }
    }
)


def _assert_too_many(response: httpx.Response, what: str) -> None:
    assert error_of(response) == (429, "too_many_in_flight")
    assert int(response.headers["Retry-After"]) > 0
    assert what in response.json()["error"]["message"]


def test_a_confirm_beyond_the_limit_is_429_until_an_ingestion_ends(
    api_with: Callable[..., Api],
) -> None:
    api = api_with(AUTOML_TIERS=LIMITED_FREE)
    accepted = [confirm(api, upload(api)) for _ in range(2)]
    assert [r.status_code for r in accepted] == [202, 202]
    again = confirm(api, upload(api, user="bob"), user="bob")
    assert again.status_code == 202  # the limit is per user
    waiting = upload(api)
    refused = confirm(api, waiting)
    _assert_too_many(refused, "ingestions")
    # A repeated confirm of an accepted upload is not a new ingestion: same answer as before.
    repeated = confirm(api, _upload_of(api, accepted[0]))
    assert repeated.status_code == 202
    assert repeated.json()["version_id"] == accepted[0].json()["version_id"]
    with catalog_for(api.settings.catalog_url).session() as session:
        mark_failed(session, accepted[0].json()["version_id"], "stopped for the test")
    later = confirm(api, waiting)  # the refused upload stayed confirmable
    assert later.status_code == 202, later.text
    _assert_too_many(confirm(api, upload(api)), "ingestions")


def _upload_of(api: Api, response: httpx.Response) -> str:
    from catalog.tables import DatasetVersion

    with catalog_for(api.settings.catalog_url).session() as session:
        version = session.get(DatasetVersion, response.json()["version_id"])
        assert version is not None
        return version.upload_id


def test_a_training_request_beyond_the_limit_is_429_until_a_job_ends(
    api_with: Callable[..., Api], train_deployment: str
) -> None:
    api = api_with(AUTOML_TIERS=LIMITED_FREE)
    version_id = confirm(api, upload(api, SAMPLE.read_bytes(), "churn.csv")).json()["version_id"]
    assert ingest_dataset(version_id) == "ready"
    request = {"version_id": version_id, "target": "churned"}
    first = api.post("/api/jobs/train", request)
    assert first.status_code == 202, first.text
    _assert_too_many(api.post("/api/jobs/train", request), "training jobs")
    with catalog_for(api.settings.catalog_url).session() as session:
        mark_job_failed(session, first.json()["job_id"], "stopped for the test")
    assert api.post("/api/jobs/train", request).status_code == 202


def test_concurrent_confirms_never_exceed_the_limit(api_with: Callable[..., Api]) -> None:
    api = api_with(AUTOML_TIERS=LIMITED_FREE)
    uploads = [upload(api) for _ in range(5)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        answers = list(pool.map(lambda upload_id: confirm(api, upload_id), uploads))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [202, 202, 429, 429, 429], [a.text for a in answers]


def test_an_upload_url_beyond_the_limit_of_uploads_in_flight_is_429_until_one_is_confirmed(
    api_with: Callable[..., Api],
) -> None:
    three = {"free": {"max_file_bytes": 100 * MiB, "quota_bytes": 1024 * MiB}}
    three["free"]["max_uploads_in_flight"] = 3
    api = api_with(AUTOML_TIERS=json.dumps(three))
    uploads = [upload(api) for _ in range(3)]
    ask = {"filename": "weather.csv", "size_bytes": 10}
    refused = api.post("/api/datasets/upload-url", ask)
    _assert_too_many(refused, "3 uploads in progress")
    listed = api.client.get("/api/datasets/uploads", headers=api.token("alice")).json()
    assert sorted(u["upload_id"] for u in listed["uploads"]) == sorted(uploads)  # none added
    assert api.post("/api/datasets/upload-url", ask, "bob").status_code == 200  # per user
    assert confirm(api, uploads[0]).status_code == 202
    assert api.post("/api/datasets/upload-url", ask).status_code == 200
