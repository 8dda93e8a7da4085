"""SQLite's WAL checkpoints taken by a thread of the serving process, not by the commits of its
requests under the catalog's lock (catalog/wal_checkpoints.py): the commit that crossed 1,000
pages of log used to copy and sync it there, 6 to 9 ms every ~270 upload-urls."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

import catalog.wal_checkpoints as wal_checkpoints
from catalog.database import Catalog
from catalog.wal_checkpoints import BACKSTOP_PAGES, THREAD_NAME

PAGE_BYTES = 4096  # SQLite's default page size
# Commits of ~3 pages of log each (a 5,000-byte row and the pages that point to it): past
# SQLite's default threshold of 1,000 pages, well below ours.
COMMITS = 800
ROW_BYTES = 5000
DATA_BYTES = COMMITS * ROW_BYTES


def database_bytes(catalog: Catalog) -> int:
    return Path(str(catalog.engine.url.database)).stat().st_size


def log_bytes(catalog: Catalog) -> int:
    return Path(f"{catalog.engine.url.database}-wal").stat().st_size


def commit_pages(catalog: Catalog, commits: int = COMMITS) -> None:
    """`commits` transactions of ~2 pages of new data each, as requests commit them."""
    for _ in range(commits):
        with catalog.session() as session:
            session.execute(
                sa.text("INSERT INTO filler VALUES (randomblob(:size))"), {"size": ROW_BYTES}
            )


def checkpointing_threads() -> int:
    return sum(thread.name == THREAD_NAME for thread in threading.enumerate())


def test_by_default_a_commit_checkpoints_the_log_itself(sqlite_catalog: Catalog) -> None:
    # What the thread spares the requests (and what makes the next test able to fail).
    before = database_bytes(sqlite_catalog)
    commit_pages(sqlite_catalog)
    assert database_bytes(sqlite_catalog) > before + DATA_BYTES // 2  # copied by checkpoints


def test_with_checkpoints_in_the_background_no_commit_checkpoints(
    sqlite_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_EVERY_SECONDS", 3600.0)  # not in this test
    sqlite_catalog.checkpoint_in_background()
    before = database_bytes(sqlite_catalog)
    commit_pages(sqlite_catalog)
    assert database_bytes(sqlite_catalog) == before  # every page still only in the log
    assert log_bytes(sqlite_catalog) > 1500 * PAGE_BYTES  # past SQLite's own threshold
    with sqlite_catalog.engine.connect() as connection:
        threshold = connection.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar()
    assert threshold == BACKSTOP_PAGES


def test_the_thread_checkpoints_what_the_commits_leave(
    sqlite_catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(wal_checkpoints, "CHECKPOINT_EVERY_SECONDS", 0.05)
    sqlite_catalog.checkpoint_in_background()
    before = database_bytes(sqlite_catalog)
    commit_pages(sqlite_catalog)
    deadline = time.monotonic() + 30  # a bound for a stuck thread, not a speed requirement
    while database_bytes(sqlite_catalog) < before + DATA_BYTES:
        assert time.monotonic() < deadline, "the log was never checkpointed"
        time.sleep(0.05)


def test_one_thread_per_catalog_ended_by_dispose(sqlite_catalog: Catalog) -> None:
    running = checkpointing_threads()
    sqlite_catalog.checkpoint_in_background()
    sqlite_catalog.checkpoint_in_background()  # again: the same thread
    assert checkpointing_threads() == running + 1
    sqlite_catalog.dispose()
    assert checkpointing_threads() == running


def test_a_catalog_in_memory_has_no_log_to_checkpoint() -> None:
    catalog = Catalog("sqlite://")
    running = checkpointing_threads()
    catalog.checkpoint_in_background()
    assert checkpointing_threads() == running
    catalog.dispose()
