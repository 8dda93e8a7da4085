"""The load driver: N simulated users at once, each in a bounded loop of uploads through the
HTTP protocol (upload-url, presigned PUT to the store, confirm), timing every request.

It runs in a process of its own (`driver_process`), on asyncio and httpx, so that its CPU is
measured apart from the servers' and the caller's. It imports nothing of the project but the
client's confirm retry delays: the child starts fast and holds no Prefect or database state.

Each user's first upload creates a dataset, and is confirmed twice at once (a client retrying
a confirm that seemed lost): both answers must be the same, and no second version may appear.
Later uploads are new versions of that dataset. A confirm answered 503 is tried again after
the delays `automl upload` waits (api/client.py), as a client would; every answer counts in the
error table.

The anchor mode runs the same loop against a bare route (`bare_url`: a FastAPI route that does
nothing, for upload-url and confirm) and raw presigned PUTs the caller made to another bucket,
so that the same client, concurrency and mix give the figures our routes are compared with.
"""

from __future__ import annotations

import asyncio
import math
import multiprocessing
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx

from api.client import CONFIRM_RETRY_DELAYS

UPLOAD_URL = "POST /api/datasets/upload-url"
PUT = "PUT presigned URL (store)"
CONFIRM = "POST /api/datasets/confirm"
ROUTES = (UPLOAD_URL, PUT, CONFIRM)
REQUEST_TIMEOUT_SECONDS = 120.0


def csv_body(user: int, round_: int) -> bytes:
    """A small CSV, different for every user and round (its size varies a little too)."""
    rows = "".join(f"{i},{user},{round_},{(i * 7 + user) % 97}.25\n" for i in range(20 + user % 7))
    return f"id,user,round,value\n{rows}".encode()


@dataclass(frozen=True)
class UserPlan:
    """One simulated user: its id, token, and (anchor mode) one raw PUT URL per round."""

    index: int
    user_id: str
    token: str
    raw_puts: tuple[tuple[str, dict[str, str]], ...] = ()


@dataclass(frozen=True)
class DrivePlan:
    api_url: str  # in anchor mode, the bare app's URL
    users: tuple[UserPlan, ...]
    rounds: int
    anchor: bool = False
    double_confirm: bool = True


@dataclass
class RouteStats:
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)  # HTTP status or exception name

    def add(self, seconds: float, outcome: str) -> None:
        self.latencies.append(seconds)
        self.outcomes[outcome] += 1

    @property
    def requests(self) -> int:
        return len(self.latencies)

    def percentile_ms(self, q: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return math.nan
        return ordered[max(math.ceil(q / 100 * len(ordered)) - 1, 0)] * 1000

    def errors(self, expected: str) -> Counter[str]:
        return Counter({k: v for k, v in self.outcomes.items() if k != expected})


@dataclass(frozen=True)
class Confirmed:
    """An upload the API accepted: what the checks compare the catalog and store with."""

    user_id: str
    upload_id: str
    dataset_id: str
    version_id: str
    flow_run_id: str | None  # None: answered before its run existed (read from the catalog)
    size_bytes: int


@dataclass
class DriveResult:
    routes: dict[str, RouteStats] = field(default_factory=lambda: {r: RouteStats() for r in ROUTES})
    uploads: RouteStats = field(default_factory=RouteStats)  # the three steps of one upload
    confirmed: list[Confirmed] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # uploads that did not end confirmed
    repeat_mismatches: list[str] = field(default_factory=list)
    wall_seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process's (the driver's) CPU time over the run
    first_request: float = 0.0  # time.time() of the start and end, for the caller's clock
    last_answer: float = 0.0

    @property
    def attempted(self) -> int:
        return len(self.confirmed) + len(self.failures)


EXPECTED = {UPLOAD_URL: "200", PUT: "200", CONFIRM: "202"}


