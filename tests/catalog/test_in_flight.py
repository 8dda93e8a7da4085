"""The limits of work in flight per user: what counts, and concurrent claims never exceeding
the limit (on SQLite and PostgreSQL)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from catalog.database import Catalog
from catalog.datasets import create_upload, create_version, mark_failed, mark_ingesting
from catalog.in_flight import (
    claim_ingestion_slot,
    claim_training_slot,
    ingestions_in_flight,
    training_jobs_in_flight,
)
from catalog.jobs import create_job, mark_job_failed, mark_running
from catalog.tables import DatasetVersion
from core.errors import TooManyInFlightError
from core.settings import Tier

pytestmark = pytest.mark.catalog_users(alice="free", bob="free")

LIMITED = Tier(
    max_file_bytes=1000,
    quota_bytes=10_000,
    max_ingestions_in_flight=3,
    max_training_jobs_in_flight=2,
)


def _uploaded(catalog: Catalog, user: str = "alice") -> str:
    with catalog.session() as session:
        return create_upload(session, user, "a.csv", 10, datetime.now(UTC) + timedelta(hours=1)).id


def _confirm_within_limit(catalog: Catalog, upload_id: str, user: str = "alice") -> str | None:
    """A confirm's transaction: the claim, then the version; None if refused."""
    try:
        with catalog.session() as session:
            claim_ingestion_slot(session, user, LIMITED)
            return create_version(session, upload_id, "sales").id
    except TooManyInFlightError as refused:
        assert refused.http_status == 429 and refused.retry_after_seconds > 0
        return None


def test_only_pending_and_ingesting_versions_of_the_user_count(catalog: Catalog) -> None:
    versions = [_confirm_within_limit(catalog, _uploaded(catalog)) for _ in range(3)]
    assert all(versions)
    _confirm_within_limit(catalog, _uploaded(catalog, "bob"), "bob")
    with catalog.session() as session:
        mark_ingesting(session, str(versions[0]), None)
        assert ingestions_in_flight(session, "alice") == 3
        assert ingestions_in_flight(session, "bob") == 1
    assert _confirm_within_limit(catalog, _uploaded(catalog)) is None
    with catalog.session() as session:
        mark_failed(session, str(versions[0]), "bad file")
        assert ingestions_in_flight(session, "alice") == 2
    freed = _confirm_within_limit(catalog, _uploaded(catalog))
    assert freed is not None
    with catalog.session() as session:  # a deleted version no longer counts either
        version = session.get(DatasetVersion, freed)
        assert version is not None
        version.deleted_at = datetime.now(UTC)
    assert _confirm_within_limit(catalog, _uploaded(catalog)) is not None


def test_concurrent_confirms_never_exceed_the_limit(catalog: Catalog) -> None:
    uploads = [_uploaded(catalog) for _ in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        created = [v for v in pool.map(lambda u: _confirm_within_limit(catalog, u), uploads) if v]
    assert len(created) == LIMITED.max_ingestions_in_flight
    with catalog.session() as session:
        assert ingestions_in_flight(session, "alice") == LIMITED.max_ingestions_in_flight


def _train_within_limit(catalog: Catalog, version_id: str, user: str = "alice") -> str | None:
    try:
        with catalog.session() as session:
            claim_training_slot(session, user, LIMITED)
            return create_job(session, user, version_id, "y", None).id
    except TooManyInFlightError:
        return None


def test_concurrent_training_requests_never_exceed_the_limit_and_a_finished_job_frees_one(
    catalog: Catalog,
) -> None:
    version_id = str(_confirm_within_limit(catalog, _uploaded(catalog)))
    with ThreadPoolExecutor(max_workers=6) as pool:
        jobs = [
            j for j in pool.map(lambda _: _train_within_limit(catalog, version_id), range(6)) if j
        ]
    assert len(jobs) == LIMITED.max_training_jobs_in_flight
    with catalog.session() as session:
        mark_running(session, jobs[0], None)
        assert training_jobs_in_flight(session, "alice") == 2
    assert _train_within_limit(catalog, version_id) is None
    with catalog.session() as session:
        mark_job_failed(session, jobs[0], "no")
    assert _train_within_limit(catalog, version_id) is not None
    assert _train_within_limit(catalog, version_id, "bob") is not None  # bob has his own
