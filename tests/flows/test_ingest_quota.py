"""Ingestion and the quota: the converted Parquet file is checked against the quota under the
user's lock before a byte is uploaded, and a version that ends failed leaves no Parquet file
behind. Against each store and the catalog."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from catalog.database import catalog_for
from catalog.tables import StoredObject, User
from core.settings import get_settings
from core.statuses import ObjectState, UploadStatus, VersionStatus
from flows.ingest_dataset import ingest_dataset
from tasks.failure_reasons import internal_failure_reason
from tests.support.ingestions import MakeIngestion

# One column of distinct integers: a few bytes of CSV, hundreds of bytes of Parquet.
TINY_CSV = b"a\n1\n2\n3\n"


def ledger() -> list[tuple[str, ObjectState, int]]:
    with catalog_for(get_settings().catalog_url).session() as session:
        rows = session.execute(
            select(StoredObject.key, StoredObject.state, StoredObject.size_bytes)
        ).all()
    return [tuple(row) for row in rows]  # type: ignore[misc]


def test_a_parquet_file_over_the_quota_fails_the_version_and_uploads_nothing(
    confirmed: MakeIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AUTOML_TIERS", '{"tiny": {"max_file_bytes": 100, "quota_bytes": 100}}')
    get_settings.cache_clear()
    ingestion = confirmed(TINY_CSV)
    with catalog_for(get_settings().catalog_url).session() as session:
        session.execute(update(User).where(User.id == "alice").values(tier="tiny"))
    state = ingest_dataset(ingestion.version_id, return_state=True)
    assert state.is_failed()
    version = ingestion.version()
    assert version.status == VersionStatus.FAILED
    assert version.error is not None
    assert version.error.startswith("the converted Parquet file is ")
    assert "of your 100-byte quota" in version.error
    assert ingestion.store.keys("datasets/") == []  # nothing was uploaded
    assert ingestion.store.keys() == [ingestion.temp_key]  # the upload, kept for inspection
    assert ingestion.upload().status == UploadStatus.FAILED
    assert ingestion.upload().reserved_bytes == 0
    assert ledger() == [(ingestion.temp_key, ObjectState.KEPT, len(TINY_CSV))]


def test_the_same_file_fits_a_quota_that_holds_its_parquet_size(
    confirmed: MakeIngestion,
) -> None:
    ingestion = confirmed(TINY_CSV)
    assert ingest_dataset(ingestion.version_id) == VersionStatus.READY
    [parquet] = ingestion.store.keys("datasets/")
    size = ingestion.store.client.head_object(Bucket=ingestion.store.bucket_name, Key=parquet)
    assert size["ContentLength"] > len(TINY_CSV)  # it re-encoded larger, and was charged so
    assert ledger() == [(parquet, ObjectState.LIVE, size["ContentLength"])]
    assert ingestion.upload().reserved_bytes == 0


def test_a_version_whose_record_fails_after_the_upload_leaves_no_parquet_file(
    confirmed: MakeIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    def record_lost(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("the catalog refused the record")

    monkeypatch.setattr("flows.ingest_dataset.record_ready", record_lost)
    ingestion = confirmed(TINY_CSV)
    assert ingest_dataset(ingestion.version_id, return_state=True).is_failed()
    assert ingestion.version().status == VersionStatus.FAILED
    # Not the user's input: the reason quotes the run, whose logs keep the error (issue 15).
    failed = ingestion.version()
    assert failed.error == internal_failure_reason("ingestion", failed.flow_run_id)
    assert "the catalog refused the record" not in failed.error
    assert ingestion.store.keys("datasets/") == []  # no orphan
    assert ledger() == [(ingestion.temp_key, ObjectState.KEPT, len(TINY_CSV))]
    monkeypatch.undo()
    assert ingest_dataset(ingestion.version_id) == VersionStatus.READY  # a re-run converts again
    assert len(ingestion.store.keys("datasets/")) == 1
    assert [state for _, state, _ in ledger()] == [ObjectState.LIVE]
