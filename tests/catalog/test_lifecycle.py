"""The lifecycle flows' catalog queries, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalog.confirmations import lock_upload
from catalog.database import Catalog
from catalog.datasets import create_upload, create_version, mark_failed
from catalog.lifecycle import (
    expire_stale_uploads,
    mark_upload_purged,
    stray_temp_objects,
    unowned_multipart_uploads,
)
from catalog.tables import DatasetVersion, StoredObject, Upload
from catalog.uploads import committed_bytes, release_upload
from core.listings import ListedObject, OpenMultipart
from core.statuses import ObjectState, UploadStatus, VersionStatus

pytestmark = pytest.mark.catalog_users(alice="free")

NOW = datetime.now(UTC)
LONG_AGO = NOW - timedelta(days=60)
URLS_EXPIRED = timedelta(hours=2)  # past the test uploads' `expires_at`


def _upload(catalog: Catalog, expires_in: timedelta) -> tuple[str, str]:
    with catalog.session() as session:
        upload = create_upload(session, "alice", "data.csv", 1000, NOW + expires_in)
        return upload.id, upload.temp_key


def test_only_pending_uploads_past_their_window_are_expired(catalog: Catalog) -> None:
    stale_id, stale_key = _upload(catalog, timedelta(minutes=-1))
    open_id, _ = _upload(catalog, timedelta(hours=1))
    with catalog.session() as session:
        [closed] = expire_stale_uploads(session, NOW)
        assert (closed.upload_id, closed.temp_key) == (stale_id, stale_key)
        assert committed_bytes(session, "alice", NOW - timedelta(hours=2)) == 1000
    with catalog.session() as session:
        assert expire_stale_uploads(session, NOW) == []  # idempotent
        stale = session.get(Upload, stale_id)
        assert stale is not None and (stale.status, stale.reserved_bytes) == ("expired", 0)
        assert session.get(Upload, open_id).status == "pending"  # type: ignore[union-attr]


def test_an_upload_confirmed_first_is_not_expired(catalog: Catalog) -> None:
    upload_id, _ = _upload(catalog, timedelta(minutes=-1))
    with catalog.session() as session:  # a confirm that locked and confirmed it first
        lock_upload(session, upload_id)
        create_version(session, upload_id, "sales")
    with catalog.session() as session:
        assert expire_stale_uploads(session, NOW) == []
        assert session.get(Upload, upload_id).status == "confirmed"  # type: ignore[union-attr]


def test_strays_are_objects_of_closed_uploads_and_old_unknown_ones(catalog: Catalog) -> None:
    aborted_id, aborted_key = _upload(catalog, timedelta(hours=1))
    _, pending_key = _upload(catalog, timedelta(hours=1))
    failed_id, failed_key = _upload(catalog, timedelta(hours=1))
    with catalog.session() as session:
        release_upload(session, aborted_id)
        version = create_version(session, failed_id, "sales")
        session.flush()
        mark_failed(session, version.id, "bad file")
    objects = [
        ListedObject(aborted_key, NOW),
        ListedObject(pending_key, LONG_AGO),
        ListedObject(failed_key, LONG_AGO),
        ListedObject("uploads/temp/old-unknown.csv", LONG_AGO),
        ListedObject("uploads/temp/new-unknown.csv", NOW),
    ]
    with catalog.session() as session:  # once the aborted upload's URLs expired
        strays = stray_temp_objects(session, objects, NOW - timedelta(days=2), NOW + URLS_EXPIRED)
    assert strays == [aborted_key, "uploads/temp/old-unknown.csv"]


@pytest.mark.parametrize("closed_as", ["ingested", "aborted", "rejected", "purged"])
def test_a_closed_uploads_key_stays_occupied_until_its_urls_expired(
    catalog: Catalog, closed_as: str
) -> None:
    """Its object (a tombstone) keeps the presigned URL, which signs If-None-Match: *, refused."""
    upload_id, key = _upload(catalog, timedelta(hours=1))
    with catalog.session() as session:
        upload = session.get(Upload, upload_id)
        assert upload is not None
        upload.status = UploadStatus(closed_as)
    objects = [ListedObject(key, LONG_AGO)]
    with catalog.session() as session:
        assert stray_temp_objects(session, objects, NOW - timedelta(days=2), NOW) == []
        assert stray_temp_objects(session, objects, NOW, NOW + timedelta(hours=1)) == [key]


def test_a_failed_uploads_key_is_freed_after_its_urls_expired_only_once_its_version_is_deleted(
    catalog: Catalog,
) -> None:
    upload_id, key = _upload(catalog, timedelta(hours=1))
    with catalog.session() as session:
        version = create_version(session, upload_id, "sales")
        session.flush()
        mark_failed(session, version.id, "bad file")
        version_id = version.id
    objects, later = [ListedObject(key, LONG_AGO)], NOW + URLS_EXPIRED
    with catalog.session() as session:  # kept for inspection until purge-deleted
        assert stray_temp_objects(session, objects, NOW, later) == []
    with catalog.session() as session:  # the delete is recorded: the kept bytes are not moved yet
        session.get(DatasetVersion, version_id).deleted_at = NOW  # type: ignore[union-attr]
        session.get(StoredObject, key).state = ObjectState.DELETING  # type: ignore[union-attr]
    with catalog.session() as session:
        assert stray_temp_objects(session, objects, NOW, later) == []  # the only copy
    with catalog.session() as session:  # moved under deleted/: a tombstone holds the key
        session.get(StoredObject, key).state = ObjectState.DELETED  # type: ignore[union-attr]
    tombstone = [ListedObject(key, LONG_AGO, size=0)]
    with catalog.session() as session:
        assert stray_temp_objects(session, tombstone, NOW, NOW) == []  # its URL may be valid
        assert stray_temp_objects(session, tombstone, NOW, later) == [key]
        bytes_left = [ListedObject(key, LONG_AGO, size=5)]  # not a tombstone: never removed
        assert stray_temp_objects(session, bytes_left, NOW, later) == []


def test_a_multipart_upload_whose_key_a_pending_upload_holds_is_never_unowned(
    catalog: Catalog,
) -> None:
    _, pending_key = _upload(catalog, timedelta(hours=1))
    uploads = [
        OpenMultipart(pending_key, "not-yet-recorded", LONG_AGO),
        OpenMultipart("uploads/temp/gone.csv", "orphan", LONG_AGO),
        OpenMultipart("uploads/temp/young.csv", "young", NOW),
    ]
    with catalog.session() as session:
        unowned = unowned_multipart_uploads(session, uploads, NOW - timedelta(days=2))
    assert [u.multipart_upload_id for u in unowned] == ["orphan"]


def test_a_failed_upload_is_purged_only_while_its_version_is_failed(catalog: Catalog) -> None:
    upload_id, _ = _upload(catalog, timedelta(hours=1))
    with catalog.session() as session:
        version = create_version(session, upload_id, "sales")
        session.flush()
        mark_failed(session, version.id, "bad file")
        version_id = version.id
    with catalog.session() as session:
        session.get(DatasetVersion, version_id).status = VersionStatus.INGESTING  # type: ignore[union-attr]
    with catalog.session() as session:
        assert not mark_upload_purged(session, upload_id)
        session.get(DatasetVersion, version_id).status = VersionStatus.FAILED  # type: ignore[union-attr]
    with catalog.session() as session:
        assert mark_upload_purged(session, upload_id)
        assert not mark_upload_purged(session, upload_id)
        assert session.get(Upload, upload_id).status == "purged"  # type: ignore[union-attr]