class _Driver:
    def __init__(self, plan: DrivePlan, http: httpx.AsyncClient, result: DriveResult) -> None:
        self.plan = plan
        self.http = http
        self.result = result

    async def _timed(
        self, route: str, send: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            response = await send()
        except httpx.HTTPError as exc:
            self.result.routes[route].add(time.perf_counter() - started, type(exc).__name__)
            return None
        self.result.routes[route].add(time.perf_counter() - started, str(response.status_code))
        return response

    def _api(self, user: UserPlan, path: str, body: dict[str, Any]) -> Awaitable[httpx.Response]:
        if self.plan.anchor:
            path = "/bare"
        return self.http.post(
            f"{self.plan.api_url}{path}",
            json=body,
            headers={"Authorization": f"Bearer {user.token}"},
        )

    async def _confirm(self, user: UserPlan, body: dict[str, Any]) -> httpx.Response | None:
        for delay in (*CONFIRM_RETRY_DELAYS, None):
            answer = await self._timed(
                CONFIRM, lambda: self._api(user, "/api/datasets/confirm", body)
            )
            if answer is None or answer.status_code != 503 or delay is None:
                return answer
            await asyncio.sleep(delay)
        return None

    async def upload(self, user: UserPlan, round_: int, dataset_id: str | None) -> str | None:
        """One upload, its three steps; returns its dataset id once confirmed."""
        content = csv_body(user.index, round_)
        failed = f"{user.user_id} round {round_}"
        answer = await self._timed(
            UPLOAD_URL,
            lambda: self._api(
                user,
                "/api/datasets/upload-url",
                {"filename": f"load-{round_}.csv", "size_bytes": len(content)},
            ),
        )
        if answer is None or answer.status_code != 200:
            self.result.failures.append(f"{failed}: upload-url {_describe(answer)}")
            return None
        if self.plan.anchor:
            url, headers = user.raw_puts[round_]
            upload_id = f"anchor-{user.index}-{round_}"
        else:
            plan = answer.json()
            url, headers, upload_id = plan["upload_url"], plan["headers"], plan["upload_id"]
        stored = await self._timed(
            PUT, lambda: self.http.put(url, headers=headers, content=content)
        )
        if stored is None or stored.status_code != 200:
            self.result.failures.append(f"{failed}: PUT {_describe(stored)}")
            return None
        body: dict[str, Any] = {"upload_id": upload_id, "dataset_name": f"load {user.user_id}"}
        if dataset_id is not None:
            body["dataset_id"] = dataset_id
        twice = self.plan.double_confirm and round_ == 0
        answers = await asyncio.gather(
            *(self._confirm(user, body) for _ in range(2 if twice else 1))
        )
        first = answers[0]
        if first is None or first.status_code != 202:
            self.result.failures.append(f"{failed}: confirm {_describe(first)}")
            return None
        if any(not _same_ids(_ids(a), _ids(first)) for a in answers[1:]):
            self.result.repeat_mismatches.append(f"{failed}: {[_describe(a) for a in answers]}")
        if self.plan.anchor:
            self.result.confirmed.append(
                Confirmed(user.user_id, upload_id, "", "", "", len(content))
            )
            return "anchor"
        confirmed = first.json()
        self.result.confirmed.append(
            Confirmed(
                user.user_id,
                upload_id,
                confirmed["dataset_id"],
                confirmed["version_id"],
                confirmed["flow_run_id"],
                len(content),
            )
        )
        return str(confirmed["dataset_id"])

    async def user_loop(self, user: UserPlan) -> None:
        dataset_id: str | None = None
        for round_ in range(self.plan.rounds):
            started = time.perf_counter()
            confirmed = await self.upload(user, round_, dataset_id)
            self.result.uploads.add(time.perf_counter() - started, "ok" if confirmed else "failed")
            if confirmed is not None and not self.plan.anchor:
                dataset_id = confirmed


def _ids(answer: httpx.Response | None) -> tuple[Any, ...] | None:
    """What a repeated confirm must answer the same (the status may have moved on)."""
    if answer is None or answer.status_code != 202:
        return None
    body = answer.json()
    return tuple(body.get(k) for k in ("dataset_id", "version_id", "flow_run_id"))


def _same_ids(one: tuple[Any, ...] | None, other: tuple[Any, ...] | None) -> bool:
    """The same ids, where an answer given before the run existed (`flow_run_id` null) matches
    any run id (docs/spec.md §3.2: confirm may answer before its run is created)."""
    if one is None or other is None:
        return one is other
    if one[2] is None or other[2] is None:
        return one[:2] == other[:2]
    return one == other


def _describe(response: httpx.Response | None) -> str:
    if response is None:
        return "no answer (connection error or timeout)"
    return f"HTTP {response.status_code} {response.text[:200]}"


async def _drive(plan: DrivePlan) -> DriveResult:
    result = DriveResult()
    # One pool for all users (each request carries its user's token): at most one connection
    # per request in flight, to the API and to the store.
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=3 * len(plan.users))
    async with httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, limits=limits) as http:
        driver = _Driver(plan, http, result)
        cpu_before = time.process_time()
        result.first_request = time.time()
        started = time.perf_counter()
        await asyncio.gather(*(driver.user_loop(user) for user in plan.users))
        result.wall_seconds = time.perf_counter() - started
        result.last_answer = time.time()
        result.cpu_seconds = time.process_time() - cpu_before
    return result


def drive(plan: DrivePlan) -> DriveResult:
    """Runs the plan in this process (the child `driver_process` starts)."""
    return asyncio.run(_drive(plan))


def _ready() -> bool:
    return True


@contextmanager
def driver_process() -> Iterator[Callable[[DrivePlan], DriveResult]]:
    """A new (spawned) process, started and warm before the first plan: `drive(plan)` runs a
    plan there and returns its result, so a phase's wall time holds no process start."""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        pool.submit(_ready).result()
        yield lambda plan: pool.submit(drive, plan).result()
