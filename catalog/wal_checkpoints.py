"""SQLite's WAL checkpoints on a thread of their own, so that no request waits for one.

In WAL mode a commit appends its pages to the log, and the commit that takes the log past
`wal_autocheckpoint` pages (1,000 by default) then copies the whole log into the database file
and syncs both: about 2 ms of CPU and 6 to 9 ms in all. In the API that commit runs under the
catalog's transaction lock (`Catalog.serialized`), so every request queued behind it waited
too: at 400 upload-urls a second, a cluster of 5 to 20 slowed requests every 0.7 s, the
route's p99 at 32 clients (docs/benchmarks.md, "Round 8: checkpoints off the request path").

Here a daemon thread checkpoints every `CHECKPOINT_EVERY_SECONDS` in PASSIVE mode, which takes
no lock a writer waits for: commits go on appending meanwhile. The commits' own threshold is
raised to `BACKSTOP_PAGES`. Under a steady stream of commits a PASSIVE checkpoint never catches
the log's end, and SQLite restarts the log from its start only after a checkpoint that did, so
the log grows until a commit crosses the backstop. That commit checkpoints what the thread has
not copied yet (what arrived in the last 0.25 s) and syncs, and the log restarts: one such
commit per 10,000 pages of log (~7 s at 400 upload-urls a second) instead of one copying
1,000 pages per 1,000. The thread stops when the catalog is disposed or its engine is gone.
"""

from __future__ import annotations

import logging
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, event

logger = logging.getLogger(__name__)

CHECKPOINT_EVERY_SECONDS = 0.25
# A commit that finds the log longer than this checkpoints it itself. At SQLite's 4 KiB pages,
# ~40 MB: the size the log file reaches under steady commits (then reused, not truncated).
BACKSTOP_PAGES = 10_000
THREAD_NAME = "sqlite-wal-checkpoints"
_BACKSTOP = "wal_backstop"  # a connection's `info` key: its threshold is set


def _raise_threshold(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """On checkout, once per connection: the connections opened before the thread started get
    the raised threshold too (a dictionary lookup at every other checkout)."""
    if record.info.get(_BACKSTOP):
        return
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA wal_autocheckpoint={BACKSTOP_PAGES}")
    cursor.close()
    record.info[_BACKSTOP] = True


class BackgroundCheckpoints:
    """The checkpointing thread of one SQLite engine; `stop` ends it."""

    def __init__(self, engine: Engine) -> None:
        if not event.contains(engine, "checkout", _raise_threshold):
            event.listen(engine, "checkout", _raise_threshold)
        self._stopped = threading.Event()
        self._thread = threading.Thread(
            target=_checkpoint_until_stopped,
            args=(weakref.ref(engine), CHECKPOINT_EVERY_SECONDS, self._stopped),
            name=THREAD_NAME,
            daemon=True,  # a process that exits does not wait for it; the log is kept safe
        )
        self._thread.start()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()


def _checkpoint_until_stopped(
    engine_ref: weakref.ref[Engine], every_seconds: float, stopped: threading.Event
) -> None:
    failing = False
    while not stopped.wait(every_seconds):
        engine = engine_ref()
        if engine is None:
            return
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("PRAGMA wal_checkpoint(PASSIVE)")
        except Exception:  # the commits' backstop still holds; say so once, then keep trying
            if not failing:
                logger.warning("SQLite checkpoint failed; retrying", exc_info=True)
            failing = True
        else:
            failing = False
        del engine  # only the weak reference is held between checkpoints
