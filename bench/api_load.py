"""The load bench/api.py measures: concurrent clients on asyncio + httpx, each with its own user
and token, timing upload-url, confirm and the repeated confirm; each row's latencies, errors, and
the CPU time of the API, the Prefect server, the S3 server and the clients over the row."""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from bench.http_stack import CSV_BODY, wait_for_runs
from bench.process_cpu import cpu_seconds, process_group_pids

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
            await asyncio.to_thread(wait_for_runs, self.catalog_url, list(first))
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
