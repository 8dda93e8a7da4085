"""Training through the API: start a job on a ready version, read it, its model and its plots;
another user's job is 404."""

from __future__ import annotations

import asyncio
import json
from uuid import UUID

import httpx
import pytest
from prefect import get_client

from flows.ingest_dataset import ingest_dataset
from flows.render_plots import render_plots
from flows.train_model import train_model
from samples.generate import SAMPLE
from tests.support.api_client import Api
from tests.support.upload_steps import confirm, error_of, upload


def _ready(api: Api, user: str = "alice") -> dict[str, str]:
    ids: dict[str, str] = confirm(
        api, upload(api, SAMPLE.read_bytes(), "churn.csv", user), user
    ).json()
    assert ingest_dataset(ids["version_id"]) == "ready"
    return ids


def test_train_starts_a_train_model_run_and_states_the_task(
    training_api: Api, train_deployment: str
) -> None:
    ids = _ready(training_api)
    response = training_api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "churned"}
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["task_type"] == "classification"

    async def run_of(flow_run_id: str) -> tuple[str, dict[str, str]]:
        async with get_client() as client:
            run = await client.read_flow_run(UUID(flow_run_id))
        return str(run.deployment_id), run.parameters

    deployment_id, parameters = asyncio.run(run_of(body["flow_run_id"]))
    assert deployment_id == train_deployment
    assert parameters == {
        "version_id": ids["version_id"],
        "target": "churned",
        "job_id": body["job_id"],
    }
    job = training_api.client.get(
        f"/api/jobs/{body['job_id']}", headers=training_api.token()
    ).json()
    assert job["status"] == "pending" and job["flow_run_id"] == body["flow_run_id"]
    regression = training_api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "monthly_charges"}
    )
    assert regression.json()["task_type"] == "regression"


@pytest.mark.e2e  # a heavy proof (over 5 s): several flow runs end to end
def test_a_published_model_and_its_plots_read_back(training_api: Api) -> None:
    ids = _ready(training_api)
    job_id = training_api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "churned"}
    ).json()["job_id"]
    assert error_of(
        training_api.client.get(f"/api/models/{job_id}", headers=training_api.token())
    ) == (
        409,
        "conflict",
    )
    before = training_api.client.get(
        f"/api/jobs/{job_id}/plots", headers=training_api.token()
    ).json()
    assert (before["rendered"], before["plots"]) == (False, [])
    train_model(ids["version_id"], "churned", job_id)
    job = training_api.client.get(f"/api/jobs/{job_id}", headers=training_api.token()).json()
    assert job["status"] == "succeeded" and job["metrics"]["accuracy"] > 0.5
    assert job["plots_rendered_at"] is None

    model = training_api.client.get(f"/api/models/{job_id}", headers=training_api.token()).json()
    assert model["metadata"]["target"] == "churned"
    download = httpx.get(model["download_url"])
    assert download.status_code == 200
    assert len(download.content) == model["metadata"]["model_file"]["size_bytes"]

    names = render_plots(job_id)
    listing = training_api.client.get(
        f"/api/jobs/{job_id}/plots", headers=training_api.token()
    ).json()
    plots = listing["plots"]
    assert listing["rendered"] is True
    assert sorted(plot["name"] for plot in plots) == sorted(names)
    assert "confusion-matrix" in names
    job = training_api.client.get(f"/api/jobs/{job_id}", headers=training_api.token()).json()
    assert job["plots_rendered_at"] is not None
    first = httpx.get(plots[0]["url"])
    assert first.status_code == 200 and first.content.startswith(b"\x89PNG")

    # The metadata answered is the published file, field for field; a newer schema is refused.
    store = training_api.store
    key = f"models/alice/{job_id}/metadata.json"
    published = json.loads(
        store.client.get_object(Bucket=store.bucket_name, Key=key)["Body"].read()
    )
    assert model["metadata"] == published
    newer = json.dumps(published | {"schema_version": published["schema_version"] + 1})
    store.client.put_object(Bucket=store.bucket_name, Key=key, Body=newer.encode())
    refused = training_api.client.get(f"/api/models/{job_id}", headers=training_api.token())
    assert error_of(refused) == (500, "unreadable_model_metadata")
    assert f"schema_version {published['schema_version'] + 1}" in refused.json()["error"]["message"]


def test_the_target_must_be_a_column(training_api: Api) -> None:
    ids = _ready(training_api)
    response = training_api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "nope"}
    )
    assert error_of(response) == (400, "invalid_input")
    assert "churned" in response.json()["error"]["message"]  # lists the columns


def test_a_long_target_is_quoted_cut_in_the_refusal(training_api: Api) -> None:
    ids = _ready(training_api)
    response = training_api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "t" * 1024}
    )
    assert error_of(response) == (400, "invalid_input")
    message = response.json()["error"]["message"]
    assert message.startswith(repr("t" * 64 + "\u2026") + " is not a column of this dataset")
    assert "t" * 65 not in message


def test_a_version_not_ready_is_409_and_another_users_is_404(training_api: Api) -> None:
    pending = confirm(training_api, upload(training_api)).json()
    not_ready = training_api.post(
        "/api/jobs/train", {"version_id": pending["version_id"], "target": "x"}
    )
    assert error_of(not_ready) == (409, "conflict")
    ids = _ready(training_api, user="alice")
    theirs = training_api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "churned"}, user="mallory"
    )
    assert error_of(theirs) == (404, "not_found")
    job_id = training_api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "churned"}
    ).json()["job_id"]
    mallory = training_api.token("mallory")
    for path in (f"/api/jobs/{job_id}", f"/api/models/{job_id}", f"/api/jobs/{job_id}/plots"):
        assert error_of(training_api.client.get(path, headers=mallory)) == (404, "not_found"), path
