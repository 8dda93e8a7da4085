"""A delete whose store fails half-way: answered 202 "accepted, finishing", recorded as
`deleting`, and finished by the cleanup flow. The store is reached through the fault proxy,
which fails the removal of one object's live key while the others move."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest

from catalog.database import catalog_for
from catalog.tables import Dataset
from core.settings import get_settings
from core.statuses import DatasetStatus
from flows.cleanup_stale_uploads import cleanup_stale_uploads
from flows.ingest_dataset import ingest_dataset
from flows.purge_deleted import purge_deleted
from tests.support.api_client import Api, make_api
from tests.support.fault_proxy import FaultProxy
from tests.support.stores import Store, default_store_only
from tests.support.upload_steps import confirm, error_of, upload

BAD = b"\x00 not a table"


@contextmanager
def api_over(store: Store) -> Iterator[Api]:
    yield from make_api(store)


def dataset_status(api: Api, dataset_id: str) -> DatasetStatus:
    with catalog_for(api.settings.catalog_url).session() as session:
        dataset = session.get(Dataset, dataset_id)
        assert dataset is not None
        return dataset.status


@pytest.mark.e2e  # a heavy proof (over 5 s): several flow runs end to end
@pytest.mark.usefixtures("brief_retry_waits")  # the store fails longer than every retry
def test_a_delete_the_store_stops_half_way_is_finished_by_the_cleanup_flow(
    faulty_bucket: tuple[Store, FaultProxy],
    ingest_deployment: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On each catalog database (SQLite, PostgreSQL)."""
    monkeypatch.setenv("AUTOML_DATABASE_URL", database_url)
    get_settings.cache_clear()
    store, proxy = faulty_bucket
    with api_over(store) as api:
        ids = confirm(api, upload(api)).json()
        assert ingest_dataset(ids["version_id"]) == "ready"
        failed = confirm(api, upload(api, BAD, "bad.csv"), dataset_id=ids["dataset_id"]).json()
        assert ingest_dataset(failed["version_id"], return_state=True).is_failed()
        [parquet] = store.keys("datasets/")
        [kept] = store.data_keys("uploads/temp/")  # beside the ingested upload's tombstone
        before = api.client.get("/api/usage", headers=api.token()).json()
        assert before["used"]["datasets"] > 0 and before["trash"]["datasets"] == len(BAD)

        # The Parquet file moves; replacing the kept upload by its tombstone (the URL may still
        # be valid) fails, after its copy under deleted/.
        proxy.fail(
            lambda method, path: (
                method == "PUT" and "/uploads/temp/" in path and "/deleted/" not in path
            ),
            503,
            "ServiceUnavailable",
        )
        response = api.client.delete(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["status"], body["objects_moved"], body["objects_remaining"]) == (
            "deleting",
            1,
            1,
        )
        assert "accepted, finishing" in body["message"]
        assert dataset_status(api, ids["dataset_id"]) == DatasetStatus.DELETING
        assert error_of(
            api.client.get(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
        ) == (404, "not_found")
        assert store.keys("datasets/") == [] and store.data_keys("uploads/temp/") == [kept]
        after = api.client.get("/api/usage", headers=api.token()).json()
        assert after["used"]["total"] == 0
        assert after["trash"]["datasets"] == before["used"]["datasets"] + len(BAD)

        cleaned = cleanup_stale_uploads()  # the store still fails: nothing lost, still deleting
        assert cleaned.deletes_finished == 0
        assert dataset_status(api, ids["dataset_id"]) == DatasetStatus.DELETING

        proxy.faults.clear()
        assert cleanup_stale_uploads().deletes_finished == 1
        assert dataset_status(api, ids["dataset_id"]) == DatasetStatus.DELETED
        assert sorted(store.data_keys()) == sorted([f"deleted/{parquet}", f"deleted/{kept}"])
        assert store.is_tombstone(kept)  # its URL stays refused until cleanup removes it
        assert cleanup_stale_uploads().deletes_finished == 0  # nothing left to finish
        final = api.client.get("/api/usage", headers=api.token()).json()
        assert final["trash"] == after["trash"]  # in trash until purged, exactly
        assert api.client.delete("/api/trash", headers=api.token()).json()["objects_purged"] == 2
        assert store.data_keys() == []


@pytest.mark.usefixtures("brief_retry_waits")
def test_a_delete_the_store_refuses_from_the_start_is_still_recorded(
    faulty_bucket: tuple[Store, FaultProxy], ingest_deployment: str
) -> None:
    store, proxy = faulty_bucket
    with api_over(store) as api:
        ids = confirm(api, upload(api)).json()
        assert ingest_dataset(ids["version_id"]) == "ready"
        proxy.fail(lambda method, path: "/datasets/" in path, 503, "ServiceUnavailable")
        response = api.client.delete(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
        # Never "nothing was changed": the delete is recorded and will be finished.
        assert response.status_code == 202, response.text
        assert (response.json()["objects_moved"], response.json()["objects_remaining"]) == (0, 1)
        proxy.faults.clear()
        assert cleanup_stale_uploads().deletes_finished == 1
        assert store.keys("datasets/") == [] and len(store.keys("deleted/")) == 1


def test_a_permanent_delete_the_store_stops_while_purging_says_what_it_did(
    faulty_bucket: tuple[Store, FaultProxy], ingest_deployment: str
) -> None:
    """The delete is done when the purge fails: the answer is 202 naming what happened (never
    503 "try again": a retry would be 404), and `DELETE /api/trash` purges the rest."""
    store, proxy = faulty_bucket
    with api_over(store) as api:
        ids = confirm(api, upload(api)).json()
        assert ingest_dataset(ids["version_id"]) == "ready"
        proxy.fail(lambda method, path: method == "DELETE" and "/deleted/" in path, 503, "Slow")
        response = api.client.delete(
            f"/api/datasets/{ids['dataset_id']}?permanent=true", headers=api.token()
        )
        assert response.status_code == 202, response.text
        body = response.json()
        assert (body["status"], body["objects_moved"], body["objects_remaining"]) == (
            "deleted",
            1,
            0,
        )
        assert (body["objects_purged"], body["purge_stopped"]) == (0, True)
        assert body["message"].startswith("accepted, finishing: the delete is done")
        assert "DELETE /api/trash" in body["message"]
        assert dataset_status(api, ids["dataset_id"]) == DatasetStatus.DELETED
        proxy.faults.clear()
        purged = api.client.delete("/api/trash", headers=api.token())
        assert purged.status_code == 200 and purged.json()["objects_purged"] == 1
        assert store.data_keys() == []


@default_store_only
def test_purge_deleted_gives_the_trash_bytes_back(bucket: Store, ingest_deployment: str) -> None:
    with api_over(bucket) as api:
        deleted = confirm(api, upload(api)).json()
        assert ingest_dataset(deleted["version_id"]) == "ready"
        failed = confirm(api, upload(api, BAD, "bad.csv")).json()
        assert ingest_dataset(failed["version_id"], return_state=True).is_failed()
        gone = api.client.delete(f"/api/datasets/{deleted['dataset_id']}", headers=api.token())
        assert gone.status_code == 200
        trash = api.client.get("/api/usage", headers=api.token()).json()["trash"]["datasets"]
        assert trash > len(BAD)
        purge_deleted(now=datetime.now(UTC) + timedelta(days=1))  # younger than the retention
        usage = api.client.get("/api/usage", headers=api.token()).json()
        assert usage["trash"]["datasets"] == trash
        purge_deleted(now=datetime.now(UTC) + timedelta(days=31))
        usage = api.client.get("/api/usage", headers=api.token()).json()
        assert (usage["trash"]["total"], usage["committed_bytes"]) == (0, 0)
        assert bucket.data_keys() == []
