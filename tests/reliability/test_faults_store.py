"""Proof under store faults (docs/reliability.md, *Faults*): the fault proxy in front of the
store answers 500/503, drops the connection, or loses the store's answer after it acted,
during ingestion, confirm, multipart completion and delete. Each case ends consistent after
its recovery (retries, confirming again, re-running, the cleanup flow), by the one final check
of tests/support/consistency.py.

Real parts: moto behind the proxy, Prefect (the session's server; flows run in-process), the
API in-process on a SQLite catalog. A burst fails 4 requests (botocore's own 4 attempts: the
first and its 3 retries; the task's retry then passes); an outage lasts until the test ends it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from catalog.database import catalog_for
from catalog.tables import Upload
from core.statuses import DatasetStatus, UploadStatus, VersionStatus
from flows.cleanup_stale_uploads import cleanup_stale_uploads
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.consistency import assert_recovered
from tests.support.fault_proxy import Fault, FaultProxy, Matcher
from tests.support.upload_steps import confirm, error_of, put_parts, upload

pytestmark = [
    pytest.mark.e2e,  # a proof, each case a whole path through the fault proxy: the full lane
    pytest.mark.usefixtures("brief_retry_waits"),
]

MiB = 1024**2
BURST = 4
BAD = b"\x00 not a table"

Inject = Callable[[FaultProxy, Matcher], Fault]
FAULTS: dict[str, Inject] = {
    "503": lambda proxy, m: proxy.fail(m, 503, "ServiceUnavailable", times=BURST),
    "500": lambda proxy, m: proxy.fail(m, 500, "InternalError", times=BURST),
    "drop": lambda proxy, m: proxy.drop(m, times=BURST),
    "lost-answer": lambda proxy, m: proxy.lose_answer(m, times=1),
    "outage-503": lambda proxy, m: proxy.fail(m, 503, "ServiceUnavailable"),
    "outage-drop": lambda proxy, m: proxy.drop(m),
}


def _outage(fault: str) -> bool:
    return fault.startswith("outage")


def _measured(case: str, fault: Fault, started: float, note: str = "") -> None:
    """One line for docs/reliability.md (shown with `-rP`); never asserted on."""
    seconds = time.monotonic() - started
    print(f"FAULT {case}: {fault.hits} requests hit, consistent after {seconds:.1f} s {note}")


def _upload_status(api: Api, upload_id: str) -> UploadStatus:
    with catalog_for(api.settings.catalog_url).session() as session:
        found = session.get(Upload, upload_id)
        assert found is not None
        return found.status


# Ingestion: the download of the upload, the Parquet upload, the tombstone that replaces the
# upload's bytes once the version is recorded.
INGESTION_STEPS: dict[str, Matcher] = {
    "download": lambda method, path: method == "GET" and "/uploads/temp/" in path,
    "parquet-upload": lambda method, path: method == "PUT" and "/datasets/" in path,
    "tombstone": lambda method, path: method == "PUT" and "/uploads/temp/" in path,
}


@pytest.mark.parametrize(
    ("step", "fault"),
    [
        ("download", "drop"),
        ("download", "outage-503"),
        ("parquet-upload", "500"),
        ("parquet-upload", "lost-answer"),
        ("parquet-upload", "outage-drop"),
        ("tombstone", "lost-answer"),
        ("tombstone", "outage-503"),
    ],
)
def test_ingestion_under_store_faults_ends_consistent(
    faulty_api: Callable[..., tuple[Api, FaultProxy]], step: str, fault: str
) -> None:
    api, proxy = faulty_api()
    upload_id = upload(api)
    ids = confirm(api, upload_id).json()
    started = time.monotonic()
    injected = FAULTS[fault](proxy, INGESTION_STEPS[step])
    state = ingest_dataset(ids["version_id"], return_state=True)
    assert injected.hits >= 1  # the fault happened
    if not _outage(fault):
        assert state.is_completed() and state.result() == VersionStatus.READY
    else:
        # Every retry spent: the run fails. Where the version was not recorded yet it is
        # failed with its upload kept (trash); that is consistent too.
        assert state.is_failed()
        if step != "tombstone":
            assert _upload_status(api, upload_id) == UploadStatus.FAILED
            assert_recovered(api.settings, api.store)
        proxy.faults.clear()
        if step == "tombstone":
            # The version was recorded; only the upload's bytes are left at its temp key,
            # until the cleanup flow removes them once the upload URL expired.
            with catalog_for(api.settings.catalog_url).session() as session:
                record = session.get(Upload, upload_id)
                assert record is not None and record.status == UploadStatus.INGESTED
                expired = record.expires_at + timedelta(seconds=1)
            assert cleanup_stale_uploads(now=expired).strays_removed == 1
        else:
            assert ingest_dataset(ids["version_id"]) == VersionStatus.READY  # re-run
    usage = api.client.get("/api/usage", headers=api.token()).json()
    assert usage["used"]["datasets"] > 0 and usage["trash"]["total"] == 0
    assert_recovered(api.settings, api.store)
    _measured(f"ingestion {step} {fault}", injected, started)


# Confirm: the check of the uploaded file, and the completion of a multipart upload.
HEAD_OF_UPLOAD: Matcher = lambda method, path: method == "HEAD" and "/uploads/temp/" in path  # noqa: E731
COMPLETION: Matcher = lambda method, path: method == "POST" and "uploadId=" in path  # noqa: E731


@pytest.mark.parametrize(
    ("step", "fault"),
    [
        ("head", "outage-drop"),
        ("multipart-completion", "outage-503"),
        ("multipart-completion", "lost-answer"),
    ],
)
def test_confirm_under_store_faults_ends_consistent(
    faulty_api: Callable[..., tuple[Api, FaultProxy]], step: str, fault: str
) -> None:
    api, proxy = faulty_api(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))
    extra: dict[str, Any] = {}
    if step == "head":
        upload_id = upload(api)
        matcher = HEAD_OF_UPLOAD
    else:
        body = b"a,b\n" + b"1,2\n" * (6 * MiB // 4)  # one part of a multipart upload
        asked = {"filename": "big.csv", "size_bytes": len(body)}
        plan = api.post("/api/datasets/upload-url", asked)
        assert plan.json()["multipart"]["part_count"] == 1, plan.text
        upload_id = str(plan.json()["upload_id"])
        extra["parts"] = put_parts(api, upload_id, body, 16 * MiB, 1)
        matcher = COMPLETION
    started = time.monotonic()
    injected = FAULTS[fault](proxy, matcher)
    answer = confirm(api, upload_id, **extra)
    assert injected.hits >= 1
    if _outage(fault):
        assert error_of(answer) == (503, "storage_unavailable")
        assert _upload_status(api, upload_id) == UploadStatus.PENDING  # still confirmable
        assert_recovered(api.settings, api.store)
        proxy.faults.clear()
        answer = confirm(api, upload_id, **extra)  # what the client does after a 503
    # A lost answer of a completion that happened: the retry finds the file assembled.
    assert answer.status_code == 202, answer.text
    assert ingest_dataset(answer.json()["version_id"]) == VersionStatus.READY
    assert_recovered(api.settings, api.store)
    _measured(f"confirm {step} {fault}", injected, started)


# Delete: moving each object under deleted/ is a copy, then removing the live key (a tombstone
# for a failed version's kept upload). Objects move in key order: the Parquet file first.
DELETE_STEPS: dict[str, Matcher] = {
    # the copy of the second object (the kept upload): the delete stops half-way
    "copy-of-second": lambda method, path: method == "PUT" and "/deleted/uploads/temp/" in path,
    # the removal of the first object's live key, after its copy
    "remove-of-first": lambda method, path: method == "DELETE" and "/datasets/" in path,
}


@pytest.mark.parametrize(
    ("step", "fault"),
    [
        ("copy-of-second", "outage-503"),
        ("remove-of-first", "outage-drop"),
        ("remove-of-first", "lost-answer"),
    ],
)
def test_delete_under_store_faults_is_finished_and_consistent(
    faulty_api: Callable[..., tuple[Api, FaultProxy]], step: str, fault: str
) -> None:
    api, proxy = faulty_api()
    ids = confirm(api, upload(api)).json()
    assert ingest_dataset(ids["version_id"]) == VersionStatus.READY
    failed = confirm(api, upload(api, BAD, "bad.csv"), dataset_id=ids["dataset_id"]).json()
    assert ingest_dataset(failed["version_id"], return_state=True).is_failed()
    before = api.client.get("/api/usage", headers=api.token()).json()
    started = time.monotonic()
    injected = FAULTS[fault](proxy, DELETE_STEPS[step])
    response = api.client.delete(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
    assert injected.hits >= 1
    body = response.json()
    if _outage(fault):
        # Recorded, answered "accepted, finishing", never "nothing was changed".
        assert response.status_code == 202, response.text
        assert body["status"] == DatasetStatus.DELETING and body["objects_remaining"] >= 1
        assert "accepted, finishing" in body["message"]
        assert cleanup_stale_uploads().deletes_finished == 0  # the store still fails
        proxy.faults.clear()
        assert cleanup_stale_uploads().deletes_finished == 1
    else:
        assert response.status_code == 200, response.text
        assert (body["status"], body["objects_moved"]) == (DatasetStatus.DELETED, 2)
    after = api.client.get("/api/usage", headers=api.token()).json()
    assert after["used"]["total"] == 0
    assert after["trash"]["datasets"] == before["used"]["datasets"] + len(BAD)
    assert_recovered(api.settings, api.store)
    _measured(f"delete {step} {fault}", injected, started)
