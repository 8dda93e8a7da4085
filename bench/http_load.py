"""Benchmark: the API's hot routes under `wrk`, beside a bare FastAPI route in the same run.

    python3 -m uv run python -m bench.http_load [--catalog sqlite,postgresql]
        [--connections 1,8,32,128] [--seconds 5] [--confirms 100] [--paced-clients 32]
        [--paced-fraction 0.4] [--api-cpu N]

Everything is real and binds 127.0.0.1 (bench/http_stack.py): the embedded S3 server (moto) in
its own process, a Prefect server with the `ingest-dataset` deployment applied (not served, so
the runs confirm creates stay scheduled), and the API under uvicorn with one worker, as `automl
up` serves it, in a process of its own over the catalog asked for (SQLite in the data dir, or a
throwaway PostgreSQL cluster, tests/support/postgres.py). One user and token per connection
(enterprise tier, no limit of ingestions in flight). The anchor is a FastAPI route that does
nothing, served the same way (bench/anchors.py), sent the same body.

For each catalog and connection count, closed-loop (each connection sends its next request when
the last is answered; the server is saturated from 2 connections on):
- `POST /bare` (the anchor),
- `POST /api/datasets/upload-url` (a small CSV declared),
- `POST /api/datasets/confirm` of uploads PUT in an untimed set-up (each once; the run stops
  after `--confirms` answers or twice `--seconds`, whichever first),
- the same confirm repeated (uploads confirmed in the set-up: the idempotent path).

Then paced rows at `--paced-clients` connections: each connection waits between requests so
that all of them together offer `--paced-fraction` of the route's own 1-connection rate, a load
below capacity: there p99 against the route's p50 at 1 connection shows what concurrency costs
beside queueing (closed-loop, Little's law puts latency at connections / throughput for any
route). "CPU ms / request" is the serving process's CPU time per answer: the work a request
costs, which other load on the machine does not inflate the way it inflates latency.
`--api-cpu N` runs both APIs on core N and everything else on the other cores (bench/cpus.py):
a load generator that does not take the cores it measures. "others on API core" is then the
share of that core that any other process took during the row (this machine is shared): a tail
measured while it was more than a few percent is partly theirs; "wrk's cores busy" how busy
the other cores were. Nothing is asserted: it prints
tables (docs/benchmarks.md, "HTTP routes").
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from bench.anchors import bare_api
from bench.cpus import CoreUse, CoreWatch, cpu_note, give_api_its_own_cpu
from bench.http_stack import (
    CSV_BODY,
    ApiUnderTest,
    api_process,
    put_uploads,
    shared_services,
    wait_for_runs,
)
from bench.ports import positive_ints
from bench.process_cpu import cpu_seconds
from bench.stalls import StallMeter, Stalls
from bench.wrk import WrkRow, run_wrk_requests

BARE, UPLOAD_URL, CONFIRM, REPEAT = (
    "bare route",
    "upload-url",
    "confirm (first)",
    "confirm again (idempotent)",
)
EXPECTED = {BARE: 200, UPLOAD_URL: 200, CONFIRM: 202, REPEAT: 202}
UPLOAD_BODY = json.dumps({"filename": "wrk.csv", "size_bytes": len(CSV_BODY)})
REPEAT_POOL = 32  # uploads confirmed in the set-up that the repeated confirms cycle through
# After a first-confirm row the API still works through the confirms wrk left in flight (a
# sync route cannot be cancelled): the next row starts once a repeated confirm answers fast.
SETTLE_TIMEOUT_SECONDS = 180.0


@dataclass(frozen=True)
class Measured:
    catalog: str
    paced: bool
    row: WrkRow
    server_cpu: float  # the serving process's CPU over the row's wall time
    load_average: float
    offered: float = 0.0  # paced rows: the rate all connections together offer
    # With --api-cpu: what processes other than the two APIs took of their core over the row
    # (other sessions, the kernel's interrupts, a hypervisor's other guests), and how busy the
    # other cores were (wrk, the database, the servers: a load generator on a saturated core
    # reads answers late, whatever the route does).
    cores: CoreUse | None = None
    stalls: Stalls | None = None  # how late wrk's cores woke a sleeper (bench/stalls.py)

    def others_cell(self) -> str:
        return "-" if self.cores is None else f"{self.cores.others_on_api_core:.1%}"

    def wrk_cores_cell(self) -> str:
        return "-" if self.cores is None else f"{self.cores.wrk_cores_busy:.0%}"

    def stalls_cell(self) -> str:
        return "-" if self.stalls is None else self.stalls.cell()


@dataclass
class CatalogRun:
    """The rows of one catalog, and what the ratios are taken against."""

    catalog: str
    rows: list[Measured]
    served_pids: tuple[int, ...]  # both APIs, ours and the bare anchor

    def find(self, target: str, connections: int, paced: bool = False) -> Measured | None:
        for measured in self.rows:
            row = measured.row
            if (row.target, row.connections, measured.paced) == (target, connections, paced):
                return measured
        return None


def measure(
    run: CatalogRun,
    pid: int,
    target: str,
    work: Callable[[], WrkRow],
    paced: bool = False,
    offered: float = 0.0,
) -> Measured:
    load = os.getloadavg()[0]
    cores, meter = CoreWatch(run.served_pids), StallMeter()
    before, started = cpu_seconds(pid, tree=False), time.perf_counter()
    cores.start()
    meter.start()
    row = work()
    stalls, core_use = meter.stop(), cores.stop()
    cpu = (cpu_seconds(pid, tree=False) - before) / (time.perf_counter() - started)
    measured = Measured(run.catalog, paced, row, cpu, load, offered, core_use, stalls)
    run.rows.append(measured)
    print(
        f"[{run.catalog}] {target}, {row.connections} connections{' paced' if paced else ''}: "
        f"{row.rate:,.1f} req/s, p50 {row.p50_ms:.1f} ms, p99 {row.p99_ms:.1f} ms, "
        f"statuses {row.statuses or '-'}, socket errors {row.socket_errors}",
        flush=True,
    )
    return measured


def settle(confirm_url: str, item: tuple[str, str]) -> None:
    """Waits until a repeated confirm answers within 50 ms twice in a row (or the timeout)."""
    token, body = item
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    deadline, fast = time.monotonic() + SETTLE_TIMEOUT_SECONDS, 0
    with httpx.Client(timeout=SETTLE_TIMEOUT_SECONDS) as http:
        while fast < 2 and time.monotonic() < deadline:
            started = time.perf_counter()
            http.post(confirm_url, content=body, headers=headers)
            fast = fast + 1 if time.perf_counter() - started < 0.05 else 0
            time.sleep(0.2)


def run_catalog(
    catalog: str,
    api: ApiUnderTest,
    bare_url: str,
    bare_pid: int,
    args: argparse.Namespace,
) -> CatalogRun:
    run = CatalogRun(catalog, [], (api.pid, bare_pid))
    upload_url = f"{api.url}/api/datasets/upload-url"
    confirm_url = f"{api.url}/api/datasets/confirm"
    bare_items = [("", UPLOAD_BODY)]
    upload_items = [(token, UPLOAD_BODY) for token in api.tokens]
    repeat_items = put_uploads(api, min(REPEAT_POOL, len(api.tokens)), confirm=True)
    wait_for_runs(api.catalog_url)  # the dispatcher's run creations are not the routes' cost
    seconds = args.seconds
    # Warm-up (untimed): first requests load code paths and fill the connection pools.
    run_wrk_requests(BARE, f"{bare_url}/bare", bare_items, 1, 1)
    run_wrk_requests(UPLOAD_URL, upload_url, upload_items, 1, 1)
    run_wrk_requests(REPEAT, confirm_url, repeat_items, 1, 1)
    for c in args.connections:
        wrk = partial(run_wrk_requests, connections=c, seconds=seconds)
        measure(run, bare_pid, BARE, partial(wrk, BARE, f"{bare_url}/bare", bare_items))
        measure(run, api.pid, UPLOAD_URL, partial(wrk, UPLOAD_URL, upload_url, upload_items))
        if args.confirms:
            fresh = put_uploads(api, args.confirms + c)
            first = partial(wrk, CONFIRM, confirm_url, fresh, limit=args.confirms)
            measure(run, api.pid, CONFIRM, partial(first, seconds=2 * seconds))
            settle(confirm_url, repeat_items[0])
            wait_for_runs(api.catalog_url)
        measure(run, api.pid, REPEAT, partial(wrk, REPEAT, confirm_url, repeat_items))
    if args.paced_clients:
        paced = args.paced_clients
        for target, url, items, pid in (
            (BARE, f"{bare_url}/bare", bare_items, bare_pid),
            (UPLOAD_URL, upload_url, upload_items, api.pid),
            (REPEAT, confirm_url, repeat_items, api.pid),
        ):
            alone = run.find(target, 1)
            if alone is None:
                print(f"[{catalog}] {target} paced: no 1-connection row to pace against")
                continue
            offered = args.paced_fraction * alone.row.rate
            # Each connection's cycle is its wait plus the answer's time.
            pace_ms = paced / offered * 1000 - alone.row.p50_ms
            if pace_ms <= 0:
                print(f"[{catalog}] {target} paced: {paced} connections cannot offer that little")
                continue
            work = partial(
                run_wrk_requests, target, url, items, paced, args.paced_seconds, pace_ms=pace_ms
            )
            measure(run, pid, target, work, paced=True, offered=offered)
    return run


# --- tables -------------------------------------------------------------------------------------


def print_closed(runs: list[CatalogRun]) -> None:
    print()
    print(
        "| catalog | route | clients | req/s | p50 ms | p99 ms | errors | req/s vs bare "
        "| p99 / own p50 at 1 client | server CPU | CPU ms / request | others on API core "
        "| wrk's cores busy | machine stalls | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        for m in (m for m in run.rows if not m.paced):
            row = m.row
            bare = run.find(BARE, row.connections)
            alone = run.find(row.target, 1)
            ratio = f"{row.rate / bare.row.rate:.0%}" if bare and bare.row.rate else "-"
            tail = f"{row.p99_ms / alone.row.p50_ms:,.1f}x" if alone and alone.row.p50_ms else "-"
            # The serving process's CPU per answer: the work, whatever else shares the cores.
            cpu_per_request = f"{m.server_cpu / row.rate * 1000:.2f}" if row.rate else "-"
            print(
                f"| {run.catalog} | {row.target} | {row.connections} | {row.rate:,.1f} "
                f"| {row.p50_ms:,.1f} | {row.p99_ms:,.1f} | {row.unexpected(EXPECTED[row.target])} "
                f"| {ratio} | {tail} | {m.server_cpu:.0%} | {cpu_per_request} "
                f"| {m.others_cell()} | {m.wrk_cores_cell()} | {m.stalls_cell()} "
                f"| {m.load_average:.1f} |"
            )


def print_paced(runs: list[CatalogRun]) -> None:
    print()
    print(
        "| catalog | route | clients | offered req/s | answered req/s | p50 ms | p99 ms "
        "| errors | own p50 at 1 client ms | p99 / own p50 at 1 client | server CPU "
        "| others on API core | wrk's cores busy | machine stalls | load avg |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        for m in (m for m in run.rows if m.paced):
            row = m.row
            alone = run.find(row.target, 1)
            p50_alone = alone.row.p50_ms if alone else float("nan")
            print(
                f"| {run.catalog} | {row.target} | {row.connections} | {m.offered:,.1f} "
                f"| {row.rate:,.1f} | {row.p50_ms:,.1f} | {row.p99_ms:,.1f} "
                f"| {row.unexpected(EXPECTED[row.target])} | {p50_alone:,.1f} "
                f"| {row.p99_ms / p50_alone:,.1f}x | {m.server_cpu:.0%} | {m.others_cell()} "
                f"| {m.wrk_cores_cell()} | {m.stalls_cell()} | {m.load_average:.1f} |"
            )


# --- main ---------------------------------------------------------------------------------------


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.http_load",
        description="req/s and p50/p99 of upload-url and confirm under wrk, beside a bare "
        "FastAPI route in the same run, on SQLite and PostgreSQL catalogs.",
    )
    parser.add_argument("--catalog", default="sqlite,postgresql", help="sqlite,postgresql")
    parser.add_argument("--connections", type=positive_ints, default=[1, 8, 32, 128])
    parser.add_argument("--seconds", type=float, default=5.0, help="per closed-loop row")
    parser.add_argument(
        "--confirms", type=int, default=100, help="first confirms per row (0: none)"
    )
    parser.add_argument("--paced-clients", type=int, default=32, help="0: no paced rows")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument(
        "--paced-fraction",
        type=float,
        default=0.4,
        help="paced rows offer this share of the route's own 1-connection rate (default 0.4: "
        "the load issue 16's p99 rule is judged at, docs/benchmarks.md round 9)",
    )
    parser.add_argument(
        "--api-cpu",
        type=int,
        default=None,
        help="both APIs on this core, every other process on the others (default: anywhere)",
    )
    args = parser.parse_args(argv)
    args.catalogs = [c.strip() for c in args.catalog.split(",") if c.strip()]
    if not args.catalogs or set(args.catalogs) - {"sqlite", "postgresql"}:
        parser.error("--catalog takes sqlite and/or postgresql")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed (Debian: apt-get install wrk)")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    if args.api_cpu is not None:
        give_api_its_own_cpu(args.api_cpu)  # before any process starts: they inherit it
    signal.signal(signal.SIGTERM, _raise_interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="automl-bench-http-"))
    users = max([*args.connections, args.paced_clients])
    runs: list[CatalogRun] = []
    started = os.getloadavg()[0]
    try:
        with shared_services(workdir) as services, bare_api() as (bare_url, bare_pid):
            print(f"S3 {services.s3_url}, Prefect {services.prefect_api_url}, bare {bare_url}")
            for catalog in args.catalogs:
                if catalog == "postgresql":
                    from tests.support.postgres import run_postgres

                    with run_postgres() as postgres_url, api_process(postgres_url, users) as api:
                        runs.append(run_catalog(catalog, api, bare_url, bare_pid, args))
                else:
                    with api_process(None, users) as api:
                        runs.append(run_catalog(catalog, api, bare_url, bare_pid, args))
    except KeyboardInterrupt:
        print("interrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores; load average "
        f"{started:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; wrk: 1 thread; "
        f"closed-loop rows {args.seconds:.0f} s, paced rows {args.paced_seconds:.0f} s; "
        f"{cpu_note()}"
    )
    print_closed(runs)
    if any(m.paced for run in runs for m in run.rows):
        print_paced(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
