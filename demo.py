"""`automl demo`: the bundled sample through the whole HTTP path (token, upload-url, PUT,
confirm, ingestion, training, plots) against a running stack, or one it starts for the purpose."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from api.client import UploadClient
from core.errors import AutomlError
from core.settings import Settings
from core.statuses import JobStatus, VersionStatus
from samples.generate import SAMPLE
from stack import Endpoints
from stack_process import StackProcess, StackStartError, ready_endpoints

SAMPLE_TARGET = "churned"
DEMO_USER = "demo"
DEMO_TIER = "free"
# The demo revokes its token when it ends; this bounds it should the process be killed first.
DEMO_TOKEN_LIFETIME = timedelta(days=1)
POLL_SECONDS = 0.5


class DemoError(AutomlError):
    """A step of the demo failed; the message says which and why."""

    code = "demo_failed"


@dataclass(frozen=True)
class StackAccess:
    """Where the demo talks to: the HTTP API, and the Prefect UI when known."""

    api_url: str
    prefect_ui_url: str | None


def _access(endpoints: Endpoints) -> StackAccess:
    assert endpoints.api_url is not None  # `ready_endpoints` found it answering
    return StackAccess(endpoints.api_url, endpoints.prefect_ui_url)


@contextmanager
def started_stack(
    settings: Settings, console: Console, keep_running: bool = False
) -> Iterator[StackAccess]:
    """`automl up` in a child process for as long as the demo runs (or, with `keep_running`,
    until Ctrl-C); stopped as Ctrl-C stops it, so nothing is left behind."""
    stack = StackProcess(settings.data_dir)
    stack.start()
    started = time.monotonic()
    try:
        with console.status(f"starting the local stack (log: {stack.log_path})"):
            try:
                endpoints = stack.wait_ready(poll_seconds=POLL_SECONDS)
            except StackStartError as exc:
                raise DemoError(str(exc)) from None
        console.print(f"started the local stack in {time.monotonic() - started:.1f} s")
        yield _access(endpoints)
        if keep_running:
            console.print("the local stack keeps serving; press Ctrl-C to stop it")
            with suppress(KeyboardInterrupt):  # the way to end it, not a failure
                stack.process.wait()
        else:
            console.print("stopping the local stack the demo started (`automl up` keeps one)")
    finally:
        stack.stop()


@contextmanager
def demo_token(settings: Settings) -> Iterator[str]:
    """A token of the demo user in the local catalog (the one the local stack uses), revoked
    when the demo ends, however it ends (a failed step, Ctrl-C): a demo token never outlives
    its demo. It lives at most a day even if the revoke itself cannot run (the process
    killed)."""
    from catalog.accounts import create_token, revoke_token
    from catalog.database import Catalog, migrate

    migrate(settings.catalog_url)
    catalog = Catalog(settings.catalog_url)
    try:
        with catalog.session() as session:
            token = create_token(
                session, settings, DEMO_USER, DEMO_TIER, expires_in=DEMO_TOKEN_LIFETIME
            )
        try:
            yield token
        finally:
            with catalog.session() as session:
                revoke_token(session, token)
    finally:
        catalog.dispose()


class Steps:
    """Prints each step and each state a wait goes through, with the seconds it took."""

    def __init__(self, console: Console, timeout: float) -> None:
        self.console = console
        self.timeout = timeout

    def wait_for(
        self,
        what: str,
        read: Callable[[], dict[str, Any]],
        state: Callable[[dict[str, Any]], str],
        done: str,
        failed: frozenset[str] = frozenset({VersionStatus.FAILED, JobStatus.FAILED}),
    ) -> dict[str, Any]:
        """Polls `read` until `state` is `done`; a failed state is an error with its reason."""
        started = time.monotonic()
        seen: str | None = None
        with self.console.status(f"waiting for {what}") as status:
            while True:
                current = read()
                now = state(current)
                elapsed = time.monotonic() - started
                if now != seen:
                    self.console.print(f"  {what}: {now} ({elapsed:.1f} s)", highlight=False)
                    seen = now
                if now == done:
                    return current
                if now in failed:
                    reason = current.get("error") or "no reason recorded"
                    raise DemoError(f"{what} failed: {reason}")
                if elapsed > self.timeout:
                    raise DemoError(f"{what} is still {now} after {self.timeout:.0f} s")
                status.update(f"waiting for {what}: {now} ({elapsed:.0f} s)")
                time.sleep(POLL_SECONDS)


@dataclass(frozen=True)
class DemoOutcome:
    """What the demo made, as the API returned it."""

    dataset_id: str
    version: dict[str, Any]
    dataset_url: str
    job: dict[str, Any]
    model: dict[str, Any]
    plots: list[dict[str, Any]]


def run_demo(client: UploadClient, console: Console, timeout: float) -> DemoOutcome:
    """The sample through upload, ingestion, training and plots; raises DemoError on a failure."""
    steps = Steps(console, timeout)
    console.print(f"uploading {SAMPLE.name} ({SAMPLE.stat().st_size:,} bytes)", highlight=False)
    confirmed = client.upload(SAMPLE, "customer-churn (demo)")
    dataset_id, version_id = confirmed["dataset_id"], confirmed["version_id"]
    console.print(
        f"  confirmed: version {version_id}, ingestion run {confirmed['flow_run_id']}",
        soft_wrap=True,
    )
    version_path = f"/api/datasets/{dataset_id}/versions/{version_id}"
    version = steps.wait_for(
        "ingestion",
        lambda: client.request("GET", version_path),
        lambda v: v["status"],
        VersionStatus.READY,
    )
    dataset_url = client.request("GET", f"{version_path}/download-url")["url"]

    console.print(f"training a model to predict {SAMPLE_TARGET!r}", highlight=False)
    started = client.request(
        "POST", "/api/jobs/train", {"version_id": version_id, "target": SAMPLE_TARGET}
    )
    job_id = started["job_id"]
    console.print(
        f"  job {job_id} ({started['task_type']}), run {started['flow_run_id']}", soft_wrap=True
    )
    job = steps.wait_for(
        "training",
        lambda: client.request("GET", f"/api/jobs/{job_id}"),
        lambda j: j["status"],
        JobStatus.SUCCEEDED,
    )
    model = client.request("GET", f"/api/models/{job_id}")
    plots = steps.wait_for(
        "plots",
        lambda: client.request("GET", f"/api/jobs/{job_id}/plots"),
        lambda p: "rendered" if p["rendered"] else f"{len(p['plots'])} drawn",
        "rendered",
    )
    return DemoOutcome(dataset_id, version, dataset_url, job, model, plots["plots"])


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:,.4g}"
    return "" if value is None else str(value)


def _column_summary(column: dict[str, Any]) -> str:
    if column.get("kind") == "numeric":
        return (
            f"{_number(column.get('min'))} .. {_number(column.get('max'))}, "
            f"mean {_number(column.get('mean'))}"
        )
    top = column.get("top_values") or []
    return ", ".join(f"{item['value']} ({item['count']})" for item in top[:3])


def print_outcome(console: Console, outcome: DemoOutcome, prefect_ui_url: str | None) -> None:
    """The profile summary, the model's metrics and every presigned URL."""
    version = outcome.version
    profile = version.get("profile") or {}
    table = Table(
        "column", "type", "nulls", "distinct", "values",
        title=(
            f"dataset {outcome.dataset_id}: {version['row_count']:,} rows x "
            f"{version['column_count']} columns, Parquet {version['size_bytes']:,} bytes"
        ),
    )  # fmt: skip
    for column in profile.get("columns", []):
        table.add_row(
            column["name"],
            column["type"],
            str(column["null_count"]),
            str(column["distinct_count"]),
            _column_summary(column),
        )
    console.print(table)

    metadata = outcome.model["metadata"]
    console.print(
        f"model {metadata['chosen']['name']}: {metadata['task_type']} of "
        f"{metadata['target']!r}, chosen by {metadata['selection_metric']} among "
        f"{len(metadata['candidates'])} candidates in {metadata['training_seconds']:.1f} s",
        highlight=False,
    )
    metrics = Table("held-out metric", "value")
    for name, value in sorted((outcome.job.get("metrics") or {}).items()):
        if isinstance(value, int | float):
            metrics.add_row(name, _number(value))
    console.print(metrics)

    console.print("presigned URLs (valid for a limited time):", highlight=False)
    links = [
        ("dataset (Parquet)", outcome.dataset_url),
        ("model.joblib", outcome.model["download_url"]),
    ]
    links += [(f"plot {plot['name']}", plot["url"]) for plot in outcome.plots]
    for label, url in links:
        console.print(f"  {label}: {url}", highlight=False, soft_wrap=True)
    if prefect_ui_url:
        console.print(f"flow runs in the Prefect UI: {prefect_ui_url}/runs", highlight=False)


def local_stack_access(settings: Settings) -> StackAccess | None:
    """The running local stack of this data dir, if any."""
    endpoints = ready_endpoints(settings.data_dir)
    return _access(endpoints) if endpoints is not None else None
