"""fsck finds nothing after the real path a user takes: upload, ingest, train, plots, a failed
version, delete, purge; on each store kind and each catalog database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from flows.ingest_dataset import ingest_dataset
from flows.purge_deleted import purge_deleted
from flows.render_plots import render_plots
from flows.train_model import train_model
from integrity.fsck import FsckReport, run_fsck
from samples.generate import SAMPLE
from tests.support.api_client import Api
from tests.support.consistency import assert_consistent
from tests.support.upload_steps import confirm, upload


def fsck(api: Api, **options: object) -> FsckReport:
    return run_fsck(api.settings, api.store.block, **options)  # type: ignore[arg-type]


def assert_clean(api: Api, **options: object) -> FsckReport:
    return assert_consistent(api.store.block, api.settings, **options)


def swap_model_bytes(api: Api, job_id: str) -> None:
    store, key = api.store, f"models/alice/{job_id}/model.joblib"
    body = store.client.get_object(Bucket=store.bucket_name, Key=key)["Body"].read()
    store.client.put_object(Bucket=store.bucket_name, Key=key, Body=body[::-1])


@pytest.mark.e2e  # a heavy proof (over 5 s): several flow runs end to end
def test_the_happy_path_is_clean_at_every_step(api: Api) -> None:
    assert_clean(api)
    ids = confirm(api, upload(api, SAMPLE.read_bytes(), "churn.csv")).json()
    assert_clean(api)  # a confirmed upload waiting for its ingestion
    assert ingest_dataset(ids["version_id"]) == "ready"
    assert_clean(api, deep=True)  # the Parquet file, its size and SHA-256; a tombstone
    failed = confirm(
        api, upload(api, b"\x00 not a table", "bad.csv"), **{"dataset_id": ids["dataset_id"]}
    ).json()
    assert ingest_dataset(failed["version_id"], return_state=True).is_failed()
    assert_clean(api)  # the failed version's kept upload
    job_id = api.post(
        "/api/jobs/train", {"version_id": ids["version_id"], "target": "churned"}
    ).json()["job_id"]
    train_model(ids["version_id"], "churned", job_id)
    render_plots(job_id)
    report = assert_clean(api, deep=True)
    assert report.checked["objects models/"] == 2 and report.checked["objects plots/"] > 0
    assert report.checked["objects hashed"] == 2  # the Parquet file; the model by its metadata
    swap_model_bytes(api, job_id)  # same size: only --deep tells, by the metadata's SHA-256
    assert_clean(api)
    [finding] = fsck(api, deep=True).findings
    assert (finding.kind, finding.key) == ("sha256_mismatch", f"models/alice/{job_id}/model.joblib")
    swap_model_bytes(api, job_id)
    assert (
        api.client.delete(f"/api/datasets/{ids['dataset_id']}", headers=api.token()).status_code
        == 200
    )
    assert_clean(api, deep=True)  # everything moved under deleted/, in the user's trash
    purge_deleted(now=datetime.now(UTC) + timedelta(days=31))
    report = assert_clean(api)
    assert report.checked["objects deleted/"] == 0
