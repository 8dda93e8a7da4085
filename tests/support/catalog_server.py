"""The catalog's PostgreSQL database seen from outside the application's connections: its
backends, terminating them, and holding a row lock (the catalog fault scenarios)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import sqlalchemy as sa

WAIT_SECONDS = 60.0  # the longest a step is waited for


@dataclass
class CatalogServer:
    """The catalog's PostgreSQL database, seen from outside the application's connections."""

    url: str  # the catalog database
    admin: sa.Engine  # the server's maintenance database, AUTOCOMMIT

    @property
    def database(self) -> str:
        return str(sa.engine.make_url(self.url).database)

    def backends(self, *, waiting_for_lock: bool = False, besides: int = 0) -> list[int]:
        query = "SELECT pid FROM pg_stat_activity WHERE datname = :db AND pid <> :besides"
        if waiting_for_lock:
            query += " AND wait_event_type = 'Lock'"
        with self.admin.connect() as connection:
            rows = connection.execute(sa.text(query), {"db": self.database, "besides": besides})
            return [int(pid) for (pid,) in rows]

    def terminate(self, pids: list[int]) -> int:
        """Terminates each backend and waits until it has exited (the count that did). Without
        the wait, a backend that had not yet acted on the signal kept its socket open, so a
        client's next statement could still reach it and fail: the window of a termination in
        progress, not the connection left dead that these tests are about."""
        query = sa.text("SELECT pg_terminate_backend(:p, :ms)")
        wait_ms = int(WAIT_SECONDS * 1000)
        with self.admin.connect() as connection:
            return sum(
                bool(connection.execute(query, {"p": pid, "ms": wait_ms}).scalar()) for pid in pids
            )

    def blocked_backend(self, holder: int) -> int:
        """The one backend waiting for the lock `holder` holds."""
        deadline = time.monotonic() + WAIT_SECONDS
        while not (waiting := self.backends(waiting_for_lock=True, besides=holder)):
            assert time.monotonic() < deadline, "no step waited for the locked row"
            time.sleep(0.05)
        [pid] = waiting
        return pid

    @contextmanager
    def row_locked(self, table: str, column: str, value: str) -> Iterator[int]:
        """Locks one row (`SELECT ... FOR UPDATE`) from a connection of its own until the block
        ends; yields that connection's backend pid."""
        engine = sa.create_engine(self.url)
        try:
            with engine.connect() as connection, connection.begin():
                connection.execute(
                    sa.text(f"SELECT 1 FROM {table} WHERE {column} = :v FOR UPDATE"), {"v": value}
                )
                yield int(connection.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())
        finally:
            engine.dispose()
