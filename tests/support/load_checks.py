"""What must hold after a load run, read from the catalog, the store, the API and the Prefect
server: every version ready, once; each user's usage equal to the bytes the store holds for
them; no temp object left but the tombstones that keep used upload URLs refused until they
expire (docs/spec.md §3.2); and `automl fsck` clean.

Every finding is a sentence in `LoadVerdict.problems`: empty means consistent.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun
from sqlalchemy import func, select

from blocks.storage import build_storage_block
from catalog.database import Catalog
from catalog.tables import Dataset, DatasetVersion, StoredObject, Upload
from core.settings import Settings
from core.statuses import UploadStatus, VersionStatus
from integrity.fsck import run_fsck
from tests.support.load_driver import Confirmed, DriveResult
from tests.support.load_stack import LoadStack

INGESTION_POLL_SECONDS = 0.5
FINAL_STATUSES = (VersionStatus.READY, VersionStatus.FAILED)
TOMBSTONE_METADATA = {"automl-tombstone": "1"}
PREFECT_PAGE = 200  # the most runs the server answers per request


@dataclass(frozen=True)
class IngestionWait:
    final: int  # versions ready or failed when the wait ended
    total: int
    last_update: datetime | None  # the last version's change to its final status (catalog clock)


def wait_for_ingestions(catalog_url: str, expected: int, deadline_seconds: float) -> IngestionWait:
    """Polls the catalog until `expected` versions are ready or failed, or the deadline."""
    catalog = Catalog(catalog_url)
    deadline = time.monotonic() + deadline_seconds
    try:
        while True:
            with catalog.session() as session:
                final = session.scalar(
                    select(func.count())
                    .select_from(DatasetVersion)
                    .where(DatasetVersion.status.in_(FINAL_STATUSES))
                )
                last = session.scalar(select(func.max(DatasetVersion.updated_at)))
            if (final or 0) >= expected or time.monotonic() > deadline:
                return IngestionWait(final or 0, expected, _as_utc(last))
            time.sleep(INGESTION_POLL_SECONDS)
    finally:
        catalog.dispose()


def _as_utc(moment: datetime | None) -> datetime | None:
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)  # the catalog stores naive UTC on SQLite


@dataclass
class StoreListing:
    """The bucket's objects by what they are, with their sizes."""

    dataset_bytes: Counter[str] = field(default_factory=Counter)  # user id → bytes
    dataset_keys: set[str] = field(default_factory=set)
    temp_objects: list[str] = field(default_factory=list)  # with bytes: not tombstones
    tombstones: int = 0
    other_keys: list[str] = field(default_factory=list)  # models/, plots/, deleted/, anything


def list_store(store: Any, bucket: str) -> StoreListing:
    listing = StoreListing()
    for page in store.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            key, size = str(item["Key"]), int(item["Size"])
            parts = key.split("/")
            if parts[0] == "datasets" and len(parts) == 4:
                listing.dataset_bytes[parts[1]] += size
                listing.dataset_keys.add(key)
            elif key.startswith("uploads/temp/"):
                head = store.head_object(Bucket=bucket, Key=key)
                if size == 0 and head.get("Metadata") == TOMBSTONE_METADATA:
                    listing.tombstones += 1
                else:
                    listing.temp_objects.append(f"{key} ({size} bytes)")
            else:
                listing.other_keys.append(key)
    return listing


def ingestion_runs(prefect_api_url: str) -> list[FlowRun]:
    """Every run of the `ingest-dataset` deployment on the server."""
    with SyncPrefectClient(prefect_api_url) as client:
        deployment = client.read_deployment_by_name("ingest-dataset/ingest-dataset")
        runs: list[FlowRun] = []
        while True:
            page = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment.id])),
                limit=PREFECT_PAGE,
                offset=len(runs),
            )
            runs.extend(page)
            if len(page) < PREFECT_PAGE:
                return runs


RUNS_FINAL_DEADLINE_SECONDS = 120.0


def _wait_for_final_runs(prefect_api_url: str) -> None:
    """Until every ingestion run has ended (or the deadline): a run records its version ready
    before it turns the temp object into a tombstone, so a version's status alone does not say
    the run has left the store as it ends."""
    deadline = time.monotonic() + RUNS_FINAL_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        runs = ingestion_runs(prefect_api_url)
        if all(run.state is not None and run.state.is_final() for run in runs):
            return
        time.sleep(INGESTION_POLL_SECONDS)


