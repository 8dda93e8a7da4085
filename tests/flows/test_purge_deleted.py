"""The purge-deleted flow, for real against each store and the catalog.

Objects cannot be backdated at the store, so the tests move the flow's clock (`now`) instead.
What the stores answer (listings, object ages, deletes) is tested on each store; the retention
setting, the catalog's records and the artifact on the default store.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prefect.client.schemas.objects import State

from core.settings import get_settings
from core.statuses import VersionStatus
from flows.purge_deleted import PurgeReport, purge_deleted
from tests.support.consistency import assert_consistent
from tests.support.lifecycle import LifecycleState, run_artifact
from tests.support.stores import default_store_only

DELETED = "deleted/datasets/alice/d1/v1.parquet"
LIVE = "datasets/alice/d2/v2.parquet"


def purge(days_later: float, retention_days: int | None = None) -> tuple[PurgeReport, State[Any]]:
    now = datetime.now(UTC) + timedelta(days=days_later)
    final: State[Any] = purge_deleted(now=now, retention_days=retention_days, return_state=True)
    report = final.result()
    assert isinstance(report, PurgeReport)
    return report, final


def test_a_deleted_object_younger_than_the_retention_is_kept(state: LifecycleState) -> None:
    state.put(DELETED)
    report, _ = purge(days_later=29)
    assert state.store.keys() == [DELETED]
    assert (report.deleted_objects_purged, report.deleted_objects_kept) == (0, 1)


def test_a_deleted_object_older_than_the_retention_is_removed(state: LifecycleState) -> None:
    state.put(DELETED)
    state.put(LIVE)
    report, _ = purge(days_later=31)
    assert state.store.keys() == [LIVE]  # only under deleted/
    assert report.deleted_objects_purged == 1


@default_store_only
def test_the_retention_comes_from_automl_deleted_retention_days(
    state: LifecycleState, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOML_DELETED_RETENTION_DAYS", "7")
    get_settings.cache_clear()
    state.put(DELETED)
    purge(days_later=6)
    assert state.store.keys() == [DELETED]
    purge(days_later=8)
    assert state.store.keys() == []


def test_a_failed_versions_kept_upload_is_purged_after_the_retention(
    state: LifecycleState,
) -> None:
    failed = state.confirmed_upload(VersionStatus.FAILED)
    purge(days_later=29)
    assert state.store.keys() == [failed.temp_key]
    assert state.upload(failed.upload_id).status == "failed"
    report, _ = purge(days_later=31)
    assert state.store.keys() == []
    assert state.upload(failed.upload_id).status == "purged"
    assert state.version(failed.version_id).status == "failed"
    assert report.failed_uploads_purged == 1


@default_store_only
def test_a_kept_upload_purged_while_its_urls_are_valid_leaves_a_tombstone(
    state: LifecycleState,
) -> None:
    """A retention shorter than the URLs' lifetime: the key stays occupied (the URL answers
    412) until cleanup-stale-uploads removes the tombstone once the URLs expired."""
    failed = state.confirmed_upload(VersionStatus.FAILED)
    state.set_upload(failed.upload_id, expires_at=datetime.now(UTC) + timedelta(days=10))
    report, _ = purge(days_later=2, retention_days=1)
    assert state.store.keys() == [failed.temp_key]
    assert state.is_tombstone(failed.temp_key)
    assert state.upload(failed.upload_id).status == "purged"
    assert report.failed_uploads_purged == 1
    again, _ = purge(days_later=3, retention_days=1)  # a tombstone is not purged again
    assert again.failed_uploads_purged == 0


@default_store_only
def test_a_kept_upload_the_bucket_rule_removed_leaves_the_ledger(state: LifecycleState) -> None:
    """The bucket's lifecycle rule on uploads/temp/ removed the kept file first: the upload is
    purged and its bytes leave the quota (no longer charged for a file that is gone)."""
    failed = state.confirmed_upload(VersionStatus.FAILED)
    assert state.committed_bytes() > 0
    state.store.client.delete_object(Bucket=state.store.bucket_name, Key=failed.temp_key)
    report, _ = purge(days_later=1)
    assert state.upload(failed.upload_id).status == "purged"
    assert state.committed_bytes() == 0
    assert report.failed_uploads_purged == 1
    assert_consistent(state.store.block)


@default_store_only
def test_a_failed_version_being_redone_keeps_its_upload(state: LifecycleState) -> None:
    failed = state.confirmed_upload(VersionStatus.FAILED)
    state.set_version(failed.version_id, status=VersionStatus.INGESTING)  # a re-run claimed it
    report, _ = purge(days_later=31)
    assert state.store.keys() == [failed.temp_key]
    assert state.upload(failed.upload_id).status == "failed"
    assert report.failed_uploads_purged == 0


@default_store_only
def test_the_run_reports_its_counts_as_an_artifact(state: LifecycleState) -> None:
    state.put(DELETED)
    state.put("deleted/uploads/temp/u1.csv")
    state.confirmed_upload(VersionStatus.FAILED)
    report, final = purge(days_later=31)
    assert report == PurgeReport(
        deleted_objects_purged=2, deleted_objects_kept=0, failed_uploads_purged=1
    )
    markdown = run_artifact(final, "purge-deleted")
    assert "| deleted objects purged | 2 |" in markdown
    assert "| failed uploads purged | 1 |" in markdown
