"""upload-url's reservation in one statement on PostgreSQL (`reserve_upload_at_once` on a
connection of `Catalog.single_statement`): one round trip, and never past the quota, even for
a reservation committed while the statement waited for the user's lock."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from catalog.database import Catalog
from catalog.tables import Upload, utcnow
from catalog.uploads import Reservation, reserve_upload, reserve_upload_at_once
from core.errors import QuotaExceededError
from core.settings import Tier

# PostgreSQL's path only: the catalogs of these tests are PostgreSQL's (an e2e server).
pytestmark = [
    pytest.mark.catalog_users(alice="tiny"),
    pytest.mark.parametrize(
        "database_url", [pytest.param("postgresql", marks=pytest.mark.e2e)], indirect=True
    ),
]

TIER = Tier(max_file_bytes=1000, quota_bytes=1000)
LATER = timedelta(hours=1)


def _at_once(catalog: Catalog, size: int, user: str = "alice") -> Reservation | None:
    with catalog.single_statement() as connection:
        assert connection is not None
        return reserve_upload_at_once(connection, user, TIER, "a.csv", size, utcnow() + LATER)


def _reserved(catalog: Catalog) -> int:
    with catalog.session() as session:
        total = session.execute(sa.select(sa.func.sum(Upload.reserved_bytes))).scalar_one()
    return int(total or 0)


def test_a_reservation_is_one_statement_outside_any_transaction(catalog: Catalog) -> None:
    statements: list[str] = []
    with catalog.single_statement() as connection:
        assert connection is not None
        isolation = connection.exec_driver_sql("SHOW transaction_isolation").scalar_one()
        assert isolation == "repeatable read"
        assert connection.connection.driver_connection.autocommit is True  # type: ignore[union-attr]
        sa.event.listen(
            connection, "before_cursor_execute", lambda *args: statements.append(args[2])
        )
        reservation = reserve_upload_at_once(
            connection, "alice", TIER, "a.csv", 400, utcnow() + LATER
        )
    assert reservation is not None
    assert len(statements) == 1 and statements[0].lstrip().startswith("WITH locked_user")
    assert _reserved(catalog) == 400


def test_no_room_or_no_user_is_left_to_the_locked_path_which_words_it(catalog: Catalog) -> None:
    assert _at_once(catalog, 600) is not None
    assert _at_once(catalog, 401) is None  # 400 left
    assert _at_once(catalog, 10, user="nobody") is None
    refused = pytest.raises(QuotaExceededError, match="only 400 of your 1,000-byte quota are free")
    with refused, catalog.session() as session:
        reserve_upload(session, "alice", TIER, "a.csv", 401, utcnow() + LATER)
    assert _at_once(catalog, 400) is not None
    assert _reserved(catalog) == 1000


def _wait_for_a_lock_wait(catalog: Catalog) -> None:
    """Until some backend of this database waits for a row lock (the statement under test)."""
    deadline = time.monotonic() + 30
    query = sa.text(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while True:
        with catalog.engine.connect() as connection:
            if connection.execute(query).scalar_one() > 0:
                return
        assert time.monotonic() < deadline, "the statement never waited for the user's lock"
        time.sleep(0.05)


def test_a_reservation_committed_while_the_statement_waited_is_counted(
    catalog: Catalog,
) -> None:
    # At READ COMMITTED the waiting statement would read its sums from the snapshot it took
    # before the lock was granted, miss the other 600 bytes, and reserve 1,200 of 1,000.
    outcome: dict[str, Any] = {}

    def reserve_while_locked() -> None:
        try:
            outcome["reservation"] = _at_once(catalog, 600)
        except BaseException as error:
            outcome["error"] = error

    with catalog.session() as holder:
        reserve_upload(holder, "alice", TIER, "a.csv", 600, utcnow() + LATER)  # takes the lock
        waiting = threading.Thread(target=reserve_while_locked)
        waiting.start()
        _wait_for_a_lock_wait(catalog)
    waiting.join(timeout=30)  # the holder committed when its block ended
    assert "error" not in outcome, outcome
    assert outcome["reservation"] is None  # the user's row changed: left to the locked path
    with pytest.raises(QuotaExceededError), catalog.session() as session:
        reserve_upload(session, "alice", TIER, "a.csv", 600, utcnow() + LATER)
    assert _reserved(catalog) == 600