def fsck_findings(settings: Settings) -> tuple[list[str], dict[str, int]]:
    """What `automl fsck --deep` (read-only) finds on the stack's catalog and bucket, one line
    each, and what it checked. The one place the load run calls it."""
    report = run_fsck(settings, build_storage_block(settings), deep=True)
    findings = [f"{f.kind}: {f.detail}" + (f" ({f.key})" if f.key else "") for f in report.findings]
    return findings, report.checked


@dataclass
class LoadVerdict:
    versions_total: int = 0
    versions_ready: int = 0
    tombstones: int = 0
    users_checked: int = 0
    fsck: list[str] = field(default_factory=list)
    fsck_checked: dict[str, int] = field(default_factory=dict)
    run_waits: list[float] = field(default_factory=list)  # ingestion run created → Running, s
    run_durations: list[float] = field(default_factory=list)  # Running → Completed, s
    problems: list[str] = field(default_factory=list)

    def add(self, problems: Iterable[str]) -> None:
        self.problems.extend(problems)


def _versions_problems(
    verdict: LoadVerdict, catalog: Catalog, confirmed: list[Confirmed], listing: StoreListing
) -> None:
    with catalog.session() as session:
        versions = list(session.scalars(select(DatasetVersion)))
        uploads = list(session.scalars(select(Upload)))
        datasets = Counter(session.scalars(select(Dataset.user_id)))
    verdict.versions_total = len(versions)
    verdict.versions_ready = sum(v.status == VersionStatus.READY for v in versions)
    verdict.add(f"version {v.id} is {v.status}: {v.error}" for v in versions if v.status != "ready")
    confirmed_ids = [c.version_id for c in confirmed]
    if len(set(confirmed_ids)) != len(confirmed_ids):
        verdict.add(["two confirmed uploads were answered with the same version"])
    if sorted(v.id for v in versions) != sorted(confirmed_ids):
        verdict.add(
            [f"{len(versions)} versions in the catalog for {len(confirmed_ids)} confirmed uploads"]
        )
    by_upload = {v.upload_id: v for v in versions}
    verdict.add(
        f"upload {c.upload_id} was confirmed as {c.version_id}, its version is "
        f"{by_upload[c.upload_id].id if c.upload_id in by_upload else None}"
        for c in confirmed
        if c.upload_id not in by_upload or by_upload[c.upload_id].id != c.version_id
    )
    users = {c.user_id for c in confirmed}
    verdict.add(
        f"{user} has {datasets[user]} datasets, expected 1 (later uploads are versions of it)"
        for user in sorted(users)
        if datasets[user] != 1
    )
    keys = [v.parquet_key for v in versions if v.status == VersionStatus.READY]
    if len(set(keys)) != len(keys):
        verdict.add(["two ready versions share a Parquet key"])
    verdict.add(
        f"{key}: a ready version's Parquet file is missing"
        for key in set(keys) - listing.dataset_keys
    )
    verdict.add(
        f"{key}: a Parquet file no ready version has" for key in listing.dataset_keys - set(keys)
    )
    verdict.add(
        f"upload {u.id} is {u.status} with {u.reserved_bytes} bytes reserved"
        for u in uploads
        if u.status != UploadStatus.INGESTED or u.reserved_bytes
    )


def _with_recorded_runs(catalog: Catalog, confirmed: list[Confirmed]) -> list[Confirmed]:
    """The confirmed uploads, each answered before its run existed given the run its version
    recorded (the run dispatcher created it after the answer)."""
    with catalog.session() as session:
        recorded = dict(
            session.execute(select(DatasetVersion.id, DatasetVersion.flow_run_id)).tuples().all()
        )
    return [
        c if c.flow_run_id is not None else replace(c, flow_run_id=recorded.get(c.version_id))
        for c in confirmed
    ]


