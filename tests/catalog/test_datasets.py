"""Uploads, versions and the ingestion state changes, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from catalog.database import Catalog
from catalog.datasets import (
    IngestionOutcome,
    create_upload,
    create_version,
    ingestion_target,
    mark_failed,
    mark_ingesting,
    mark_ready,
)
from catalog.tables import Upload, User
from core.errors import InvalidInputError, InvalidKeyPartError, NotFoundError

pytestmark = pytest.mark.catalog_users(alice="free", bob="free")

OUTCOME = IngestionOutcome("a" * 64, "b" * 64, 700, 10, 2, {"row_count": 10})


def _pending_version(catalog: Catalog, user: str = "alice") -> tuple[str, str]:
    expires = datetime.now(UTC) + timedelta(hours=1)
    with catalog.session() as session:
        upload = create_upload(session, user, "Sales 2024.CSV", 1000, expires)
        version = create_version(session, upload.id, "sales")
        return upload.id, version.id


def test_an_upload_reserves_its_size_under_a_server_generated_temp_key(catalog: Catalog) -> None:
    upload_id, version_id = _pending_version(catalog)
    with catalog.session() as session:
        target = ingestion_target(session, version_id)
        upload = session.get(Upload, upload_id)
        assert upload is not None and upload.reserved_bytes == 1000
    assert target.temp_key == f"uploads/temp/{upload_id}.csv"
    assert target.parquet_key == f"datasets/alice/{target.dataset_id}/{version_id}.parquet"
    assert target.status == "pending"


def test_ready_turns_the_reservation_into_used_bytes_once(catalog: Catalog) -> None:
    upload_id, version_id = _pending_version(catalog)
    with catalog.session() as session:
        assert mark_ingesting(session, version_id, "run-1")
        assert mark_ready(session, version_id, OUTCOME)
    with catalog.session() as session:
        assert not mark_ready(session, version_id, OUTCOME)
        assert not mark_ingesting(session, version_id, "run-2")
    with catalog.session() as session:
        user, upload = session.get(User, "alice"), session.get(Upload, upload_id)
        assert user is not None and upload is not None
        assert (user.used_bytes, upload.reserved_bytes) == (700, 0)
        assert ingestion_target(session, version_id).status == "ready"


def test_failed_releases_the_reservation_without_using_bytes(catalog: Catalog) -> None:
    upload_id, version_id = _pending_version(catalog)
    with catalog.session() as session:
        mark_ingesting(session, version_id, None)
        mark_failed(session, version_id, "row 3 has 2 fields, expected 3")
    with catalog.session() as session:
        user, upload = session.get(User, "alice"), session.get(Upload, upload_id)
        assert user is not None and upload is not None
        assert (user.used_bytes, upload.reserved_bytes) == (0, 0)
        assert ingestion_target(session, version_id).status == "failed"


def test_a_new_version_of_another_users_dataset_is_not_found(catalog: Catalog) -> None:
    _, version_id = _pending_version(catalog, "alice")
    with catalog.session() as session:
        dataset_id = ingestion_target(session, version_id).dataset_id
    expires = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(NotFoundError), catalog.session() as session:
        upload = create_upload(session, "bob", "b.csv", 10, expires)
        create_version(session, upload.id, "x", dataset_id=dataset_id)


def test_bad_names_are_refused(catalog: Catalog) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(InvalidInputError), catalog.session() as session:
        create_upload(session, "alice", "notes.txt", 10, expires)
    with pytest.raises(InvalidKeyPartError), catalog.session() as session:
        upload = create_upload(session, "alice", "a.csv", 10, expires)
        create_version(session, upload.id, "../../escape")


def test_a_restart_takes_only_an_unfinished_version_an_operators_run_a_failed_one_too(
    catalog: Catalog,
) -> None:
    """A run cleanup started (unfinished_only) never takes over a version that ended failed
    meanwhile (by the failure hook of the run it replaces); a run started again by hand does."""
    _, version_id = _pending_version(catalog)
    with catalog.session() as session:
        assert mark_ingesting(session, version_id, "run-1", unfinished_only=True)  # pending
        assert mark_ingesting(session, version_id, "run-2", unfinished_only=True)  # ingesting
        mark_failed(session, version_id, "ingestion took longer than its time limit")
    with catalog.session() as session:
        assert not mark_ingesting(session, version_id, "run-3", unfinished_only=True)
        target = ingestion_target(session, version_id)
        assert (target.status, target.flow_run_id) == ("failed", "run-2")
        assert mark_ingesting(session, version_id, "run-4")
        assert ingestion_target(session, version_id).status == "ingesting"
