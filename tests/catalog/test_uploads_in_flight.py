"""The tier's limit of uploads in flight, on SQLite and PostgreSQL: upload-url's quota check
sums the user's pending uploads under the user's lock, so their number is bounded. One more
is refused, reserving nothing; an upload confirmed, aborted or expired makes room."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
import sqlalchemy as sa

from catalog.database import Catalog
from catalog.tables import Upload, utcnow
from catalog.uploads import Reservation, release_upload, reserve_upload, reserve_upload_at_once
from core.errors import TooManyInFlightError
from core.settings import Tier
from core.statuses import UploadStatus

pytestmark = pytest.mark.catalog_users(alice="tiny", bob="tiny")

TIER = Tier(max_file_bytes=1000, quota_bytes=1000, max_uploads_in_flight=3)
LATER = timedelta(hours=1)


def _reserve(catalog: Catalog, user: str = "alice") -> Reservation:
    """As upload-url reserves: in one statement where the catalog can (PostgreSQL), else, or
    when that statement cannot decide, in a transaction under the user's lock."""
    with catalog.single_statement() as connection:
        if connection is not None:
            reserved = reserve_upload_at_once(connection, user, TIER, "a.csv", 1, utcnow() + LATER)
            if reserved is not None:
                return reserved
    with catalog.session() as session:
        return reserve_upload(session, user, TIER, "a.csv", 1, utcnow() + LATER)


def _pending(catalog: Catalog, user: str = "alice") -> int:
    with catalog.session() as session:
        count = session.execute(
            sa.select(sa.func.count())
            .select_from(Upload)
            .where(Upload.user_id == user, Upload.status == UploadStatus.PENDING)
        ).scalar_one()
    return int(count)


def test_one_upload_beyond_the_limit_is_refused_until_one_ends(catalog: Catalog) -> None:
    first, second, third = (_reserve(catalog) for _ in range(3))
    refused = pytest.raises(TooManyInFlightError, match="you have 3 uploads in progress")
    with refused:
        _reserve(catalog)
    assert _pending(catalog) == 3  # the refusal reserved nothing
    _reserve(catalog, user="bob")  # the limit is the user's
    with catalog.session() as session:  # aborted
        assert release_upload(session, first.id)
    _reserve(catalog)
    with catalog.session() as session:  # confirmed: an ingestion's now, limited as such
        session.execute(
            sa.update(Upload).where(Upload.id == second.id).values(status=UploadStatus.CONFIRMED)
        )
    _reserve(catalog)
    with pytest.raises(TooManyInFlightError):
        _reserve(catalog)
    with catalog.session() as session:  # expired, not yet closed by the cleanup flow
        session.execute(
            sa.update(Upload)
            .where(Upload.id == third.id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    _reserve(catalog)


def test_concurrent_requests_never_exceed_the_limit_together(catalog: Catalog) -> None:
    def attempt(_: int) -> bool:
        try:
            _reserve(catalog)
        except TooManyInFlightError:
            return False
        return True

    with ThreadPoolExecutor(max_workers=8) as pool:
        accepted = list(pool.map(attempt, range(8)))
    assert accepted.count(True) == 3
    assert _pending(catalog) == 3
