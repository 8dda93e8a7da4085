"""The catalog's connection pool opened at start-up: as many threads as it holds then get a
connection at once without any being opened (on PostgreSQL each is a new server process, and
opening them under load stalled the requests in flight: docs/benchmarks.md, round 6)."""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa

from catalog.database import POOL_SIZE, Catalog


def queue_pool(catalog: Catalog) -> sa.pool.QueuePool:
    pool = catalog.engine.pool
    assert isinstance(pool, sa.pool.QueuePool)
    return pool


def _connections_opened_while(catalog: Catalog, threads: int) -> int:
    """How many connections the pool opens while `threads` threads each hold a transaction at
    the same moment."""
    opened: list[Any] = []
    sa.event.listen(catalog.engine, "connect", lambda *_: opened.append(1))
    all_inside = threading.Barrier(threads)
    errors: list[BaseException] = []

    def transaction() -> None:
        try:
            with catalog.session() as session:
                session.execute(sa.text("SELECT 1"))
                all_inside.wait(timeout=30)
        except BaseException as error:
            errors.append(error)

    workers = [threading.Thread(target=transaction) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    return len(opened)


def test_an_opened_pool_holds_its_connections_and_opens_none_for_as_many_threads(
    catalog: Catalog, database_url: str
) -> None:
    pool = queue_pool(catalog)
    if database_url.startswith("postgresql"):
        assert pool.size() == POOL_SIZE
    catalog.dispose()  # as a new process finds it: nothing open
    pool = queue_pool(catalog)
    assert pool.checkedin() == 0

    catalog.open_pool()
    assert pool.checkedin() == pool.size() > 1
    assert _connections_opened_while(catalog, pool.size()) == 0
    assert pool.checkedin() == pool.size()


def test_a_pool_not_opened_opens_a_connection_per_thread_under_load(catalog: Catalog) -> None:
    # What open_pool spares the first requests (and what makes the test above able to fail).
    catalog.dispose()
    size = queue_pool(catalog).size()
    assert _connections_opened_while(catalog, size) == size


def test_a_catalog_in_memory_has_no_pool_to_open() -> None:
    catalog = Catalog("sqlite://")
    catalog.open_pool()  # one connection per thread, opened by its first use: nothing to do
    with catalog.session() as session:
        assert session.execute(sa.text("SELECT 1")).scalar() == 1
    catalog.dispose()


def test_only_postgresql_has_connections_for_single_statements(
    catalog: Catalog, database_url: str
) -> None:
    # upload-url's one-statement reservation (tests/catalog/test_reserve_at_once.py); on SQLite
    # the API's transactions take turns in the process anyway.
    with catalog.single_statement() as connection:
        assert (connection is None) is database_url.startswith("sqlite")
