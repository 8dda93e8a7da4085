"""Benchmark: upload-url's reservation (the quota's check and the upload's row, under the user's
lock) against how many uploads the user has in flight, beside the same with none.

    python3 -m uv run python -m bench.reservation [--in-flight 0,50,200,1000,8000]
        [--closed 8000] [--runs 400]

Each row gets a fresh SQLite catalog (on disk, in a temporary directory) whose one user holds
that many pending uploads; then `--runs` reservations, each released again so the count stays
put, are timed one by one. `--closed` rows give the user that many closed (aborted) uploads
and none in flight: the history a user builds up, which stays in the table and must cost
nothing. The sums the check makes read each of the user's pending uploads' index entries, so
the time grows with them; the tiers' `max_uploads_in_flight` (free 50, pro 200, enterprise
1,000) bounds it. The anchor is the first row (nothing to sum) measured in the same run; the
table gives each median as a multiple of it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from rich.table import Table

from catalog.database import Catalog, migrate
from catalog.tables import User, utcnow
from catalog.uploads import release_upload, reserve_upload
from core.settings import Tier

USER = "bench-user"
# Limits the benchmark never reaches: it measures the sums, not the refusals.
UNLIMITED = Tier(max_file_bytes=10**12, quota_bytes=10**15, max_uploads_in_flight=1_000_000)
LATER = timedelta(hours=1)


def _reserve(catalog: Catalog) -> str:
    with catalog.session() as session:
        return reserve_upload(session, USER, UNLIMITED, "a.csv", 1, utcnow() + LATER).id


def median_reservation_ms(workdir: Path, in_flight: int, runs: int, closed: int = 0) -> float:
    url = f"sqlite:///{workdir / f'catalog-{in_flight}-{closed}.db'}"
    migrate(url)
    catalog = Catalog(url)
    try:
        with catalog.session() as session:
            session.add(User(id=USER, tier="enterprise"))
        for _ in range(closed):
            upload_id = _reserve(catalog)
            with catalog.session() as session:
                release_upload(session, upload_id)
        for _ in range(in_flight):
            _reserve(catalog)
        times = []
        for _ in range(runs):
            started = time.perf_counter()
            upload_id = _reserve(catalog)
            times.append(time.perf_counter() - started)
            with catalog.session() as session:
                release_upload(session, upload_id)
        return statistics.median(times) * 1000
    finally:
        catalog.dispose()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--in-flight", default="0,50,200,1000,8000")
    parser.add_argument("--closed", default="8000")
    parser.add_argument("--runs", type=int, default=400)
    args = parser.parse_args()
    rows = [(int(count), 0) for count in args.in_flight.split(",")]
    rows += [(0, int(count)) for count in args.closed.split(",") if count]
    table = Table(title="upload-url's reservation, SQLite on disk, one user")
    for column in ("uploads in flight", "closed uploads", "median ms", "vs the first row"):
        table.add_column(column, justify="right")
    with tempfile.TemporaryDirectory(prefix="automl-bench-reservation-") as name:
        medians = [
            median_reservation_ms(Path(name), in_flight, args.runs, closed)
            for in_flight, closed in rows
        ]
    for (in_flight, closed), median in zip(rows, medians, strict=True):
        table.add_row(
            f"{in_flight:,}", f"{closed:,}", f"{median:.2f}", f"{median / medians[0]:.2f}x"
        )
    Console().print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
