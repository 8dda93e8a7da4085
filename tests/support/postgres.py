"""A throwaway PostgreSQL server (Debian's package) on 127.0.0.1 for the catalog tests."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.support.ports import free_port


def postgres_bin_dir() -> Path | None:
    """The newest installed `/usr/lib/postgresql/<version>/bin`, if any."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda path: int(Path(path).parent.parent.name),
    )
    return Path(candidates[-1]).parent if candidates else None


@contextmanager
def run_postgres() -> Iterator[str]:
    """Yields a SQLAlchemy URL of a fresh cluster; the cluster and its files go away after."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        raise RuntimeError("PostgreSQL is not installed (Debian: apt-get install postgresql)")
    as_root = os.geteuid() == 0
    # initdb refuses to run as root: run the server as the package's `postgres` user then.
    prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
    base = Path(tempfile.mkdtemp(prefix="automl-pg-"))
    data, sockets = base / "data", base / "sock"
    sockets.mkdir()
    if as_root:
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
    port = free_port()
    log = base / "server.log"
    try:
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "initdb"),
                "-D",
                str(data),
                "-U",
                "automl",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            check=True,
            capture_output=True,
        )
        subprocess.run(
            [
                *prefix,
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c max_connections=200",
                "start",
            ],
            check=True,
            capture_output=True,
        )
        url = f"postgresql+psycopg://automl@127.0.0.1:{port}/postgres"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        yield url
    finally:
        if data.exists():
            subprocess.run(
                [
                    *prefix,
                    str(bin_dir / "pg_ctl"),
                    "-D",
                    str(data),
                    "-m",
                    "immediate",
                    "-w",
                    "stop",
                ],
                capture_output=True,
            )
        shutil.rmtree(base, ignore_errors=True)
