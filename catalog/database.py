"""Engine, sessions and migrations of the catalog (SQLite by default, PostgreSQL in production),
and the size of IN (...) lists every query keeps to."""

from __future__ import annotations

import copy
import select
import threading
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from functools import lru_cache
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from catalog.wal_checkpoints import BackgroundCheckpoints

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Values per IN (...) list: well below the bound-parameter limits of SQLite and PostgreSQL.
IN_CHUNK = 500


def in_chunks(values: list[str]) -> Iterator[list[str]]:
    """`values` in slices of at most `IN_CHUNK`, one IN (...) list each."""
    for start in range(0, len(values), IN_CHUNK):
        yield values[start : start + IN_CHUNK]


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite gets WAL, foreign keys and a busy timeout for concurrent use,
    and `synchronous=NORMAL`: in WAL mode a commit then appends to the log without an fsync (the
    log is synced at checkpoints). A crashed process loses nothing and the file stays consistent
    whatever happens; a power cut or kernel crash may lose the last commits. The fsync was a
    quarter of upload-url's time (docs/benchmarks.md, "HTTP routes")."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    engine = create_engine(url, pool_size=POOL_SIZE, max_overflow=POOL_OVERFLOW)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _check_alive)
    return engine


def make_single_statement_engine(url: str) -> Engine | None:
    """PostgreSQL connections on which each statement is a transaction of its own, at
    REPEATABLE READ (`Catalog.single_statement`); None for SQLite, whose transactions the API
    takes one at a time anyway."""
    if make_url(url).get_backend_name() == "sqlite":
        return None
    engine = create_engine(
        url,
        pool_size=SINGLE_STATEMENT_POOL_SIZE,
        max_overflow=SINGLE_STATEMENT_POOL_OVERFLOW,
        isolation_level="AUTOCOMMIT",
    )
    event.listen(engine, "connect", _repeatable_read)
    event.listen(engine, "checkin", _note_checkin)
    event.listen(engine, "checkout", _check_alive)
    return engine


def _repeatable_read(dbapi_connection: Any, _record: Any) -> None:
    """Every transaction of this connection (each statement, in autocommit) at REPEATABLE READ;
    set once per connection, leaving the URL's own `options` (a search_path) as they are."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    cursor = dbapi_connection.cursor()
    cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    cursor.close()
    dbapi_connection.autocommit = autocommit


# PostgreSQL connections a process keeps open (`Catalog.open_pool` opens them at start-up), and
# how many more it opens, and closes again, when more threads than that need one at once.
POOL_SIZE = 10
POOL_OVERFLOW = 20
# The same for the connections of single statements (upload-url's reservation: one statement
# each, so a burst needs few).
SINGLE_STATEMENT_POOL_SIZE = 5
SINGLE_STATEMENT_POOL_OVERFLOW = 5

# A pooled PostgreSQL connection idle longer than this is pinged before use (a round trip); one
# used more recently is checked by polling its socket (no round trip).
PING_AFTER_IDLE_SECONDS = 10.0


def _note_checkin(_dbapi_connection: Any, record: Any) -> None:
    record.info["checked_in"] = time.monotonic()


def _check_alive(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    """Replaces `pool_pre_ping`, whose `SELECT 1` was one of upload-url's six round trips.

    A server that restarts, fails over or terminates a backend closes the connection's socket:
    an idle connection's socket that has anything to read is dead (the server sends nothing
    unasked between statements). Raising `InvalidatePoolError` makes the pool replace it and
    every connection older than it, as the pre-ping did. A connection idle for long is still
    pinged, for the failures no socket shows (a peer that vanished without closing)."""
    last_used = record.info.get("checked_in")
    if last_used is None:  # opened for this checkout
        return
    fileno = getattr(dbapi_connection, "fileno", None)  # psycopg and psycopg2 have it
    try:
        if fileno is None or last_used < time.monotonic() - PING_AFTER_IDLE_SECONDS:
            cursor = dbapi_connection.cursor()
            cursor.execute("SELECT 1")
            cursor.close()
            return
        closed = bool(select.select([fileno()], [], [], 0)[0])
    except Exception as error:  # a closed socket, a failed ping: dead either way
        raise exc.InvalidatePoolError(str(error)) from error
    if closed:
        raise exc.InvalidatePoolError("the server closed the connection")


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def migrate(url: str) -> None:
    """Brings the catalog schema to the newest migration (safe to run at every start)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    command.upgrade(alembic_config(url), "head")


