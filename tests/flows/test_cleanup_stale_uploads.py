"""The cleanup-stale-uploads flow, for real against each store, the catalog and Prefect.

What the stores answer (deletes, multipart listings and aborts, object ages) is tested on each
store; what depends only on the catalog's records and Prefect's runs on the default store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from prefect import get_client
from prefect.client.schemas.objects import FlowRun, State
from prefect.states import Crashed

from catalog.database import catalog_for
from catalog.deletion import mark_dataset_deleted
from catalog.uploads import release_upload
from core.events import UPLOAD_CONFIRMED
from core.statuses import UploadStatus, VersionStatus
from flows.cleanup_stale_uploads import CleanupReport, cleanup_stale_uploads
from flows.ingest_dataset import ingest_dataset
from flows.purge_deleted import purge_deleted
from orchestrator.runs import MAX_INGESTION_RUNS, start_ingestion
from tests.support.consistency import assert_consistent
from tests.support.lifecycle import CSV, LifecycleState, run_artifact
from tests.support.prefect_events import find_events
from tests.support.stores import default_store_only

# Far enough ahead that every object, multipart upload and upload record counts as old.
LATER = timedelta(days=60)
# Past the few minutes a new version is left to the confirm that created it.
SETTLED = timedelta(minutes=10)


def cleanup(now: datetime | None = None) -> tuple[CleanupReport, State[Any]]:
    final: State[Any] = cleanup_stale_uploads(now=now, return_state=True)
    report = final.result()
    assert isinstance(report, CleanupReport)
    return report, final


def flow_run(flow_run_id: str | None) -> FlowRun:
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        return client.read_flow_run(UUID(flow_run_id))


def test_an_expired_pending_upload_is_closed_its_object_removed_and_reservation_released(
    state: LifecycleState,
) -> None:
    upload = state.pending_upload(expired=True)
    report, _ = cleanup()
    assert state.store.keys() == []
    closed = state.upload(upload.upload_id)
    assert (closed.status, closed.reserved_bytes) == ("expired", 0)
    assert state.committed_bytes() == 0
    assert (report.expired_uploads, report.temp_objects_deleted) == (1, 1)


def test_an_expired_multipart_upload_is_aborted_at_the_store(state: LifecycleState) -> None:
    upload, multipart_id = state.pending_multipart_upload(expired=True)
    report, _ = cleanup()
    assert multipart_id not in state.open_multipart_ids()
    assert state.upload(upload.upload_id).status == "expired"
    assert report.multipart_aborted == 1


def test_a_pending_upload_still_open_is_left_alone(state: LifecycleState) -> None:
    upload = state.pending_upload(expired=False)
    _, multipart_id = state.pending_multipart_upload(expired=False)
    report, _ = cleanup()
    assert state.store.keys() == [upload.temp_key]
    assert multipart_id in state.open_multipart_ids()
    assert state.upload(upload.upload_id).status == "pending"
    assert report.expired_uploads == report.multipart_aborted == 0


def test_a_stale_multipart_upload_no_upload_owns_is_aborted(state: LifecycleState) -> None:
    multipart_id = state.open_multipart("uploads/temp/unknown-upload.csv")
    # Timed by the store's clock: moto reports a fixed `Initiated` in 2010.
    initiated = state.multipart_initiated(multipart_id)
    cleanup(now=initiated + timedelta(minutes=1))
    assert multipart_id in state.open_multipart_ids()  # as young as an open upload could be
    report, _ = cleanup(now=initiated + LATER)
    assert multipart_id not in state.open_multipart_ids()
    assert report.multipart_aborted == 1


@default_store_only
@pytest.mark.parametrize("version_status", [VersionStatus.PENDING, VersionStatus.INGESTING])
def test_a_confirmed_uploads_object_is_kept_while_its_version_is_unfinished(
    state: LifecycleState, version_status: VersionStatus
) -> None:
    confirmed = state.confirmed_upload(version_status)
    report, _ = cleanup(now=datetime.now(UTC) + LATER)
    assert state.store.keys() == [confirmed.temp_key]
    assert state.upload(confirmed.upload_id).status == "confirmed"
    assert report.strays_removed == 0


@default_store_only
def test_a_failed_versions_kept_object_is_left_for_inspection(state: LifecycleState) -> None:
    failed = state.confirmed_upload(VersionStatus.FAILED)
    report, _ = cleanup(now=datetime.now(UTC) + LATER)
    assert state.store.keys() == [failed.temp_key]
    assert report.strays_removed == 0


@default_store_only
def test_a_failed_upload_of_a_delete_stopped_half_way_waits_for_its_move(
    state: LifecycleState,
) -> None:
    """The delete is recorded (version `deleted_at` set, ledger row `deleting`) but the kept
    upload not moved yet: no flow removes or overwrites the only copy; cleanup moves it under
    `deleted/`, then removes the tombstone the move left once the URLs expired."""
    failed = state.confirmed_upload(VersionStatus.FAILED)
    with catalog_for(state.url).session() as session:
        dataset_id = state.version(failed.version_id).dataset_id
        assert mark_dataset_deleted(session, "alice", dataset_id) == 1
    later = datetime.now(UTC) + LATER
    assert ingest_dataset(str(failed.version_id)) == "failed"
    assert purge_deleted(now=later).failed_uploads_purged == 0
    assert state.store.data_keys() == [failed.temp_key]
    report, _ = cleanup(now=later)  # strays first, then the unfinished delete
    assert (report.strays_removed, report.deletes_finished) == (0, 1)
    moved = f"deleted/{failed.temp_key}"
    assert state.store.data_keys() == [moved] and state.is_tombstone(failed.temp_key)
    assert (
        state.store.client.get_object(Bucket=state.store.bucket_name, Key=moved)["Body"].read()
        == CSV
    )
    report, _ = cleanup(now=later)
    assert report.strays_removed == 1 and state.store.keys() == [moved]
    assert_consistent(state.store.block, now=later)


def test_an_ingested_uploads_tombstone_is_removed_once_its_urls_expired(
    state: LifecycleState,
) -> None:
    confirmed = state.confirmed_upload(VersionStatus.PENDING)
    assert ingest_dataset(str(confirmed.version_id)) == "ready"
    assert state.is_tombstone(confirmed.temp_key)
    report, _ = cleanup()  # the upload's URL may still be valid: its key stays occupied
    assert state.is_tombstone(confirmed.temp_key)
    assert report.strays_removed == 0
    report, _ = cleanup(now=datetime.now(UTC) + LATER)
    assert state.store.keys("uploads/temp/") == []
    assert state.store.keys() == [state.version(confirmed.version_id).parquet_key]
    assert report.strays_removed == 1


@default_store_only
def test_an_ingested_uploads_own_bytes_left_behind_also_stay_until_its_urls_expired(
    state: LifecycleState,
) -> None:
    """Its own bytes (left by an ingestion that stopped after recording) keep the key occupied
    too, and go once the URLs expired."""
    confirmed = state.confirmed_upload(VersionStatus.PENDING)
    assert ingest_dataset(str(confirmed.version_id)) == "ready"
    state.put(confirmed.temp_key)
    cleanup()
    assert state.store.keys("uploads/temp/") == [confirmed.temp_key]  # the bytes, kept
    assert not state.is_tombstone(confirmed.temp_key)
    report, _ = cleanup(now=datetime.now(UTC) + LATER)
    assert state.store.keys("uploads/temp/") == []
    assert report.strays_removed == 1


@default_store_only
def test_a_rerun_of_a_ready_version_frees_its_key_once_the_urls_expired(
    state: LifecycleState,
) -> None:
    """Bytes an ingestion left at the temp key after recording, its URLs expired since: the
    re-run frees the key (the rule of every used upload key), leaving no tombstone behind."""
    confirmed = state.confirmed_upload(VersionStatus.PENDING)
    assert ingest_dataset(str(confirmed.version_id)) == "ready"
    state.put(confirmed.temp_key)
    state.set_upload(confirmed.upload_id, expires_at=datetime.now(UTC) - timedelta(hours=2))
    assert ingest_dataset(str(confirmed.version_id)) == "ready"
    assert state.store.keys("uploads/temp/") == []
    assert_consistent(state.store.block)


@default_store_only
@pytest.mark.parametrize("closed_as", [UploadStatus.ABORTED, UploadStatus.REJECTED])
def test_a_stray_temp_object_of_a_closed_upload_is_removed(
    state: LifecycleState, closed_as: UploadStatus
) -> None:
    upload = state.pending_upload(expired=False)
    with catalog_for(state.url).session() as session:
        assert release_upload(session, upload.upload_id, closed_as)
    report, _ = cleanup()
    assert state.store.keys() == [upload.temp_key]  # kept while its URLs may be valid
    assert report.strays_removed == 0
    report, _ = cleanup(now=datetime.now(UTC) + LATER)
    assert state.store.keys() == []
    assert report.strays_removed == 1


def test_an_object_no_upload_names_is_removed_once_older_than_any_open_upload(
    state: LifecycleState,
) -> None:
    state.put("uploads/temp/not-an-upload.csv")
    cleanup()
    assert state.store.keys() == ["uploads/temp/not-an-upload.csv"]
    report, _ = cleanup(now=datetime.now(UTC) + LATER)
    assert state.store.keys() == []
    assert report.strays_removed == 1


@default_store_only
def test_a_pending_version_without_a_run_gets_a_run_of_the_ingest_deployment(
    state: LifecycleState, ingest_deployment: str
) -> None:
    confirmed = state.confirmed_upload(VersionStatus.PENDING, run_id=None)
    report, _ = cleanup(now=datetime.now(UTC) + SETTLED)
    run = flow_run(state.version(confirmed.version_id).flow_run_id)
    assert str(run.deployment_id) == ingest_deployment
    assert run.parameters == {"version_id": confirmed.version_id, "unfinished_only": True}
    assert run.state is not None and not run.state.is_final()
    assert report.ingestions_restarted == 1


def _announced(upload_id: str, timeout: float = 30.0) -> list[dict[str, Any]]:
    resource = f"automl.upload.{upload_id}"
    return find_events(
        UPLOAD_CONFIRMED, lambda e: e["resource"]["prefect.resource.id"] == resource, timeout
    )


@default_store_only
def test_a_version_whose_confirm_never_started_its_run_is_announced_once(
    state: LifecycleState,
) -> None:
    """The API stopped after committing the version, before creating the run: the run cleanup
    starts is announced in its place (`automl.upload.confirmed`), and never again."""
    confirmed = state.confirmed_upload(VersionStatus.PENDING, run_id=None)
    cleanup(now=datetime.now(UTC) + SETTLED)
    first_run = state.version(confirmed.version_id).flow_run_id
    [event] = _announced(confirmed.upload_id)
    assert event["payload"]["flow_run_id"] == first_run

    with get_client(sync_client=True) as client:  # that run crashed: cleanup starts another
        client.set_flow_run_state(UUID(str(first_run)), Crashed(), force=True)
    sentinel = state.confirmed_upload(VersionStatus.PENDING, run_id=None)
    report, _ = cleanup(now=datetime.now(UTC) + SETTLED)
    assert report.ingestions_restarted == 2
    assert state.version(confirmed.version_id).flow_run_id != first_run
    assert _announced(sentinel.upload_id)  # events are stored in order: the check is settled
    assert len(_announced(confirmed.upload_id, timeout=0)) == 1


@default_store_only
def test_a_run_whose_confirm_stopped_before_announcing_is_announced_once(
    state: LifecycleState,
) -> None:
    """The API created and recorded the run, then stopped before claiming the announcement:
    cleanup announces the recorded run (`automl.upload.confirmed`), and never again."""
    confirmed = state.confirmed_upload(VersionStatus.PENDING)
    run_id = start_ingestion(str(confirmed.version_id))  # as confirm does; nothing runs it
    state.set_version(confirmed.version_id, flow_run_id=run_id)
    report, _ = cleanup(now=datetime.now(UTC) + SETTLED)
    [event] = _announced(confirmed.upload_id)
    assert event["payload"]["flow_run_id"] == run_id
    assert (report.uploads_announced, report.ingestions_restarted) == (1, 0)
    again, _ = cleanup(now=datetime.now(UTC) + SETTLED)
    assert again.uploads_announced == 0
    assert state.upload(confirmed.upload_id).confirmed_at is not None


@default_store_only
def test_a_pending_version_with_a_scheduled_run_is_left_alone(state: LifecycleState) -> None:
    confirmed = state.confirmed_upload(VersionStatus.PENDING)
    run_id = start_ingestion(str(confirmed.version_id))  # as confirm does; nothing runs it
    state.set_version(confirmed.version_id, flow_run_id=run_id)
    report, _ = cleanup(now=datetime.now(UTC) + SETTLED)
    assert state.version(confirmed.version_id).flow_run_id == run_id
    assert report.ingestions_restarted == 0


@default_store_only
def test_a_version_whose_run_crashed_gets_a_new_run(
    state: LifecycleState, ingest_deployment: str
) -> None:
    confirmed = state.confirmed_upload(VersionStatus.PENDING)
    crashed_id = start_ingestion(str(confirmed.version_id))
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(UUID(crashed_id), Crashed(), force=True)
    state.set_version(confirmed.version_id, status=VersionStatus.INGESTING, flow_run_id=crashed_id)

    report, _ = cleanup(now=datetime.now(UTC) + SETTLED)
    new_id = state.version(confirmed.version_id).flow_run_id
    assert new_id not in (None, crashed_id)  # Prefect would answer the old key with the old run
    run = flow_run(new_id)
    assert str(run.deployment_id) == ingest_deployment
    assert run.parameters == {"version_id": confirmed.version_id, "unfinished_only": True}
    assert run.state is not None and not run.state.is_final()
    assert report.ingestions_restarted == 1

    again, _ = cleanup(now=datetime.now(UTC) + SETTLED)  # the new run is live: left alone
    assert state.version(confirmed.version_id).flow_run_id == new_id
    assert again.ingestions_restarted == 0


@pytest.mark.e2e  # a heavy proof (over 5 s): several flow runs end to end
@default_store_only
def test_a_version_whose_runs_keep_crashing_is_failed_and_leaves_no_parquet_file(
    state: LifecycleState,
) -> None:
    confirmed = state.confirmed_upload(VersionStatus.PENDING)
    for _ in range(MAX_INGESTION_RUNS):
        cleanup(now=datetime.now(UTC) + SETTLED)
        run_id = state.version(confirmed.version_id).flow_run_id
        assert run_id is not None
        with get_client(sync_client=True) as client:
            client.set_flow_run_state(UUID(run_id), Crashed(), force=True)
    state.put(state.version(confirmed.version_id).parquet_key)  # a crashed run uploaded it
    report, _ = cleanup(now=datetime.now(UTC) + SETTLED)
    version = state.version(confirmed.version_id)
    assert version.status == "failed"
    assert version.error is not None and f"after {MAX_INGESTION_RUNS} runs" in version.error
    assert state.upload(confirmed.upload_id).reserved_bytes == 0
    assert state.store.keys() == [confirmed.temp_key]  # kept for inspection, as on any failure
    assert (report.ingestions_restarted, report.ingestions_given_up) == (0, 1)
    assert_consistent(state.store.block)  # no Parquet file left behind


@default_store_only
def test_a_version_just_confirmed_is_left_to_its_confirm(state: LifecycleState) -> None:
    confirmed = state.confirmed_upload(VersionStatus.PENDING, run_id=None)
    report, _ = cleanup()
    assert state.version(confirmed.version_id).flow_run_id is None
    assert report.ingestions_restarted == 0


@default_store_only
def test_the_run_reports_its_counts_as_an_artifact(state: LifecycleState) -> None:
    state.pending_upload(expired=True)
    state.pending_multipart_upload(expired=True)
    state.put("uploads/temp/not-an-upload.csv")
    report, final = cleanup(now=datetime.now(UTC) + LATER)
    assert report == CleanupReport(
        expired_uploads=2,
        temp_objects_deleted=1,
        multipart_aborted=1,
        strays_removed=1,
        ingestions_restarted=0,
        ingestions_given_up=0,
    )
    markdown = run_artifact(final, "cleanup-stale-uploads")
    for row in (
        "| expired uploads | 2 |",
        "| temp objects deleted | 1 |",
        "| multipart aborted | 1 |",
        "| strays removed | 1 |",
        "| ingestions restarted | 0 |",
    ):
        assert row in markdown
