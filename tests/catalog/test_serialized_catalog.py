"""The API's view of the catalog: on SQLite its transactions in one process take turns (so
they queue on a lock, not in SQLite's busy sleeps); on PostgreSQL they run side by side."""

from __future__ import annotations

import threading

from catalog.database import Catalog


def _other_thread_starts_a_transaction(catalog: Catalog) -> bool:
    """Whether another thread gets a transaction while this one holds one (it does not wait)."""
    started: list[bool] = []

    def attempt() -> None:
        lock = catalog._transaction_lock
        if lock is None:
            with catalog.session():
                started.append(True)
            return
        got = lock.acquire(blocking=False)
        if got:
            lock.release()
        started.append(got)

    with catalog.session():
        thread = threading.Thread(target=attempt)
        thread.start()
        thread.join()
    return started == [True]


def test_on_sqlite_the_apis_transactions_take_turns_and_on_postgresql_they_do_not(
    catalog: Catalog, database_url: str
) -> None:
    view = catalog.serialized()
    assert view.engine is catalog.engine  # one pool for both
    sqlite = database_url.startswith("sqlite")
    assert _other_thread_starts_a_transaction(view) is not sqlite
    assert _other_thread_starts_a_transaction(catalog)  # the flows' catalog is left alone
    with view.session(), view.session():
        pass  # the same thread may nest