def _runs_problems(verdict: LoadVerdict, prefect_api_url: str, confirmed: list[Confirmed]) -> None:
    runs = ingestion_runs(prefect_api_url)
    if sorted(str(r.id) for r in runs) != sorted(str(c.flow_run_id) for c in confirmed):
        verdict.add([f"{len(runs)} ingest-dataset runs for {len(confirmed)} confirmed uploads"])
    states = Counter(r.state_name for r in runs)
    if set(states) != {"Completed"}:
        verdict.add([f"ingest-dataset runs by state: {dict(states)}"])
    for run in runs:
        if run.created and run.start_time and run.end_time:
            verdict.run_waits.append((run.start_time - run.created).total_seconds())
            verdict.run_durations.append((run.end_time - run.start_time).total_seconds())


def _usage_problems(
    verdict: LoadVerdict,
    catalog: Catalog,
    api_url: str,
    tokens: dict[str, str],
    listing: StoreListing,
) -> None:
    """Each user's `GET /api/usage` against the bytes the store holds under their prefix, and
    the catalog's ledger against both."""
    with catalog.session() as session:
        ledger = dict(
            session.execute(
                select(StoredObject.user_id, func.sum(StoredObject.size_bytes)).group_by(
                    StoredObject.user_id
                )
            ).all()
        )
        version_bytes: defaultdict[str, int] = defaultdict(int)
        for user_id, size in session.execute(
            select(Dataset.user_id, DatasetVersion.size_bytes).join(
                DatasetVersion, DatasetVersion.dataset_id == Dataset.id
            )
        ):
            version_bytes[user_id] += size or 0
    with httpx.Client(base_url=api_url, timeout=60) as http:
        for user_id, token in sorted(tokens.items()):
            answer = http.get("/api/usage", headers={"Authorization": f"Bearer {token}"})
            if answer.status_code != 200:
                verdict.add([f"{user_id}: GET /api/usage answered {answer.status_code}"])
                continue
            usage = answer.json()
            stored = listing.dataset_bytes[user_id]
            expected = {
                "used": {"datasets": stored, "models": 0, "plots": 0, "total": stored},
                "trash": {"datasets": 0, "models": 0, "plots": 0, "total": 0},
                "reserved_bytes": 0,
                "committed_bytes": stored,
            }
            answered = {k: usage[k] for k in expected}
            if answered != expected:
                verdict.add([f"{user_id}: usage {answered}, the store holds {expected}"])
            if int(ledger.get(user_id, 0)) != stored or version_bytes[user_id] != stored:
                verdict.add(
                    [
                        f"{user_id}: the ledger counts {ledger.get(user_id, 0)} bytes, the "
                        f"versions {version_bytes[user_id]}, the store holds {stored}"
                    ]
                )
            verdict.users_checked += 1


def check_load(
    settings: Settings,
    store: Any,
    api_url: str,
    prefect_api_url: str,
    tokens: dict[str, str],
    confirmed: list[Confirmed],
) -> LoadVerdict:
    """Everything that must hold once every ingestion finished."""
    verdict = LoadVerdict()
    _wait_for_final_runs(prefect_api_url)
    listing = list_store(store, settings.r2_bucket_name)
    verdict.tombstones = listing.tombstones
    verdict.add(f"{key}: a temp object that is not a tombstone" for key in listing.temp_objects)
    verdict.add(f"{key}: unexpected object" for key in listing.other_keys)
    catalog = Catalog(settings.catalog_url)
    try:
        _versions_problems(verdict, catalog, confirmed, listing)
        _usage_problems(verdict, catalog, api_url, tokens, listing)
        confirmed = _with_recorded_runs(catalog, confirmed)
    finally:
        catalog.dispose()
    _runs_problems(verdict, prefect_api_url, confirmed)
    verdict.fsck, verdict.fsck_checked = fsck_findings(settings)
    verdict.add(f"fsck: {finding}" for finding in verdict.fsck)
    return verdict


# The load test (tests/reliability/test_load.py): users at once, uploads each, and the longest
# their ingestions may take.
LOAD_USERS = 50
LOAD_ROUNDS = 1
LOAD_INGESTION_DEADLINE_SECONDS = 600.0


@dataclass(frozen=True)
class Loaded:
    """The stack after the load, what the driver saw, and what the checks found then."""

    stack: LoadStack
    result: DriveResult
    verdict: LoadVerdict


def check_loaded(stack: LoadStack, result: DriveResult) -> LoadVerdict:
    return check_load(
        stack.settings,
        stack.store(),
        stack.api_url,
        stack.prefect_api_url,
        stack.tokens,
        result.confirmed,
    )
