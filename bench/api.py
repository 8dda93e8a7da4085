"""Benchmark: the upload API's upload-url and confirm under concurrent clients.

    python3 -m uv run python -m bench.api [--clients 1,8,32] [--requests 100] [--prefect-postgres]

Everything is real and binds 127.0.0.1: the embedded S3 server (moto) in its own process, a
Prefect server in its own process group, the API served by uvicorn (one worker, as `automl up`
serves it) in its own process over the default SQLite catalog of a temporary AUTOML_DATA_DIR,
and the `ingest-dataset` deployment applied (nothing serves it, so the runs confirm creates stay
scheduled). The clients run in this process on asyncio with httpx; each client has its own user
and token. For every client count it times:

- `POST /api/datasets/upload-url` (small CSV declared),
- `POST /api/datasets/confirm` of uploads whose file was PUT in an untimed set-up phase,
- the same confirms again (the idempotent path: same ids and run, no new ingestion).

With `--prefect-postgres` the Prefect server runs on a throwaway PostgreSQL cluster (as
`AUTOML_PREFECT_DATABASE_URL` makes `automl up` run it) instead of SQLite.

Nothing is asserted: it prints a table. The CPU columns are each process's CPU time over the
row's wall time (100% = one core busy): the API, the Prefect server (its process group), the S3
server, and this process (the clients). "Prefect 503s" counts the requests the Prefect server
refused during the row because its SQLite database was locked (its client retries them after
an exponential backoff, so they show as latency, not as errors).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench.api_load import Bench, Row
from bench.http_stack import CSV_BODY, ApiUnderTest, Services, api_process, shared_services
from bench.ports import positive_ints

BUCKET = "automl-bench-api"


# --- output -------------------------------------------------------------------------------------


def report(row: Row) -> None:
    print(
        f"{row.operation}, {row.clients} clients: {row.requests} requests in {row.wall:.1f} s, "
        f"{row.requests / row.wall:.1f} req/s, p50 {row.percentile(50):.1f} ms, "
        f"p99 {row.percentile(99):.1f} ms, errors {sum(row.errors.values())}, "
        f"Prefect 503s {row.prefect_busy}"
        + (
            f", answered without run {row.without_run}, all runs recorded after "
            f"{row.all_runs_seconds:.1f} s"
            if row.all_runs_seconds is not None
            else ""
        ),
        flush=True,
    )
    for message, count in row.errors.most_common(5):
        print(f"  {count} x {message}", flush=True)


def print_table(rows: list[Row]) -> None:
    print()
    print(
        "| operation | clients | requests | req/s | p50 ms | p99 ms | errors "
        "| Prefect 503s | API CPU | Prefect CPU | S3 CPU | clients CPU | without run id "
        "| all runs after s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        wall = row.wall or float("nan")
        print(
            f"| {row.operation} | {row.clients} | {row.requests} | {row.requests / wall:.1f} "
            f"| {row.percentile(50):.1f} | {row.percentile(99):.1f} "
            f"| {sum(row.errors.values())} | {row.prefect_busy} | {row.api_cpu / wall:.0%} "
            f"| {row.prefect_cpu / wall:.0%} | {row.s3_cpu / wall:.0%} "
            f"| {row.client_cpu / wall:.0%} "
            f"| {'' if row.without_run is None else row.without_run} "
            f"| {'' if row.all_runs_seconds is None else f'{row.all_runs_seconds:.1f}'} |"
        )


# --- main ---------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.api",
        description="Requests per second and p50/p99 latency of the upload API's upload-url and "
        "confirm (first and repeated) with N concurrent clients, on the default SQLite catalog.",
    )
    parser.add_argument(
        "--clients",
        type=positive_ints,
        default=[1, 8, 32],
        help="comma-separated concurrent client counts (default 1,8,32)",
    )
    parser.add_argument(
        "--requests",
        type=int,
        default=100,
        help="requests per operation and client count (default 100)",
    )
    parser.add_argument(
        "--prefect-postgres",
        action="store_true",
        help="run the Prefect server on a throwaway PostgreSQL cluster instead of SQLite",
    )
    args = parser.parse_args(argv)
    if args.requests < max(args.clients):
        parser.error("--requests must be at least the largest client count")
    signal.signal(signal.SIGTERM, _raise_interrupt)

    workdir = Path(tempfile.mkdtemp(prefix="automl-bench-api-"))
    # Counted in the "Prefect 503s" column (PREFECT_BUSY_LINE); the Prefect server inherits it.
    os.environ["PREFECT_SERVER_LOG_RETRYABLE_ERRORS"] = "true"
    try:
        with contextlib.ExitStack() as running:
            prefect_db = (
                running.enter_context(_prefect_database()) if args.prefect_postgres else None
            )
            services = running.enter_context(shared_services(workdir, BUCKET, prefect_db))
            # The default SQLite catalog of AUTOML_DATA_DIR, one user and token per client.
            api = running.enter_context(api_process(None, max(args.clients)))
            _measure(args, services, api, prefect_db is not None)
        return 0
    except KeyboardInterrupt:
        print("interrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def _measure(
    args: argparse.Namespace, services: Services, api: ApiUnderTest, prefect_postgres: bool
) -> None:
    """What the run prints: the processes measured, each row as it ends, then the table."""
    from core.settings import get_settings

    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(
        f"S3:      embedded moto server, process {services.s3_pid}, {get_settings().endpoint_url}"
    )
    print(
        f"Prefect: `prefect server start` ({'PostgreSQL' if prefect_postgres else 'SQLite'}), "
        f"process group {services.prefect_pgid}, "
        f"{services.prefect_api_url}"
    )
    print(
        f"API:     uvicorn (1 worker) on create_app(get_settings()), process {api.pid}, "
        f"{api.url}; catalog {api.catalog_url}"
    )
    print(
        f"clients: asyncio + httpx in process {os.getpid()}, one user/token each; "
        f"{args.requests} requests per row; CSV body {len(CSV_BODY)} bytes"
    )
    print(flush=True)
    bench = Bench(
        api.url,
        api.tokens,
        [api.pid],
        services.prefect_pgid,
        [services.s3_pid],
        services.prefect_log,
        api.catalog_url,
    )
    load_before = os.getloadavg()
    rows = asyncio.run(bench.run(args.clients, args.requests, report))
    print_table(rows)
    print(f"\nload average (1, 5, 15 min): before {load_before}, after {os.getloadavg()}")


@contextlib.contextmanager
def _prefect_database() -> Iterator[str]:
    """An asyncpg URL of a database on a throwaway PostgreSQL cluster (as the tests start one)."""
    from tests.support.postgres import run_postgres
    from tests.support.production import postgres_database

    with run_postgres() as server_url, postgres_database(server_url, "asyncpg") as url:
        yield url


if __name__ == "__main__":
    sys.exit(main())
