"""The ingest-dataset flow, for real against each store and the catalog.

Its storage steps (ranged downloads, the write-once upload, deletes) are tested on each store;
refusals of bad content, Prefect's runs, events and artifacts on the default store."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from uuid import UUID

import polars as pl
import pyarrow.parquet as pq
import pytest
from prefect.client.orchestration import get_client
from prefect.client.schemas.objects import State
from prefect.settings import PREFECT_API_URL
from prefect.states import Crashed
from prefect.utilities.engine import propose_state

from blocks import transfers
from blocks.objects import write_tombstone
from blocks.storage import load_storage_block, s3_client
from catalog.database import catalog_for
from catalog.tables import DatasetVersion
from core.settings import get_settings
from core.statuses import VersionStatus
from flows.ingest_dataset import ingest_dataset
from tests.support.fault_proxy import FaultProxy
from tests.support.ingestions import Ingestion, MakeIngestion, confirmed_uploads
from tests.support.prefect_events import drain_events
from tests.support.stores import Store, default_store_only

CSV = b"id,name,score\n1,ada,3.5\n2,bob,\n3,cy,7.25\n"


def test_a_csv_becomes_a_ready_profiled_parquet_version(
    confirmed: MakeIngestion, tmp_path: Path
) -> None:
    ingestion = confirmed(CSV)
    assert ingest_dataset(ingestion.version_id) == "ready"

    version = ingestion.version()
    assert version.status == "ready" and version.error is None
    assert (version.row_count, version.column_count) == (3, 3)
    assert version.raw_sha256 == hashlib.sha256(CSV).hexdigest()
    # The temp object is replaced by a tombstone: the upload URL stays refused (412).
    assert ingestion.store.keys() == sorted([ingestion.parquet_key, ingestion.temp_key])
    assert ingestion.temp_is_tombstone()

    stored = ingestion.store.client.get_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key
    )["Body"].read()
    assert version.sha256 == hashlib.sha256(stored).hexdigest()
    assert version.size_bytes == len(stored)
    (tmp_path / "out.parquet").write_bytes(stored)
    frame = pl.read_parquet(tmp_path / "out.parquet")
    assert frame["name"].to_list() == ["ada", "bob", "cy"]
    metadata = pq.ParquetFile(tmp_path / "out.parquet").metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"

    assert version.profile is not None
    columns = {column["name"]: column for column in version.profile["columns"]}
    assert columns["score"]["null_count"] == 1
    assert ingestion.upload().reserved_bytes == 0
    assert ingestion.used_bytes() == len(stored)


def test_running_again_on_a_ready_version_changes_nothing(confirmed: MakeIngestion) -> None:
    ingestion = confirmed(CSV)
    ingest_dataset(ingestion.version_id)
    before = ingestion.version()
    head = ingestion.store.client.head_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key
    )
    assert ingest_dataset(ingestion.version_id) == "ready"
    after = ingestion.version()
    assert (after.sha256, after.updated_at) == (before.sha256, before.updated_at)
    assert ingestion.used_bytes() == before.size_bytes
    again = ingestion.store.client.head_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key
    )
    assert again["LastModified"] == head["LastModified"]


def _large_csv(min_bytes: int) -> bytes:
    rows = [b"id,name,score\n"]
    size, i = len(rows[0]), 0
    while size < min_bytes:
        row = b"%d,name-%d,%d.25\n" % (i, i % 977, i % 1013)
        rows.append(row)
        size, i = size + len(row), i + 1
    return b"".join(rows)


def test_the_raw_sha256_is_hashed_while_a_multipart_download_streams_in(
    confirmed: MakeIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(transfers, "DOWNLOAD_PART_SIZE", 64 * 1024)  # 16 MiB in production
    content = _large_csv(2 * transfers.DOWNLOAD_PART_SIZE + 1)
    ingestion = confirmed(content)
    client = s3_client(load_storage_block())  # the client the storage tasks use
    ranges: list[str] = []

    def record_range(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") == ingestion.temp_key:
            ranges.append(str(params.get("Range")))

    client.meta.events.register("before-parameter-build.s3.GetObject", record_range)
    try:
        assert ingest_dataset(ingestion.version_id) == "ready"
    finally:
        client.meta.events.unregister("before-parameter-build.s3.GetObject", record_range)
    assert sorted(ranges) == sorted(  # three ranged GETs
        f"bytes={first}-{min(first + 64 * 1024, len(content)) - 1}"
        for first in range(0, len(content), 64 * 1024)
    )
    assert len(ranges) == 3
    version = ingestion.version()
    assert version.raw_sha256 == hashlib.sha256(content).hexdigest()
    assert version.row_count == content.count(b"\n") - 1


def _head(ingestion: Ingestion) -> dict[str, Any]:
    head: dict[str, Any] = ingestion.store.client.head_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key
    )
    return head


def _propose_crashed(flow_run_id: str, message: str) -> State[Any]:
    """What a runner or worker does when the flow-run process it started dies: propose Crashed
    for its run (prefect/runner/_flow_run_executor.py, after a non-zero exit code, through
    `_state_proposer.propose_crashed`; prefect/workers/base.py `_propose_crashed_state`)."""

    async def propose() -> State[Any]:
        async with get_client() as client:
            return await propose_state(
                client, Crashed(message=message), flow_run_id=UUID(flow_run_id)
            )

    return asyncio.run(propose())


def _run_killed_after_the_upload(ingestion: Ingestion, tmp_path: Path) -> None:
    """Runs the flow in a separate process that SIGKILLs itself between upload and record."""
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "AUTOML_DATABASE_URL": get_settings().catalog_url,
        "TMPDIR": str(tmp_path),  # its ingest-* work dir is left behind: keep it in tmp_path
    }
    process = subprocess.run(
        [sys.executable, "-m", "tests.support.killed_ingestion", ingestion.version_id],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert process.returncode == -signal.SIGKILL, process.stderr.decode()[-3000:]


@pytest.mark.e2e  # the flow run in a subprocess of its own, killed half-way
def test_a_run_killed_after_the_upload_ends_ready_on_the_next_run(
    confirmed: MakeIngestion, tmp_path: Path
) -> None:
    ingestion = confirmed(CSV)
    _run_killed_after_the_upload(ingestion, tmp_path)

    # What the dead process left: the version claimed by a run that still looks Running, the
    # Parquet object written once, the temp object kept, nothing recorded.
    version = ingestion.version()
    assert version.status == "ingesting" and version.flow_run_id is not None
    killed_run = version.flow_run_id
    assert sorted(ingestion.store.keys()) == sorted([ingestion.parquet_key, ingestion.temp_key])
    written = _head(ingestion)
    assert ingestion.used_bytes() == 0
    assert ingest_dataset(ingestion.version_id) == "ingesting"  # a live-looking run is left be

    assert _propose_crashed(killed_run, "Process exited with status code: -9").is_crashed()
    assert ingest_dataset(ingestion.version_id) == "ready"

    version = ingestion.version()
    assert version.status == "ready" and version.row_count == 3
    assert version.flow_run_id != killed_run
    # One Parquet object; the temp object replaced by a tombstone.
    assert ingestion.store.keys() == sorted([ingestion.parquet_key, ingestion.temp_key])
    assert ingestion.temp_is_tombstone()
    head = _head(ingestion)
    assert (head["ETag"], head["LastModified"]) == (written["ETag"], written["LastModified"])
    assert version.size_bytes == head["ContentLength"]
    stored = ingestion.store.client.get_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key
    )["Body"].read()
    assert version.sha256 == hashlib.sha256(stored).hexdigest()
    assert ingestion.used_bytes() == version.size_bytes  # counted once
    assert ingestion.upload().reserved_bytes == 0


def test_a_parquet_file_another_run_wrote_first_is_kept_and_described(
    confirmed: MakeIngestion, tmp_path: Path
) -> None:
    ingestion = confirmed(CSV)
    theirs = tmp_path / "theirs.parquet"
    pl.DataFrame({"id": [1, 2], "name": ["ada", "bob"]}).write_parquet(theirs)
    client = s3_client(load_storage_block())  # the client the storage tasks use
    raced: list[str] = []

    def other_run_completes_first(params: dict[str, Any], **_: Any) -> None:
        if params.get("Key") != ingestion.parquet_key or raced:
            return
        raced.append("")  # its own PutObject passes through this hook too
        raced[0] = client.put_object(
            Bucket=ingestion.store.bucket_name, Key=ingestion.parquet_key, Body=theirs.read_bytes()
        )["ETag"]

    client.meta.events.register("before-parameter-build.s3.PutObject", other_run_completes_first)
    try:
        assert ingest_dataset(ingestion.version_id) == "ready"
    finally:
        client.meta.events.unregister(
            "before-parameter-build.s3.PutObject", other_run_completes_first
        )

    assert len(raced) == 1
    assert ingestion.store.keys() == sorted([ingestion.parquet_key, ingestion.temp_key])
    assert ingestion.temp_is_tombstone()
    assert _head(ingestion)["ETag"] == raced[0]  # not overwritten
    version = ingestion.version()
    assert (version.row_count, version.column_count) == (2, 2)  # describes the stored file
    assert version.sha256 == hashlib.sha256(theirs.read_bytes()).hexdigest()
    assert ingestion.used_bytes() == version.size_bytes == theirs.stat().st_size


@default_store_only
@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty"),
        (b"a,b,c\n1,2,3\n4,5\n", "row"),
        (b"\x00\x01\x02binary\xff\xfe" * 100, "UTF-8"),
        (b"a,a\n1,2\n", "appears twice"),
    ],
)
def test_bad_content_fails_the_version_keeps_the_temp_object_and_releases_the_reservation(
    confirmed: MakeIngestion, content: bytes, reason: str
) -> None:
    ingestion = confirmed(content)
    state = ingest_dataset(ingestion.version_id, return_state=True)
    assert state.is_failed()
    version = ingestion.version()
    assert version.status == "failed"
    assert reason in (version.error or "")
    assert ingestion.store.keys() == [ingestion.temp_key]
    assert ingestion.upload().reserved_bytes == 0
    assert ingestion.used_bytes() == 0


def test_a_failed_version_can_be_ingested_again_once_fixed(confirmed: MakeIngestion) -> None:
    ingestion = confirmed(b"a,b\n1,2\n3\n")
    assert ingest_dataset(ingestion.version_id, return_state=True).is_failed()
    ingestion.store.client.put_object(
        Bucket=ingestion.store.bucket_name, Key=ingestion.temp_key, Body=b"a,b\n1,2\n3,4\n"
    )
    assert ingest_dataset(ingestion.version_id) == "ready"
    assert ingestion.version().row_count == 2


@pytest.mark.e2e  # a heavy proof (over 5 s): several flow runs end to end
def test_a_transient_storage_failure_is_retried_and_the_run_ends_ready(
    faulty_bucket: tuple[Store, FaultProxy],
) -> None:
    store, proxy = faulty_bucket
    with confirmed_uploads(store) as make:
        ingestion = make(CSV)
        # Every GET of the temp object fails 4 times: botocore's own 3 attempts, then one
        # Prefect task retry.
        fault = proxy.fail(
            lambda method, path: method == "GET" and ingestion.temp_key in path,
            503,
            "SlowDown",
            times=4,
        )
        assert ingest_dataset(ingestion.version_id) == "ready"
        assert fault.hits == 4
        assert ingestion.version().status == "ready"
        assert store.keys() == sorted([ingestion.parquet_key, ingestion.temp_key])
        assert ingestion.temp_is_tombstone()


def _api_post(path: str, body: dict[str, Any]) -> Any:
    async def post() -> Any:
        async with get_client() as client:
            response = await client._client.post(path, json=body)
            response.raise_for_status()
            return response.json()

    return asyncio.run(post())


@default_store_only
def test_the_run_emits_its_event_and_shows_the_profile_as_an_artifact(
    confirmed: MakeIngestion,
) -> None:
    ingestion = confirmed(CSV)
    ingest_dataset(ingestion.version_id)
    artifacts = _api_post(
        "/artifacts/filter", {"artifacts": {"key": {"any_": [f"profile-{ingestion.version_id}"]}}}
    )
    assert len(artifacts) == 1
    assert "score" in artifacts[0]["data"]

    drain_events()
    deadline = time.monotonic() + 30
    while True:
        page = _api_post(
            "/events/filter",
            {"filter": {"event": {"name": ["automl.dataset.ingested"]}}, "limit": 50},
        )
        mine = [e for e in page["events"] if e["payload"].get("version_id") == ingestion.version_id]
        if mine or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(mine) == 1
    assert mine[0]["resource"]["prefect.resource.id"].startswith("automl.dataset.")
    related = {r["prefect.resource.id"] for r in mine[0]["related"]}
    assert f"automl.version.{ingestion.version_id}" in related


@default_store_only
def test_a_version_claimed_by_a_live_run_is_left_to_that_run(confirmed: MakeIngestion) -> None:
    ingestion = confirmed(CSV)

    async def scheduled_run_id() -> str:
        async with get_client() as client:
            run = await client.create_flow_run(ingest_dataset, parameters={"version_id": "other"})
            return str(run.id)

    other = asyncio.run(scheduled_run_id())  # scheduled, never started: still live
    with catalog_for(get_settings().catalog_url).session() as session:
        version = session.get(DatasetVersion, ingestion.version_id)
        assert version is not None
        version.status, version.flow_run_id = VersionStatus.INGESTING, other

    assert ingest_dataset(ingestion.version_id) == "ingesting"
    version = ingestion.version()
    assert (version.status, version.flow_run_id) == ("ingesting", other)
    assert ingestion.store.keys() == [ingestion.temp_key]


@default_store_only
def test_a_tombstone_is_never_ingested_as_the_upload(confirmed: MakeIngestion) -> None:
    """A failed version whose kept upload was purged while its URL was valid finds a tombstone:
    the upload is missing, not an empty file."""
    ingestion = confirmed(b"a,b\n1,2\n3\n")
    assert ingest_dataset(ingestion.version_id, return_state=True).is_failed()
    write_tombstone(ingestion.store.block, ingestion.temp_key)
    assert ingest_dataset(ingestion.version_id, return_state=True).is_failed()
    assert "no longer in storage" in (ingestion.version().error or "")
    assert ingestion.temp_is_tombstone()
