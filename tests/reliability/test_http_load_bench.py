"""`python -m bench.http_load` at its smallest (1 connection, 1 s a row, 2 first confirms,
SQLite) runs end to end and prints its tables: the benchmark cannot rot unnoticed. Nothing is
timed; only that every row answered what the route answers, without errors."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [
    pytest.mark.e2e,  # the embedded S3 server, a Prefect server and the API, each a process
    pytest.mark.timeout(600),
    pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed"),
]

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ["bare route", "upload-url", "confirm (first)", "confirm again (idempotent)"]


def test_the_smallest_http_benchmark_prints_every_route_with_answers_and_no_errors() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.http_load",
            "--catalog",
            "sqlite",
            "--connections",
            "1",
            "--seconds",
            "1",
            "--confirms",
            "2",
            "--paced-clients",
            "2",
            "--paced-seconds",
            "1",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [line.split(" | ") for line in done.stdout.splitlines() if line.startswith("| sqlite")]
    closed = {cells[1]: cells for cells in rows if len(cells) == 11}
    paced = {cells[1]: cells for cells in rows if len(cells) == 12}
    assert sorted(closed) == sorted(ROUTES), done.stdout
    assert sorted(paced) == sorted(set(ROUTES) - {"confirm (first)"}), done.stdout
    for cells in [*closed.values(), *paced.values()]:
        errors = cells[6] if len(cells) == 11 else cells[7]
        assert errors == "0", cells
    for cells in closed.values():
        assert float(cells[3].replace(",", "")) > 0, cells  # req/s: it answered