@lru_cache(maxsize=4)
def catalog_for(url: str) -> Catalog:
    """One `Catalog` (engine and pool) per database URL in this process."""
    return Catalog(url)


class Catalog:
    """The catalog of one database: an engine and a session factory."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self._single_statements = make_single_statement_engine(url)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._transaction_lock: threading.RLock | None = None
        self._checkpoints: BackgroundCheckpoints | None = None

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A transaction: committed on success, rolled back on error."""
        with self._one_at_a_time(), self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def single_statement(self) -> Iterator[Connection | None]:
        """On PostgreSQL, a connection with no transaction around its statements: each is its
        own transaction, at REPEATABLE READ, in one round trip (no BEGIN, no COMMIT); a
        statement that meets a row changed since it started fails with SQLSTATE 40001 rather
        than read past it. None on SQLite."""
        if self._single_statements is None:
            yield None
            return
        with self._single_statements.connect() as connection:
            yield connection

    def _one_at_a_time(self) -> AbstractContextManager[object]:
        return self._transaction_lock if self._transaction_lock is not None else nullcontext()

    def serialized(self) -> Catalog:
        """This catalog (same engine and pool) with its transactions in this process taken one
        at a time on SQLite, for the API's request threads. SQLite has one writer: a transaction
        that finds the write lock taken sleeps in SQLite's busy handler for up to 100 ms a try,
        which under concurrent requests made p99 seconds long; queued on a lock here, the next
        transaction starts the moment the last one ends. Other processes (flow runs) still meet
        the busy handler. PostgreSQL, with row locks and no single writer, is left as it is."""
        view = copy.copy(self)
        if self.engine.dialect.name == "sqlite":
            view._transaction_lock = threading.RLock()
        return view

    def open_pool(self) -> None:
        """Opens every connection the pool keeps, now rather than under load. A pool opens a
        connection when more threads need one than it holds; on PostgreSQL each is a new server
        process, and each time upload-url's pool grew under 32 paced clients, the requests in
        flight waited 10 to 48 ms (docs/benchmarks.md, "Round 6: a warm connection pool")."""
        engines = [self.engine, self._single_statements]
        for engine in (engine for engine in engines if engine is not None):
            pool = engine.pool
            if not isinstance(pool, QueuePool):  # SQLite in memory: a connection per thread
                continue
            held = [engine.connect() for _ in range(pool.size())]
            for connection in held:
                connection.close()  # back to the pool, which keeps it open

    def checkpoint_in_background(self) -> None:
        """On SQLite, WAL checkpoints from a thread of this process rather than inside the
        commits of requests (catalog/wal_checkpoints.py), until `dispose`. A serving process
        calls it once; again, it does nothing while the thread runs."""
        url = self.engine.url
        if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
            return  # PostgreSQL has no such log; a database in memory, no file to sync
        if self._checkpoints is None or not self._checkpoints.is_alive():
            self._checkpoints = BackgroundCheckpoints(self.engine)

    def stop_background_checkpoints(self) -> None:
        """Ends the thread; commits then checkpoint a log past `BACKSTOP_PAGES` themselves."""
        if self._checkpoints is not None:
            self._checkpoints.stop()
            self._checkpoints = None

    def dispose(self) -> None:
        self.stop_background_checkpoints()
        self.engine.dispose()
        if self._single_statements is not None:
            self._single_statements.dispose()
