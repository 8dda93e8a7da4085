"""Which version a comparison reads by default, and the refusal of one without a profile."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from catalog.database import Catalog
from catalog.datasets import create_upload, create_version
from catalog.tables import DatasetVersion
from catalog.version_comparison import compare_versions, version_before
from core.errors import ConflictError
from core.statuses import VersionStatus
from core.version_changes import RowCountChange

pytestmark = pytest.mark.catalog_users(alice="free")

START = datetime(2026, 12, 1, tzinfo=UTC)


def _profile(rows: int) -> dict[str, Any]:
    return {
        "row_count": rows,
        "column_count": 1,
        "columns": [{"name": "id", "type": "Int64", "null_count": 0}],
        "notes": [],
    }


def _versions(catalog: Catalog, *states: VersionStatus) -> list[str]:
    """Versions of one dataset, a minute apart, in `states`; the ready ones profiled with
    10, 20, 30... rows by position."""
    ids: list[str] = []
    dataset_id: str | None = None
    with catalog.session() as session:
        for position, state in enumerate(states):
            upload = create_upload(session, "alice", "a.csv", 10, START + timedelta(days=1))
            version = create_version(session, upload.id, "sales", dataset_id)
            dataset_id = version.dataset_id
            version.created_at = START + timedelta(minutes=position)
            version.status = state
            if state == VersionStatus.READY:
                version.profile = _profile(10 * (position + 1))
            ids.append(version.id)
    return ids


def _before(catalog: Catalog, version_id: str) -> str | None:
    with catalog.session() as session:
        version = session.get(DatasetVersion, version_id)
        assert version is not None
        found = version_before(session, version)
        return found.id if found is not None else None


def test_the_version_before_is_the_latest_earlier_ready_one(catalog: Catalog) -> None:
    ready, _failed, _ingesting, newest, later = _versions(
        catalog,
        VersionStatus.READY,
        VersionStatus.FAILED,
        VersionStatus.INGESTING,
        VersionStatus.READY,
        VersionStatus.READY,
    )
    assert _before(catalog, ready) is None  # a first version
    assert _before(catalog, newest) == ready  # failed and ingesting ones have no profile
    assert _before(catalog, later) == newest  # never a later one, nor itself


def test_a_deleted_version_is_never_the_one_before(catalog: Catalog) -> None:
    first, second, third = _versions(catalog, *[VersionStatus.READY] * 3)
    with catalog.session() as session:
        deleted = session.get(DatasetVersion, second)
        assert deleted is not None
        deleted.deleted_at = START + timedelta(hours=1)
    assert _before(catalog, third) == first


def test_versions_created_at_the_same_instant_are_ordered_by_id(catalog: Catalog) -> None:
    ids = _versions(catalog, VersionStatus.READY, VersionStatus.READY)
    with catalog.session() as session:
        for version_id in ids:
            version = session.get(DatasetVersion, version_id)
            assert version is not None
            version.created_at = START
    low, high = sorted(ids)
    assert (_before(catalog, high), _before(catalog, low)) == (low, None)


def test_a_comparison_with_a_version_without_profile_is_a_conflict(catalog: Catalog) -> None:
    ready, pending = _versions(catalog, VersionStatus.READY, VersionStatus.PENDING)
    with catalog.session() as session:
        done = session.get(DatasetVersion, ready)
        waiting = session.get(DatasetVersion, pending)
        assert done is not None and waiting is not None
        with pytest.raises(ConflictError, match="is pending, not ready"):
            compare_versions(waiting, done, 0.05)
        with pytest.raises(ConflictError, match="is pending, not ready"):
            compare_versions(done, waiting, 0.05)
        compared = compare_versions(done, None, 0.05)
    assert (compared.version_id, compared.since_version_id) == (ready, None)
    assert compared.changes.row_count == RowCountChange(None, 10, None)
