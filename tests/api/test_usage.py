"""Usage is what the user stores, exact to the byte, from upload to purge: `GET /api/usage`
against the bytes in the bucket, on each store; the delete that moves models and plots too, and
purging trash at once (`DELETE /api/trash`, `DELETE /api/datasets/{id}?permanent=true`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalog.database import catalog_for
from catalog.jobs import create_job
from catalog.tables import Upload
from flows.ingest_dataset import ingest_dataset
from flows.render_plots import render_plots
from flows.train_model import train_model
from samples.generate import SAMPLE
from tests.support.api_client import Api
from tests.support.consistency import assert_consistent
from tests.support.stores import Store
from tests.support.upload_steps import confirm, error_of, upload

BAD = b"\x00\x01 not a table \xff" * 10


def stored(store: Store, prefix: str) -> int:
    """The bytes under `prefix` in the bucket, as the store lists them."""
    pages = store.client.get_paginator("list_objects_v2").paginate(
        Bucket=store.bucket_name, Prefix=prefix
    )
    return sum(item["Size"] for page in pages for item in page.get("Contents", []))


def usage(api: Api) -> dict[str, Any]:
    response = api.client.get("/api/usage", headers=api.token())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def breakdown(datasets: int = 0, models: int = 0, plots: int = 0) -> dict[str, int]:
    return {
        "datasets": datasets,
        "models": models,
        "plots": plots,
        "total": datasets + models + plots,
    }


@pytest.mark.e2e  # a heavy proof (over 5 s): several flow runs end to end
def test_usage_is_exact_to_the_byte_from_upload_to_purge(
    api_on_each_store_with: Callable[..., Api],
) -> None:
    api = api_on_each_store_with(AUTOML_TRAINING_BUDGET_SECONDS="2")
    store = api.store
    body = SAMPLE.read_bytes()
    quota = api.settings.tier("free").quota_bytes
    assert usage(api) == {
        "quota_bytes": quota,
        "used": breakdown(),
        "trash": breakdown(),
        "reserved_bytes": 0,
        "committed_bytes": 0,
        "free_bytes": quota,
    }
    ids = confirm(api, upload(api, body, "churn.csv")).json()
    pending = usage(api)
    assert (pending["reserved_bytes"], pending["committed_bytes"]) == (len(body), len(body))

    assert ingest_dataset(ids["version_id"]) == "ready"
    parquet = stored(store, "datasets/")
    assert parquet > 0 and stored(store, "uploads/temp/") == 0
    assert usage(api)["used"] == breakdown(datasets=parquet)
    assert usage(api)["reserved_bytes"] == 0

    with catalog_for(api.settings.catalog_url).session() as session:
        job_id = create_job(session, "alice", ids["version_id"], "churned", None).id
    assert train_model(ids["version_id"], "churned", job_id) == job_id
    models = stored(store, "models/")
    assert models > 0
    assert usage(api)["used"] == breakdown(datasets=parquet, models=models)
    render_plots(job_id)
    plots = stored(store, "plots/")
    assert plots > 0
    after_plots = usage(api)
    assert after_plots["used"] == breakdown(parquet, models, plots)
    assert after_plots["committed_bytes"] == parquet + models + plots
    assert after_plots["free_bytes"] == quota - parquet - models - plots

    deleted = api.client.delete(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["status"] == "deleted"
    assert deleted.json()["objects_moved"] == 1 + 2 + len(store.keys("deleted/plots/"))
    for prefix in ("datasets/", "models/", "plots/"):
        assert store.keys(prefix) == [], prefix  # nothing left readable at a live key
    assert stored(store, "deleted/") == parquet + models + plots
    headers = api.token()
    for path in (f"/api/jobs/{job_id}", f"/api/models/{job_id}", f"/api/jobs/{job_id}/plots"):
        assert error_of(api.client.get(path, headers=headers)) == (404, "not_found"), path
    in_trash = usage(api)
    assert in_trash["used"] == breakdown()
    assert in_trash["trash"] == breakdown(parquet, models, plots)  # still stored: still counted
    assert in_trash["committed_bytes"] == parquet + models + plots

    in_deleted = len(store.keys("deleted/"))
    purged = api.client.delete("/api/trash", headers=api.token())
    assert purged.status_code == 200, purged.text
    assert purged.json() == {
        "objects_purged": in_deleted,
        "bytes_freed": parquet + models + plots,
    }
    assert store.data_keys("") == []  # the used upload keys hold tombstones only
    assert usage(api)["committed_bytes"] == 0


def test_a_failed_uploads_kept_file_counts_until_the_user_purges_it(
    api_on_each_store_with: Callable[..., Api],
) -> None:
    api = api_on_each_store_with()
    bad = b"\x00\x01 not a table \xff" * 10
    ids = confirm(api, upload(api, bad, "bad.csv")).json()
    assert ingest_dataset(ids["version_id"], return_state=True).is_failed()
    assert stored(api.store, "uploads/temp/") == len(bad)  # kept for inspection
    assert usage(api)["trash"] == breakdown(datasets=len(bad))
    assert usage(api)["committed_bytes"] == len(bad)
    purged = api.client.delete("/api/trash", headers=api.token())
    assert purged.json() == {"objects_purged": 1, "bytes_freed": len(bad)}
    assert api.store.data_keys("") == []  # the used upload keys hold tombstones only
    assert usage(api)["committed_bytes"] == 0


def test_purging_a_kept_file_whose_urls_expired_frees_its_key(api: Api) -> None:
    """The rule of every used upload key: a tombstone only while its URLs may be valid; once
    they expired the key is freed at once, not left for the next cleanup."""
    upload_id = upload(api, BAD, "bad.csv")
    ids = confirm(api, upload_id).json()
    assert ingest_dataset(ids["version_id"], return_state=True).is_failed()
    with catalog_for(api.settings.catalog_url).session() as session:
        kept = session.get(Upload, upload_id)
        assert kept is not None
        kept.expires_at = datetime.now(UTC) - timedelta(hours=2)
    purged = api.client.delete("/api/trash", headers=api.token())
    assert purged.json() == {"objects_purged": 1, "bytes_freed": len(BAD)}
    assert api.store.keys("uploads/temp/") == []
    assert_consistent(api.store.block, api.settings)


def test_a_permanent_delete_frees_the_bytes_at_once(api: Api) -> None:
    ids = confirm(api, upload(api)).json()
    assert ingest_dataset(ids["version_id"]) == "ready"
    size = stored(api.store, "datasets/")
    response = api.client.delete(
        f"/api/datasets/{ids['dataset_id']}?permanent=true", headers=api.token()
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["status"], body["objects_moved"], body["objects_purged"]) == ("deleted", 1, 1)
    assert api.store.data_keys("") == []  # the used upload keys hold tombstones only
    assert usage(api)["committed_bytes"] == 0 and size > 0
