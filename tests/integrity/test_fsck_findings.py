"""Each difference fsck knows, made by tampering with the bucket or the catalog directly, is
reported with its kind, key and record; legitimate passing states are not differences."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from catalog.deletion import mark_dataset_deleted
from catalog.tables import DatasetVersion, Job, StoredObject, Upload, User
from core.keys import dataset_key, deleted_key, new_id
from integrity.findings import Finding, FindingKind, FsckReport
from tests.support.stored_state import PARQUET, StoredState
from tests.support.stores import default_store_only

LATER = timedelta(days=3)  # past every time limit


def kinds(report: FsckReport) -> list[tuple[FindingKind, str | None]]:
    return sorted((f.kind, f.key) for f in report.findings)


def only(report: FsckReport, kind: FindingKind) -> Finding:
    [finding] = [f for f in report.findings if f.kind == kind]
    return finding


def test_a_consistent_state_is_clean(state: StoredState) -> None:
    version = state.ready_version()
    state.published_job(version)
    state.failed_version()
    report = state.fsck(deep=True)
    assert report.findings == [] and report.clean
    assert report.checked["objects datasets/"] == 1
    assert report.checked["objects uploads/temp/"] == 2  # a tombstone, a kept upload
    assert report.checked["objects models/"] == 2 and report.checked["objects plots/"] == 2
    assert report.checked["objects hashed"] == 1
    assert report.checked["rows stored_objects"] == 6


def test_an_object_no_record_names_is_unrecorded_and_left(state: StoredState) -> None:
    version = state.ready_version()
    stray = dataset_key("alice", version.dataset_id, new_id())
    state.put(stray, b"orphan")
    report = state.fsck()
    finding = only(report, FindingKind.UNRECORDED_OBJECT)
    assert (finding.key, finding.record, finding.repairable) == (stray, None, False)
    assert "6-byte object" in finding.detail
    repaired = state.fsck(repair=True)
    assert repaired.repaired == [] and kinds(repaired) == kinds(report)
    assert stray in state.store.keys("datasets/")


@default_store_only
def test_a_failed_versions_parquet_file_is_moved_to_the_users_trash(state: StoredState) -> None:
    failed = state.failed_version()
    state.put(failed.parquet_key, b"left by a failed run")
    finding = only(state.fsck(), FindingKind.UNRECORDED_OBJECT)
    assert (finding.key, finding.record) == (failed.parquet_key, f"version {failed.version_id}")
    assert finding.user_id == "alice" and finding.repairable
    report = state.fsck(repair=True)
    assert [f.key for f in report.repaired] == [failed.parquet_key] and report.clean
    assert state.store.keys("datasets/") == []
    assert state.store.keys("deleted/") == [deleted_key(failed.parquet_key)]
    with state.catalog.session() as session:
        row = session.get(StoredObject, failed.parquet_key)
        assert row is not None and (row.state, row.size_bytes) == ("deleted", 20)
    assert state.fsck().clean


def test_a_recorded_object_that_is_gone_is_missing(state: StoredState) -> None:
    version = state.ready_version()
    state.remove(version.parquet_key)
    report = state.fsck()
    missing = only(report, FindingKind.MISSING_OBJECT)
    assert (missing.key, missing.record) == (version.parquet_key, f"version {version.version_id}")
    assert not missing.repairable
    usage = only(report, FindingKind.USAGE_MISMATCH)
    assert usage.user_id == "alice" and str(len(PARQUET)) in usage.detail
    assert kinds(state.fsck(repair=True)) == kinds(report)  # never "repaired" away


@default_store_only
def test_a_size_that_differs_is_reported(state: StoredState) -> None:
    version = state.ready_version()
    state.put(version.parquet_key, PARQUET + b"more")
    finding = only(state.fsck(), FindingKind.SIZE_MISMATCH)
    assert finding.key == version.parquet_key
    assert f"{len(PARQUET) + 4} bytes" in finding.detail and not finding.repairable


def test_a_sha256_that_differs_is_found_by_deep_only(state: StoredState) -> None:
    version = state.ready_version()
    swapped = bytes(reversed(PARQUET))
    state.put(version.parquet_key, swapped)
    assert state.fsck().clean  # same size: only the hash tells
    finding = only(state.fsck(deep=True), FindingKind.SHA256_MISMATCH)
    assert finding.key == version.parquet_key
    assert hashlib.sha256(swapped).hexdigest() in finding.detail


@default_store_only
def test_a_moved_copy_is_hashed_too(state: StoredState) -> None:
    version = state.ready_version()
    with state.catalog.session() as session:
        mark_dataset_deleted(session, "alice", version.dataset_id)
        session.execute(
            sa.update(StoredObject).values(state="deleted").where(StoredObject.state == "deleting")
        )
    state.put(deleted_key(version.parquet_key), bytes(reversed(PARQUET)))
    state.remove(version.parquet_key)
    assert state.fsck().clean
    assert only(state.fsck(deep=True), FindingKind.SHA256_MISMATCH).key == deleted_key(
        version.parquet_key
    )


def test_a_tombstone_of_an_expired_upload_is_a_stray_removed_by_repair(
    state: StoredState,
) -> None:
    version = state.ready_version()
    assert state.fsck(now=datetime.now(UTC) + timedelta(minutes=90)).clean  # within the grace
    report = state.fsck(now=datetime.now(UTC) + LATER)
    finding = only(report, FindingKind.STRAY_TEMP_OBJECT)
    assert (finding.key, finding.record) == (version.temp_key, f"upload {version.upload_id}")
    assert finding.repairable
    repaired = state.fsck(now=datetime.now(UTC) + LATER, repair=True)
    assert [f.kind for f in repaired.repaired] == [FindingKind.STRAY_TEMP_OBJECT]
    assert repaired.clean and state.store.keys("uploads/temp/") == []


@default_store_only
def test_a_kept_upload_replaced_by_a_tombstone_is_missing(state: StoredState) -> None:
    failed = state.failed_version()
    from blocks.objects import write_tombstone

    write_tombstone(state.store.block, failed.temp_key)
    finding = only(state.fsck(), FindingKind.MISSING_OBJECT)
    assert (finding.key, finding.record) == (failed.temp_key, f"upload {failed.upload_id}")
    assert "tombstone" in finding.detail


@default_store_only
def test_a_multipart_upload_no_upload_owns_is_aborted(state: StoredState) -> None:
    client, name = state.store.client, state.store.bucket_name
    key = f"uploads/temp/{new_id()}.csv"
    upload_id = client.create_multipart_upload(Bucket=name, Key=key)["UploadId"]
    report = state.fsck(now=datetime.now(UTC) + LATER)
    finding = only(report, FindingKind.STRAY_MULTIPART)
    assert (finding.key, finding.record) == (key, f"multipart {upload_id}")
    assert state.fsck(now=datetime.now(UTC) + LATER, repair=True).clean
    assert client.list_multipart_uploads(Bucket=name).get("Uploads", []) == []


@default_store_only
def test_a_ready_version_missing_from_the_ledger_is_a_ledger_mismatch(
    state_on_each_database: StoredState,
) -> None:
    """On each catalog database (SQLite, PostgreSQL)."""
    state = state_on_each_database
    version = state.ready_version()
    with state.catalog.session() as session:
        session.execute(sa.delete(StoredObject).where(StoredObject.key == version.parquet_key))
    report = state.fsck()
    finding = only(report, FindingKind.LEDGER_MISMATCH)
    assert (finding.key, finding.record) == (version.parquet_key, f"version {version.version_id}")
    assert only(report, FindingKind.USED_BYTES_MISMATCH).user_id == "alice"
    # The file itself is the version's: never taken for an unrecorded object to move away.
    assert FindingKind.UNRECORDED_OBJECT not in [f.kind for f in report.findings]
    state.fsck(repair=True)
    assert state.store.keys("datasets/") == [version.parquet_key]


@default_store_only
def test_a_published_model_missing_from_the_ledger_is_a_ledger_mismatch(
    state_on_each_database: StoredState,
) -> None:
    """On each catalog database (SQLite, PostgreSQL)."""
    state = state_on_each_database
    job_id = state.published_job(state.ready_version())
    with state.catalog.session() as session:
        session.execute(sa.delete(StoredObject).where(StoredObject.key.endswith("model.joblib")))
    finding = only(state.fsck(), FindingKind.LEDGER_MISMATCH)
    assert finding.record == f"job {job_id}" and "1 of its 2 files" in finding.detail


def test_files_of_live_records_missing_from_the_ledger_are_recorded_by_repair(
    state_on_each_database: StoredState,
) -> None:
    """As an install upgraded to the ledger leaves them (models and plots made before it were
    never recorded), or a lost recording: the repair records each file a live record owns, in
    use, with the size the store gives, and fsck is clean after. On SQLite and PostgreSQL."""
    state = state_on_each_database
    version = state.ready_version()
    job_id = state.published_job(version)
    with state.catalog.session() as session:
        before = sorted(session.execute(sa.select(StoredObject.key, StoredObject.size_bytes)))
        session.execute(sa.delete(StoredObject))
    later = datetime.now(UTC) + LATER  # the plots are old: no run may still record them
    found = state.fsck(now=later)
    assert {(f.kind, f.record) for f in found.findings if f.repairable} >= {
        (FindingKind.LEDGER_MISMATCH, f"version {version.version_id}"),
        (FindingKind.LEDGER_MISMATCH, f"job {job_id}"),
        (FindingKind.UNRECORDED_OBJECT, f"job {job_id}"),  # its plots
    }
    report = state.fsck(repair=True, now=later)
    assert report.clean, report.findings
    with state.catalog.session() as session:
        after = sorted(session.execute(sa.select(StoredObject.key, StoredObject.size_bytes)))
        states = set(session.execute(sa.select(StoredObject.state)).scalars())
    assert after == before and states == {"live"}
    assert state.store.keys("deleted/") == []  # recorded where they are, nothing moved


def test_a_used_bytes_counter_that_drifted_is_recomputed(
    state_on_each_database: StoredState,
) -> None:
    """On each catalog database (SQLite, PostgreSQL)."""
    state = state_on_each_database
    state.ready_version()
    with state.catalog.session() as session:
        session.execute(sa.update(User).values(used_bytes=12345))
    finding = only(state.fsck(), FindingKind.USED_BYTES_MISMATCH)
    assert finding.user_id == "alice" and finding.repairable and "12345" in finding.detail
    report = state.fsck(repair=True)
    assert [f.kind for f in report.repaired] == [FindingKind.USED_BYTES_MISMATCH]
    assert report.clean
    with state.catalog.session() as session:
        assert session.get(User, "alice").used_bytes == len(PARQUET)  # type: ignore[union-attr]


@default_store_only
def test_states_past_their_time_limits_are_stuck(state_on_each_database: StoredState) -> None:
    """On each catalog database (SQLite, PostgreSQL)."""
    state = state_on_each_database
    version = state.ready_version()
    job_id = state.published_job(version)
    pending = state._confirmed("alice", b"a,b\n1,2\n", None)  # waiting for its ingestion
    state.put(pending.temp_key, b"a,b\n1,2\n")
    long_ago = datetime.now(UTC) - LATER
    with state.catalog.session() as session:
        session.execute(
            sa.update(DatasetVersion)
            .where(DatasetVersion.id == pending.version_id)
            .values(status="ingesting", updated_at=long_ago)
        )
        session.execute(
            sa.update(Job).where(Job.id == job_id).values(status="running", updated_at=long_ago)
        )
    report = state.fsck()
    assert only(report, FindingKind.STUCK_VERSION).record == f"version {pending.version_id}"
    assert only(report, FindingKind.STUCK_JOB).record == f"job {job_id}"
    assert not any(f.repairable for f in report.findings)


@default_store_only
def test_an_upload_pending_past_its_expiry_is_expired_by_repair(
    state_on_each_database: StoredState,
) -> None:
    """On each catalog database (SQLite, PostgreSQL)."""
    state = state_on_each_database
    state.user()
    from catalog.datasets import create_upload

    with state.catalog.session() as session:
        upload = create_upload(
            session, "alice", "late.csv", 10, datetime.now(UTC) - timedelta(hours=2)
        )
        upload_id, temp_key = upload.id, upload.temp_key
    state.put(temp_key, b"0123456789")
    assert state.fsck(now=datetime.now(UTC) - timedelta(hours=1, minutes=30)).clean
    finding = only(state.fsck(), FindingKind.STUCK_UPLOAD)
    assert (finding.record, finding.key, finding.repairable) == (
        f"upload {upload_id}",
        temp_key,
        True,
    )
    report = state.fsck(repair=True)
    assert [f.kind for f in report.repaired] == [FindingKind.STUCK_UPLOAD] and report.clean
    with state.catalog.session() as session:
        assert session.get(Upload, upload_id).status == "expired"  # type: ignore[union-attr]
    assert state.store.keys("uploads/temp/") == []


def test_a_delete_left_half_way_is_stuck_and_finished_by_repair(
    state_on_each_database: StoredState,
) -> None:
    """On each catalog database (SQLite, PostgreSQL)."""
    state = state_on_each_database
    version = state.ready_version()
    state.published_job(version)
    failed = state.failed_version()
    with state.catalog.session() as session:
        assert mark_dataset_deleted(session, "alice", version.dataset_id) == 5
        assert mark_dataset_deleted(session, "alice", failed.dataset_id) == 1
    assert state.fsck().clean  # a delete in progress: its objects may still be at their keys
    later = datetime.now(UTC) + timedelta(minutes=90)  # the uploads' URLs not expired yet
    report = state.fsck(now=later)
    assert sorted(
        str(f.record) for f in report.findings if f.kind == FindingKind.STUCK_DELETE
    ) == sorted([f"dataset {version.dataset_id}", f"dataset {failed.dataset_id}"])
    repaired = state.fsck(now=later, repair=True)
    assert len(repaired.repaired) == 2 and repaired.clean
    assert state.store.keys("datasets/") == state.store.keys("models/") == []
    assert len(state.store.keys("deleted/")) == 6


@default_store_only
def test_an_object_of_a_delete_at_neither_place_is_missing(state: StoredState) -> None:
    version = state.ready_version()
    with state.catalog.session() as session:
        mark_dataset_deleted(session, "alice", version.dataset_id)
    state.remove(version.parquet_key)
    finding = only(state.fsck(), FindingKind.MISSING_OBJECT)
    assert finding.key == version.parquet_key and "being deleted" in finding.detail


@default_store_only
def test_an_upload_awaiting_ingestion_that_is_gone_is_missing(state: StoredState) -> None:
    waiting = state._confirmed("alice", b"a,b\n1,2\n", None)
    state.put(waiting.temp_key, b"a,b\n1,2\n")
    report = state.fsck()
    assert report.clean and report.checked["uploads awaiting ingestion"] == 1
    state.remove(waiting.temp_key)
    finding = only(state.fsck(), FindingKind.MISSING_OBJECT)
    assert (finding.key, finding.record) == (waiting.temp_key, f"version {waiting.version_id}")


def test_a_moved_kept_uploads_tombstone_is_a_stray_once_its_urls_expired(
    state: StoredState,
) -> None:
    failed = state.failed_version()
    with state.catalog.session() as session:
        mark_dataset_deleted(session, "alice", failed.dataset_id)
    report = state.fsck(now=datetime.now(UTC) + timedelta(minutes=90), repair=True)
    assert [f.kind for f in report.repaired] == [FindingKind.STUCK_DELETE] and report.clean
    assert state.store.keys("deleted/") == [deleted_key(failed.temp_key)]
    assert state.fsck().clean  # the tombstone keeps the key until the upload's URLs expired
    later = datetime.now(UTC) + LATER
    assert only(state.fsck(now=later), FindingKind.STRAY_TEMP_OBJECT).key == failed.temp_key
    assert state.fsck(now=later, repair=True).clean
    assert state.store.keys("uploads/temp/") == []


@default_store_only
def test_a_trash_row_that_outlived_its_purge_is_forgotten(state: StoredState) -> None:
    version = state.ready_version()
    with state.catalog.session() as session:
        mark_dataset_deleted(session, "alice", version.dataset_id)
    assert state.fsck(now=datetime.now(UTC) + timedelta(minutes=90), repair=True).clean
    moved = deleted_key(version.parquet_key)
    state.remove(moved)  # as a purge that stopped before forgetting the row leaves it
    finding = only(state.fsck(), FindingKind.MISSING_OBJECT)
    assert (finding.key, finding.repairable) == (moved, True)
    report = state.fsck(repair=True)
    assert [f.key for f in report.repaired] == [moved] and report.clean
    with state.catalog.session() as session:
        assert session.get(StoredObject, version.parquet_key) is None
