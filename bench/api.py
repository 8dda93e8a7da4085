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
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.http_stack import CSV_BODY, ApiUnderTest, Services, api_process, shared_services
from bench.ports import positive_ints
from bench.process_cpu import cpu_seconds, process_group_pids

BUCKET = "automl-bench-api"


# --- load ---------------------------------------------------------------------------------------


REQUEST_TIMEOUT_SECONDS = 120.0
# What the Prefect server logs (with PREFECT_SERVER_LOG_RETRYABLE_ERRORS) when it answers 503
# because its database is locked; its client then retries with exponential backoff.
PREFECT_BUSY_LINE = b"Encountered retryable exception in request"


def _cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the processes (0 for a process that is gone)."""
    return sum(cpu_seconds(pid, tree=False) for pid in pids)


@dataclass
class Row:
    operation: str
    clients: int
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    wall: float = 0.0
    api_cpu: float = 0.0
    prefect_cpu: float = 0.0
    s3_cpu: float = 0.0
    client_cpu: float = 0.0
    prefect_busy: int = 0
    # Confirm rows: answers without `flow_run_id` (the dispatcher had not created the run yet),
    # and the seconds from the row's start until every run of the row was recorded.
    without_run: int | None = None
    all_runs_seconds: float | None = None

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile(self, q: float) -> float:
        """Nearest-rank percentile in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)] * 1000


Job = Callable[[httpx.AsyncClient, int], Awaitable[httpx.Response]]


async def run_load(
    clients: int, jobs_per_client: list[list[Job]], expected: int, row: Row
) -> list[httpx.Response]:
    """Each client runs its own jobs one after another; all clients at once."""
    responses: list[httpx.Response] = []
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as http:

        async def client(index: int) -> None:
            for job in jobs_per_client[index]:
                start = time.perf_counter()
                try:
                    response = await job(http, index)
                except httpx.HTTPError as exc:
                    row.latencies.append(time.perf_counter() - start)
                    row.errors[type(exc).__name__] += 1
                    continue
                row.latencies.append(time.perf_counter() - start)
                if response.status_code != expected:
                    row.errors[f"{response.status_code} {response.text[:160]}"] += 1
                responses.append(response)

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        row.wall = time.perf_counter() - started
    return responses


def split(items: Sequence[Any], parts: int) -> list[list[Any]]:
    return [list(items[i::parts]) for i in range(parts)]


