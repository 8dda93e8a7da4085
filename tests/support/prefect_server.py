"""A Prefect server of a test's own that the test can stop and start again, as an operator
restarts one: `prefect server start` on the same port and the same SQLite database each time,
so its clients keep their URL and it keeps every run it knew; and switching this process's
block classes to it and back."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prefect.blocks.core import Block

from tests.support.ports import free_port
from tests.support.production import (
    STARTUP_SECONDS,
    answers,
    base_environment,
    prefect_server_command,
    stop,
    tail,
    wait_until,
)


@dataclass
class RestartablePrefectServer:
    root: Path
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api"

    @property
    def log(self) -> Path:
        return self.root / "prefect-server.log"

    def answers(self) -> bool:
        return answers(f"{self.api_url}/health")

    def start(self) -> float:
        """Starts the server and waits until it answers; returns how long that took."""
        started = time.monotonic()
        environment = base_environment(self.root / "home", self.root / "pycache")
        environment["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = (
            f"sqlite+aiosqlite:///{self.root / 'prefect.db'}"
        )
        command = prefect_server_command(self.port)
        with self.log.open("ab") as output:
            self.process = subprocess.Popen(
                command,
                cwd=self.root,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        process = self.process

        def up() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"the Prefect server exited:\n{tail(self.log)}")
            return self.answers()

        wait_until(up, STARTUP_SECONDS, "the Prefect server")
        return time.monotonic() - started

    def stop(self) -> None:
        """SIGTERM, as a service manager stops it (SIGKILL after a grace period)."""
        if self.process is not None:
            stop(self.process)
            self.process = None


@contextmanager
def restartable_prefect_server(root: Path) -> Iterator[RestartablePrefectServer]:
    """A started server in `root`; stopped at the end, whatever state the test left it in."""
    root.mkdir(parents=True, exist_ok=True)
    server = RestartablePrefectServer(root, free_port())
    try:
        server.start()
        yield server
    finally:
        server.stop()


# Prefect keeps the ids of a block class's type and schema on the class, for the server it last
# registered it with or loaded a block from; the session's fixtures register each class once
# per server. Both servers' ids are kept here, so a test can use one server, then the other.
_ID_ATTRIBUTES = ("_block_type_id", "_block_schema_id")
_ids_by_server: dict[str, dict[tuple[type[Block], str], Any]] = {}


def _block_classes() -> list[type[Block]]:
    found: list[type[Block]] = []
    pending: list[type[Block]] = [Block]
    while pending:
        cls = pending.pop()
        found.append(cls)
        pending.extend(cls.__subclasses__())
    return found


def _block_ids() -> dict[tuple[type[Block], str], Any]:
    return {
        (cls, name): cls.__dict__.get(name) for cls in _block_classes() for name in _ID_ATTRIBUTES
    }


def _apply(ids: dict[tuple[type[Block], str], Any]) -> None:
    for (cls, name), value in ids.items():
        setattr(cls, name, value)


@contextmanager
def block_classes_on(api_url: str) -> Iterator[None]:
    """While open, the block classes carry the ids of the server at `api_url` (as they were the
    last time); after, those of the server they had before."""
    before = _block_ids()
    if api_url in _ids_by_server:
        _apply(_ids_by_server[api_url])
    try:
        yield
    finally:
        _ids_by_server[api_url] = _block_ids()
        _apply(before)
