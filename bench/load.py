"""Benchmark: the upload path under N concurrent users, then proof that nothing was lost.

    python3 -m uv run python -m bench.load [--users 200] [--rounds 2] [--wrk-seconds 10]

Everything is real and binds 127.0.0.1 (tests/support/load_stack.py): a PostgreSQL server
(Debian's package) holding the Prefect server's database and the catalog, `prefect server
start` on it, the embedded S3 server (moto) in a process of its own, and `automl up` over them:
the HTTP API and the Prefect runner that serves `ingest-dataset`, so every confirmed version is
ingested for real. Each user has its own token and uploads `--rounds` small CSVs, one after the
other (upload-url, presigned PUT to the store, confirm; the first one confirmed twice at once),
all users at once (tests/support/load_driver.py, in a process of its own).

Then it waits for every ingestion and checks (tests/support/load_checks.py): every version
ready and only one per upload, one completed run per version, each user's `GET /api/usage`
equal to the bytes the store holds for them (and the catalog's ledger too), no temp object left
but tombstones, and `automl fsck` clean.

Anchors in the same run, under the same client and concurrency: the same loop against a bare
FastAPI route that does nothing (for upload-url and confirm), served by uvicorn like the API,
and raw presigned PUTs to another bucket of the same store; then, if `wrk` is installed, wrk
against the bare route and against `POST /api/datasets/upload-url` (single requests: wrk
cannot chain the protocol's steps across two hosts). CPU columns are each process's CPU time
over the phase's wall time (100% = one core), beside the kernel's count of connections that
found a listen queue full (a client then waits for its SYN retry, 1 s or more). Exit 0 when
every check passed, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.anchors import WrkRow, bare_api, run_wrk
from bench.process_cpu import CpuMeter, cpu_seconds

# --- reporting ----------------------------------------------------------------------------------


def _rate(requests: int, seconds: float) -> str:
    return f"{requests / seconds:,.1f}" if seconds else "-"


def _errors(stats: Any, expected: str) -> str:
    errors = stats.errors(expected)
    return ", ".join(f"{k}: {v}" for k, v in sorted(errors.items())) or "0"


def _ms(value: float) -> str:
    return f"{value:,.1f}"


def print_routes(ours: Any, anchor: Any) -> None:
    from tests.support.load_driver import CONFIRM, EXPECTED, PUT, UPLOAD_URL

    pairs = [
        (UPLOAD_URL, UPLOAD_URL, "bare route"),
        (PUT, PUT, "raw presigned PUT, no API"),
        (CONFIRM, CONFIRM, "bare route"),
    ]
    print()
    print(
        "| route | requests | req/s | p50 ms | p99 ms | errors by status | anchor "
        "| anchor req/s | anchor p50 ms | anchor p99 ms | p50 ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for route, anchor_route, anchor_name in pairs:
        mine, bare = ours.routes[route], anchor.routes[anchor_route]
        print(
            f"| {route} | {mine.requests} | {_rate(mine.requests, ours.wall_seconds)} "
            f"| {_ms(mine.percentile_ms(50))} | {_ms(mine.percentile_ms(99))} "
            f"| {_errors(mine, EXPECTED[route])} | {anchor_name} "
            f"| {_rate(bare.requests, anchor.wall_seconds)} | {_ms(bare.percentile_ms(50))} "
            f"| {_ms(bare.percentile_ms(99))} "
            f"| {mine.percentile_ms(50) / bare.percentile_ms(50):,.1f}x |"
        )
    mine, bare = ours.uploads, anchor.uploads
    print(
        f"| one upload (the 3 steps) | {mine.requests} | {_rate(mine.requests, ours.wall_seconds)} "
        f"| {_ms(mine.percentile_ms(50))} | {_ms(mine.percentile_ms(99))} "
        f"| {_errors(mine, 'ok')} | the same on the anchors "
        f"| {_rate(bare.requests, anchor.wall_seconds)} | {_ms(bare.percentile_ms(50))} "
        f"| {_ms(bare.percentile_ms(99))} "
        f"| {mine.percentile_ms(50) / bare.percentile_ms(50):,.1f}x |"
    )


LISTEN_OVERFLOWS = "listen overflows"


def listen_overflows() -> int:
    """The kernel's count of connections refused because a listening socket's accept queue was
    full (TcpExt ListenOverflows; machine-wide, so other work on the machine counts too): a
    client then retries its SYN after 1 s, 3 s, ..., which shows as latency, not as an error."""
    lines = Path("/proc/net/netstat").read_text().splitlines()
    for names, values in zip(lines[::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            return int(dict(zip(names.split(), values.split(), strict=True))["ListenOverflows"])
    return 0


def print_cpu(phases: list[tuple[str, dict[str, float]]]) -> None:
    roles = [r for r in phases[0][1] if r not in ("wall seconds", LISTEN_OVERFLOWS)]
    print()
    print("| phase | wall s | " + " | ".join(roles) + f" | {LISTEN_OVERFLOWS} (machine) |")
    print("|---|---|" + "---|" * (len(roles) + 1))
    for name, shares in phases:
        cells = " | ".join(f"{shares[r]:.0%}" for r in roles)
        overflows = int(shares.get(LISTEN_OVERFLOWS, 0))
        print(f"| {name} | {shares['wall seconds']:.1f} | {cells} | {overflows} |")


def print_wrk(rows: list[WrkRow]) -> None:
    print()
    print(
        "| wrk target | connections | s | requests | req/s | p50 ms | p99 ms | statuses "
        "| socket errors | wrk CPU |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row.target} | {row.connections} | {row.seconds:.1f} | {row.requests} "
            f"| {_rate(row.requests, row.seconds)} | {_ms(row.p50_ms)} | {_ms(row.p99_ms)} "
            f"| {row.statuses} | {row.socket_errors} | {row.cpu:.0%} |"
        )


# --- the run ------------------------------------------------------------------------------------


def _anchor_puts(stack: Any, users: int, rounds: int) -> tuple[str, list[list[Any]]]:
    """A second bucket on the same store, and a presigned PUT (as the API signs them: type,
    length, If-None-Match) for each user and round."""
    from blocks.presigning import presign_put
    from blocks.storage import build_storage_block
    from tests.support.load_driver import csv_body
    from tests.support.stores import create_bucket

    bucket = f"{stack.settings.r2_bucket_name}-anchor"
    create_bucket(stack.store(), bucket, stack.settings.r2_region)
    block = build_storage_block(stack.settings.model_copy(update={"r2_bucket_name": bucket}))
    puts = [
        [
            presign_put(block, f"anchor/{user}/{round_}.csv", len(csv_body(user, round_)), 3600)
            for round_ in range(rounds)
        ]
        for user in range(users)
    ]
    return bucket, [[(p.url, p.headers) for p in row] for row in puts]


@dataclass
class LoadRun:
    """Everything one run measured, for the report."""

    users: int
    rounds: int
    stack_seconds: float = 0.0
    load_averages: list[tuple[str, float]] = field(default_factory=list)
    anchor: Any = None  # DriveResult
    ours: Any = None  # DriveResult
    phases: list[tuple[str, dict[str, float]]] = field(default_factory=list)
    waited: Any = None  # IngestionWait
    verdict: Any = None  # LoadVerdict
    wrk_rows: list[WrkRow] = field(default_factory=list)

    def note_load(self, moment: str) -> None:
        self.load_averages.append((moment, os.getloadavg()[0]))


def measure(args: argparse.Namespace, workdir: Path) -> LoadRun:
    from sqlalchemy.engine import make_url

    from tests.support.load_checks import check_load, wait_for_ingestions
    from tests.support.load_driver import DrivePlan, UserPlan, driver_process
    from tests.support.load_stack import listening_pid, load_stack, remove_bucket, s3_process
    from tests.support.postgres import run_postgres

    result = LoadRun(args.users, args.rounds)
    result.note_load("start")
    started = time.monotonic()
    with (
        run_postgres() as postgres_url,
        s3_process() as s3,
        load_stack(workdir, postgres_url, s3, args.users) as stack,
        bare_api() as (bare_url, bare_pid),
        driver_process() as drive,
    ):
        result.stack_seconds = time.monotonic() - started
        stack_pid = stack.stack.process.pid
        postgres_pid = listening_pid(make_url(postgres_url).port or 5432)
        meter = CpuMeter(
            {
                "API + runner (automl up)": lambda: cpu_seconds(stack_pid, tree=False),
                "flow runs": lambda: cpu_seconds(stack_pid, tree=True, own=False),
                "Prefect server": lambda: cpu_seconds(stack.prefect_pid, tree=True),
                "PostgreSQL": lambda: cpu_seconds(postgres_pid, tree=True),
                "S3 (moto)": lambda: cpu_seconds(s3.pid, tree=False),
                "bare app": lambda: cpu_seconds(bare_pid, tree=False),
            }
        )
        print(
            f"stack ready in {result.stack_seconds:.0f} s: API {stack.api_url}, Prefect "
            f"{stack.prefect_api_url} and the catalog on PostgreSQL, S3 {s3.url}",
            flush=True,
        )
        users = [UserPlan(i, u, t) for i, (u, t) in enumerate(sorted(stack.tokens.items()))]

        anchor_bucket, puts = _anchor_puts(stack, args.users, args.rounds)
        anchor_users = tuple(
            UserPlan(u.index, u.user_id, u.token, tuple(puts[u.index])) for u in users
        )
        result.note_load("anchors")
        meter.start()
        overflows = listen_overflows()
        result.anchor = drive(DrivePlan(bare_url, anchor_users, args.rounds, anchor=True))
        result.phases.append(("anchors (bare route + raw PUT)", meter.stop()))
        result.phases[-1][1][LISTEN_OVERFLOWS] = listen_overflows() - overflows
        result.phases[-1][1]["driver"] = result.anchor.cpu_seconds / result.anchor.wall_seconds
        remove_bucket(stack.store(), anchor_bucket)
        print(f"anchors: {result.anchor.attempted} uploads", flush=True)

        result.note_load("load")
        meter.start()
        overflows = listen_overflows()
        ours = result.ours = drive(DrivePlan(stack.api_url, tuple(users), args.rounds))
        result.phases.append(("load (driver running)", meter.stop()))
        result.phases[-1][1][LISTEN_OVERFLOWS] = listen_overflows() - overflows
        result.phases[-1][1]["driver"] = ours.cpu_seconds / ours.wall_seconds
        print(f"load: {len(ours.confirmed)} uploads confirmed", flush=True)

        result.note_load("ingestions")
        meter.start()
        overflows = listen_overflows()
        result.waited = wait_for_ingestions(stack.catalog_url, len(ours.confirmed), args.deadline)
        result.phases.append(("ingestions finishing", meter.stop()))
        result.phases[-1][1][LISTEN_OVERFLOWS] = listen_overflows() - overflows
        result.phases[-1][1]["driver"] = 0.0
        result.note_load("checks")
        result.verdict = check_load(
            stack.settings,
            stack.store(),
            stack.api_url,
            stack.prefect_api_url,
            stack.tokens,
            ours.confirmed,
        )
        if shutil.which("wrk") and args.wrk_seconds > 0:
            body = json.dumps({"filename": "wrk.csv", "size_bytes": 1000})
            tokens = [u.token for u in users]
            for target, url in (
                ("POST /bare (bare FastAPI route)", f"{bare_url}/bare"),
                ("POST /api/datasets/upload-url", f"{stack.api_url}/api/datasets/upload-url"),
            ):
                result.wrk_rows.append(
                    run_wrk(target, url, tokens, body, args.users, args.wrk_seconds)
                )
        result.note_load("end")
    return result


def _percentiles(values: list[float]) -> str:
    if not values:
        return "-"
    ordered = sorted(values)
    p50 = ordered[max(math.ceil(0.5 * len(ordered)) - 1, 0)]
    p99 = ordered[max(math.ceil(0.99 * len(ordered)) - 1, 0)]
    return f"p50 {p50:.1f} s, p99 {p99:.1f} s"


def report(result: LoadRun) -> int:
    """Prints the tables and the checks; 0 if every check passed."""
    ours, verdict, waited = result.ours, result.verdict, result.waited
    print(
        f"\n{datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} cores; {result.users} users x "
        f"{result.rounds} uploads; load average "
        + ", ".join(f"{moment} {value:.1f}" for moment, value in result.load_averages)
    )
    print_routes(ours, result.anchor)
    print_cpu(result.phases)
    if result.wrk_rows:
        print_wrk(result.wrk_rows)
    else:
        print("\nwrk: not run (not installed: apt-get install wrk; or --wrk-seconds 0)")
    first = datetime.fromtimestamp(ours.first_request, UTC)
    last_answer = datetime.fromtimestamp(ours.last_answer, UTC)
    print()
    print(
        f"- versions ready / total: {verdict.versions_ready} / {verdict.versions_total} "
        f"(uploads confirmed {len(ours.confirmed)}, failed {len(ours.failures)})"
    )
    if waited.last_update is not None:
        print(
            f"- all ingestions finished {(waited.last_update - first).total_seconds():.1f} s "
            f"after the first request, {(waited.last_update - last_answer).total_seconds():.1f} s "
            f"after the last confirm answered"
        )
    print(
        f"- each ingestion run: created → Running {_percentiles(verdict.run_waits)}; "
        f"Running → Completed {_percentiles(verdict.run_durations)}"
    )
    print(
        f"- usage checked for {verdict.users_checked} users; tombstones under uploads/temp/: "
        f"{verdict.tombstones}"
    )
    print(f"- repeated confirms answered differently: {len(ours.repeat_mismatches)}")
    checked = ", ".join(f"{k} {v}" for k, v in sorted(verdict.fsck_checked.items()))
    fsck_result = f"{len(verdict.fsck)} findings" if verdict.fsck else "clean"
    print(f"- automl fsck --deep: {fsck_result} (checked: {checked})")
    problems = verdict.problems + ours.failures + ours.repeat_mismatches
    if problems:
        print(f"- PROBLEMS ({len(problems)}):")
        for problem in problems[:50]:
            print(f"  - {problem}")
        return 1
    print("- every check passed")
    return 0


def _raise_interrupt(signum: int, _frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.load",
        description="N concurrent users upload and confirm small files through the API of a "
        "real stack (Prefect and the catalog on PostgreSQL); every check of consistency after.",
    )
    parser.add_argument("--users", type=int, default=200, help="concurrent users (default 200)")
    parser.add_argument("--rounds", type=int, default=2, help="uploads per user (default 2)")
    parser.add_argument(
        "--wrk-seconds", type=int, default=10, help="length of each wrk run (0: none; default 10)"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=1800.0,
        help="seconds to wait for the ingestions after the load (default 1800)",
    )
    args = parser.parse_args(argv)
    if args.users < 1 or args.rounds < 1:
        parser.error("--users and --rounds must be at least 1")
    signal.signal(signal.SIGTERM, _raise_interrupt)
    workdir = Path(tempfile.mkdtemp(prefix="automl-bench-load-"))
    try:
        return report(measure(args, workdir))
    except KeyboardInterrupt:
        print("interrupted; stopping the servers", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
