"""Proof under catalog faults (docs/reliability.md, *Faults*): the PostgreSQL connections of the
API and of the flows are terminated (`pg_terminate_backend`, as a failover or a restart of the
database does), idle in the pool or in the middle of a transaction. Each case ends consistent
after its recovery (the pool's check on checkout, task retries, confirming again, the cleanup flow).

To land a termination inside a transaction, the store's answer is held at the fault proxy, a row
the step writes next is locked from another connection, and the step's backend is terminated
while it waits for that lock (pg_stat_activity shows it waiting).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextvars import copy_context
from typing import Any

import pytest

from catalog.database import catalog_for
from catalog.tables import DatasetVersion, Upload
from core.statuses import DatasetStatus, UploadStatus, VersionStatus
from flows.cleanup_stale_uploads import cleanup_stale_uploads
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.catalog_server import CatalogServer
from tests.support.consistency import assert_recovered
from tests.support.fault_proxy import Fault, FaultProxy, Matcher
from tests.support.upload_steps import confirm, error_of, upload

pytestmark = [
    pytest.mark.usefixtures("brief_retry_waits"),
    pytest.mark.parametrize(
        "database_url", [pytest.param("postgresql", marks=pytest.mark.e2e)], indirect=True
    ),
]

WAIT_SECONDS = 60.0


class Background(threading.Thread):
    """Runs `step` in this context (the test's Prefect settings); `.outcome` is what it
    returned or raised."""

    def __init__(self, step: Callable[[], Any]) -> None:
        super().__init__(daemon=True)
        self.step, self.context = step, copy_context()
        self.outcome: Any = None
        self.start()

    def run(self) -> None:
        try:
            self.outcome = self.context.run(self.step)
        except Exception as exc:
            self.outcome = exc


def terminate_inside_transaction(
    catalog: CatalogServer, held: Fault, table: str, column: str, value: str
) -> None:
    """Once the step reaches `held` (its store request), locks the row it writes next, lets the
    request go on, and terminates the step's backend while it waits for the row."""
    assert held.reached.wait(WAIT_SECONDS), "the step never reached the held store request"
    with catalog.row_locked(table, column, value) as holder:
        held.release()
        assert catalog.terminate([catalog.blocked_backend(holder)]) == 1


PARQUET_PUT: Matcher = lambda method, path: method == "PUT" and "/datasets/" in path  # noqa: E731


def test_connections_terminated_while_idle_are_replaced_unnoticed(
    api_on_postgres: tuple[Api, FaultProxy], catalog_server: CatalogServer
) -> None:
    """A failover or restart of the database between requests and between an ingestion's steps:
    the pool's check on checkout finds each dead connection and opens another; nothing fails."""
    api, proxy = api_on_postgres
    upload_id = upload(api)
    assert catalog_server.terminate(catalog_server.backends()) >= 1
    answer = confirm(api, upload_id)
    assert answer.status_code == 202, answer.text
    held = proxy.hold(PARQUET_PUT)
    run = Background(lambda: ingest_dataset(answer.json()["version_id"], return_state=True))
    assert held.reached.wait(WAIT_SECONDS)
    assert catalog_server.terminate(catalog_server.backends()) >= 1  # the flow's idle ones
    held.release()
    run.join(WAIT_SECONDS)
    state = run.outcome
    assert state.is_completed() and state.result() == VersionStatus.READY
    assert_recovered(api.settings, api.store)


def test_a_confirm_whose_connection_drops_mid_transaction_changes_nothing(
    api_on_postgres: tuple[Api, FaultProxy], catalog_server: CatalogServer
) -> None:
    api, proxy = api_on_postgres
    upload_id = upload(api)
    held = proxy.hold(lambda method, path: method == "HEAD" and "/uploads/temp/" in path)
    sent = Background(lambda: confirm(api, upload_id))
    # The confirm's transaction locks the upload's row first, then creates the version.
    terminate_inside_transaction(catalog_server, held, "uploads", "id", upload_id)
    sent.join(WAIT_SECONDS)
    # Retryable: the client (`automl upload`) sends the confirm again after a 503.
    assert error_of(sent.outcome) == (503, "catalog_unavailable")
    with catalog_for(api.settings.catalog_url).session() as session:  # rolled back whole
        record = session.get(Upload, upload_id)
        assert record is not None and record.status == UploadStatus.PENDING
        assert session.query(DatasetVersion).filter_by(upload_id=upload_id).count() == 0
    answer = confirm(api, upload_id)  # the client confirms again
    assert answer.status_code == 202, answer.text
    assert ingest_dataset(answer.json()["version_id"]) == VersionStatus.READY
    assert_recovered(api.settings, api.store)


def test_an_ingestion_whose_connection_drops_while_recording_ends_ready_once(
    api_on_postgres: tuple[Api, FaultProxy], catalog_server: CatalogServer
) -> None:
    """The version's `ready` record (with the user's used bytes) is written in one transaction:
    terminated half-way it is rolled back, and the task's retry writes it once."""
    api, proxy = api_on_postgres
    version_id = confirm(api, upload(api)).json()["version_id"]
    held = proxy.hold(PARQUET_PUT)
    run = Background(lambda: ingest_dataset(version_id, return_state=True))
    terminate_inside_transaction(catalog_server, held, "dataset_versions", "id", version_id)
    run.join(WAIT_SECONDS)
    state = run.outcome
    assert state.is_completed() and state.result() == VersionStatus.READY
    assert_recovered(api.settings, api.store)  # used bytes counted once among the rest


def test_a_delete_whose_connection_drops_while_recording_a_move_is_finished(
    api_on_postgres: tuple[Api, FaultProxy], catalog_server: CatalogServer
) -> None:
    """The object is moved under `deleted/`, then recording the move loses its connection: the
    answer says the delete is accepted and finishing, and the cleanup flow finishes it."""
    api, proxy = api_on_postgres
    ids = confirm(api, upload(api)).json()
    assert ingest_dataset(ids["version_id"]) == VersionStatus.READY
    with catalog_for(api.settings.catalog_url).session() as session:
        version = session.get(DatasetVersion, ids["version_id"])
        assert version is not None
        parquet_key = version.parquet_key
    held = proxy.hold(lambda method, path: method == "PUT" and "/deleted/" in path)
    sent = Background(
        lambda: api.client.delete(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
    )
    terminate_inside_transaction(catalog_server, held, "stored_objects", "key", parquet_key)
    sent.join(WAIT_SECONDS)
    response = sent.outcome
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == DatasetStatus.DELETING and "accepted, finishing" in body["message"]
    assert cleanup_stale_uploads().deletes_finished == 1
    assert_recovered(api.settings, api.store)