@dataclass
class Bench:
    api_url: str
    tokens: list[str]
    api_pids: list[int]
    prefect_pgid: int
    s3_pids: list[int]
    prefect_log: Path
    catalog_url: str

    def headers(self, client: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[client]}"}

    def upload_url_job(self, n: int) -> Job:
        async def job(http: httpx.AsyncClient, client: int) -> httpx.Response:
            return await http.post(
                f"{self.api_url}/api/datasets/upload-url",
                json={"filename": f"bench-{n}.csv", "size_bytes": len(CSV_BODY)},
                headers=self.headers(client),
            )

        return job

    def confirm_job(self, upload_id: str) -> Job:
        async def job(http: httpx.AsyncClient, client: int) -> httpx.Response:
            return await http.post(
                f"{self.api_url}/api/datasets/confirm",
                json={"upload_id": upload_id, "dataset_name": f"bench {upload_id}"},
                headers=self.headers(client),
            )

        return job

    async def measure(
        self, operation: str, clients: int, jobs: list[list[Job]], expected: int
    ) -> tuple[Row, list[httpx.Response]]:
        row = Row(operation, clients)
        prefect_pids = process_group_pids(self.prefect_pgid)
        before = (
            _cpu_seconds(self.api_pids),
            _cpu_seconds(prefect_pids),
            _cpu_seconds(self.s3_pids),
            time.process_time(),
        )
        log_offset = self.prefect_log.stat().st_size
        responses = await run_load(clients, jobs, expected, row)
        row.api_cpu = _cpu_seconds(self.api_pids) - before[0]
        row.prefect_cpu = _cpu_seconds(prefect_pids) - before[1]
        row.s3_cpu = _cpu_seconds(self.s3_pids) - before[2]
        row.client_cpu = time.process_time() - before[3]
        with self.prefect_log.open("rb") as log:
            log.seek(log_offset)
            row.prefect_busy = log.read().count(PREFECT_BUSY_LINE)
        return row, responses

    async def put_uploads(self, clients: int, count: int) -> list[list[str]]:
        """Untimed: `count` uploads split over the clients' users, each asked for and its file
        PUT to the presigned URL; returns each client's upload ids."""
        upload_ids: list[list[str]] = [[] for _ in range(clients)]

        def job(n: int) -> Job:
            async def upload(http: httpx.AsyncClient, client: int) -> httpx.Response:
                answer = await self.upload_url_job(n)(http, client)
                if answer.status_code != 200:
                    return answer
                body = answer.json()
                stored = await http.put(
                    body["upload_url"], headers=body["headers"], content=CSV_BODY
                )
                if stored.status_code == 200:
                    upload_ids[client].append(body["upload_id"])
                return stored

            return upload

        setup = Row("set-up", clients)
        await run_load(clients, split([job(n) for n in range(count)], clients), 200, setup)
        if setup.errors:
            raise RuntimeError(f"the confirm set-up failed: {dict(setup.errors)}")
        return upload_ids

    def wait_for_runs(self, version_ids: list[str]) -> None:
        """Until the catalog records a run for every version (the dispatcher creates them)."""
        from sqlalchemy import func, select

        from catalog.database import catalog_for
        from catalog.tables import DatasetVersion

        deadline = time.monotonic() + REQUEST_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            with catalog_for(self.catalog_url).session() as session:
                waiting = session.execute(
                    select(func.count()).where(
                        DatasetVersion.id.in_(version_ids), DatasetVersion.flow_run_id.is_(None)
                    )
                ).scalar_one()
            if not waiting:
                return
            time.sleep(0.05)
        raise RuntimeError(f"runs still missing after {REQUEST_TIMEOUT_SECONDS:.0f} s")

    async def run(
        self, client_counts: list[int], requests: int, report: Callable[[Row], None]
    ) -> list[Row]:
        """Every row of the run; `report` is told each as it ends (a run takes minutes)."""
        rows: list[Row] = []
        # Warm-up (untimed): first requests load code paths and open the Prefect connections.
        warm = await self.put_uploads(1, 3)
        await run_load(1, [[self.upload_url_job(-1)] * 3], 200, Row("warm-up", 1))
        await run_load(1, [[self.confirm_job(u) for u in warm[0]]], 202, Row("warm-up", 1))
        for clients in client_counts:
            jobs = split([self.upload_url_job(n) for n in range(requests)], clients)
            row, _ = await self.measure("upload-url", clients, jobs, 200)
            report(row)
            rows.append(row)

            upload_ids = await self.put_uploads(clients, requests)
            confirms = [[self.confirm_job(u) for u in ids] for ids in upload_ids]
            started = time.perf_counter()
            row, responses = await self.measure("confirm", clients, confirms, 202)
            first = {r.json()["version_id"]: r.json() for r in responses if r.status_code == 202}
            row.without_run = sum(1 for body in first.values() if body["flow_run_id"] is None)
            await asyncio.to_thread(self.wait_for_runs, list(first))
            row.all_runs_seconds = time.perf_counter() - started
            report(row)
            rows.append(row)

            row, responses = await self.measure(
                "confirm again (idempotent)", clients, confirms, 202
            )
            report(row)
            rows.append(row)
            changed = sum(
                1
                for r in responses
                if r.status_code == 202
                and r.json()["version_id"] in first
                and _same_run(first[r.json()["version_id"]], r.json()) is False
            )
            if changed:
                print(f"  !! {changed} repeat confirms answered differently from the first")
        return rows


def _same_run(first: dict[str, Any], again: dict[str, Any]) -> bool:
    """Whether a repeated confirm answered as the first (which may not have known the run)."""
    if first["flow_run_id"] is None:
        first = {**first, "flow_run_id": again["flow_run_id"]}
    return first == again


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
