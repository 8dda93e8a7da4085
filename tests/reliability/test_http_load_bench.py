"""`python -m bench.http_load` at its smallest (1 connection, 1 s a row, 2 first confirms,
SQLite) runs end to end and prints its tables: the benchmark cannot rot unnoticed. Nothing is
timed; only that every row answered what the route answers, without errors."""

from __future__ import annotations

import re
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


def _table(output: str, fourth_column: str) -> dict[str, dict[str, str]]:
    """The rows of the printed table whose fourth column is `fourth_column`, by route."""
    table: dict[str, dict[str, str]] = {}
    header: list[str] | None = None
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if not line.startswith("|"):
            header = None
        elif len(cells) > 3 and cells[3] == fourth_column:
            header = cells
        elif header is not None and not line.startswith("|---"):
            row = dict(zip(header, cells, strict=True))
            table[row["route"]] = row
    return table


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
    closed, paced = _table(done.stdout, "req/s"), _table(done.stdout, "offered req/s")
    assert sorted(closed) == sorted(ROUTES), done.stdout
    assert sorted(paced) == sorted(set(ROUTES) - {"confirm (first)"}), done.stdout
    for row in [*closed.values(), *paced.values()]:
        assert row["errors"] == "0", row
        assert row["others on API core"] == "-", row  # measured only with --api-cpu
        assert row["wrk's cores busy"] == "-", row
        assert re.fullmatch(r"none|\d+: longest [\d,]+ ms, [\d,]+ ms in all", row["machine stalls"])
    for row in closed.values():
        assert float(row["req/s"].replace(",", "")) > 0, row  # it answered
