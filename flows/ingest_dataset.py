"""The `ingest-dataset` flow: a confirmed upload becomes a profiled, checksummed Parquet version."""

from __future__ import annotations

import tempfile
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from catalog.datasets import IngestionOutcome, IngestionTarget
from core.errors import (
    AutomlError,
    ContentRejectedError,
    QuotaExceededError,
    UploadMissingError,
)
from core.events import DATASET_FAILED, DATASET_INGESTED, ResourceKind
from core.settings import flow_timeout_seconds
from core.statuses import VersionStatus
from flows.time_limits import RunTimeLimit, fail_stopped_ingestion
from orchestrator.events import emit
from orchestrator.runs import run_is_live
from tasks.failure_reasons import internal_failure_reason
from tasks.ingestion import checksum, convert_and_profile, profile_dataset, upload_dialect
from tasks.profiling import profile_markdown
from tasks.records import (
    load_ingestion_target,
    record_failed,
    record_ingesting,
    record_ready,
    reserve_parquet_bytes,
)
from tasks.storage import (
    delete_object,
    download_file,
    free_upload_key,
    head_object,
    upload_file_once,
)
from tasks.version_changes import changes_since_previous

PARQUET_CONTENT_TYPE = "application/vnd.apache.parquet"


def _outcome(raw_sha256: str, sha256: str, size: int, profile: dict[str, Any]) -> IngestionOutcome:
    return IngestionOutcome(
        raw_sha256=raw_sha256,
        sha256=sha256,
        size_bytes=size,
        row_count=int(profile["row_count"]),
        column_count=int(profile["column_count"]),
        profile=profile,
    )


def _ingest(target: IngestionTarget, workdir: Path, limit: RunTimeLimit) -> IngestionOutcome:
    """The file's work (screen, convert, profile) runs in a child process killed when the run's
    time limit ends (tasks/file_work_process.py): native code would not stop for Prefect."""
    raw_path = workdir / f"raw.{target.extension}"
    parquet_path = workdir / "dataset.parquet"
    temp = head_object(target.temp_key)
    if temp is None or temp.tombstone:  # a tombstone: the upload's bytes were removed
        raise UploadMissingError("the uploaded file is no longer in storage; upload it again")
    raw = download_file(target.temp_key, raw_path)  # hashed while it streams in
    if head_object(target.parquet_key) is None:
        # The child removes the upload's local copy once converted: at most one full-size
        # local copy beside the Parquet file.
        left = limit.seconds_left()
        profile = convert_and_profile(target.version_id, raw_path, parquet_path, left)
        sha256 = checksum(f"parquet-{target.version_id}", parquet_path)
        # Under the user's lock, before any byte is written: over the quota, nothing is uploaded.
        reserve_parquet_bytes(target.version_id, parquet_path.stat().st_size)
        uploaded = upload_file_once(parquet_path, target.parquet_key, PARQUET_CONTENT_TYPE)
        if uploaded is not None:
            return _outcome(raw.sha256, sha256, uploaded.size, profile)
        dialect = profile["dialect"]
    else:
        dialect = upload_dialect(raw_path)
    raw_path.unlink(missing_ok=True)
    # The final key is written once: an object already there (left by a run that stopped after
    # uploading it, or written by a concurrent run first) is the version's. It is read back and
    # described, never rewritten.
    stored = download_file(target.parquet_key, parquet_path)
    reserve_parquet_bytes(target.version_id, stored.size)
    left = limit.seconds_left()
    profile = profile_dataset(target.version_id, parquet_path, dialect, left)
    return _outcome(raw.sha256, stored.sha256, stored.size, profile)


def remove_unrecorded_parquet(parquet_key: str) -> None:
    """A version that ends failed keeps no Parquet file: one this run (or an earlier one)
    uploaded before its record failed would be an orphan that nothing counts or lists. Removed
    after the version is recorded failed, so no run can take it for the version's any more."""
    with suppress(Exception):  # the failure being reported matters more than this one
        delete_object(parquet_key)


@flow(
    name="ingest-dataset",
    flow_run_name="ingest-{version_id}",
    timeout_seconds=flow_timeout_seconds("ingest-dataset"),
    on_failure=[fail_stopped_ingestion],
)
def ingest_dataset(version_id: str, unfinished_only: bool = False) -> VersionStatus:
    """Idempotent: a ready version is left as it is; a failed or interrupted one is redone.
    `unfinished_only` (the runs cleanup starts for a version left pending or ingesting): a
    version that ended `failed` meanwhile, e.g. by the failure hook of the run it replaces, is
    left failed, not redone.

    On failure the version is `failed` with a readable reason, the temp object is kept for
    inspection (`purge-deleted` removes it later) and the reservation is released. On success
    the temp object is replaced by a tombstone (single-use URLs). Local files are removed
    either way.
    """
    limit = RunTimeLimit.of_this_run()
    with limit.ends_the_run():
        return _ingest_version(version_id, unfinished_only, limit)


def _ingest_version(version_id: str, unfinished_only: bool, limit: RunTimeLimit) -> VersionStatus:
    logger = get_run_logger()
    this_run = flow_run.get_id()
    target = load_ingestion_target(version_id)
    claimed_by_other = target.flow_run_id not in (None, this_run)
    if (
        target.status == VersionStatus.INGESTING
        and claimed_by_other
        and run_is_live(str(target.flow_run_id))
    ):
        logger.info("version %s is being ingested by run %s", version_id, target.flow_run_id)
        return VersionStatus.INGESTING
    if target.status != VersionStatus.READY and not record_ingesting(
        version_id, this_run, unfinished_only
    ):
        target = load_ingestion_target(version_id)  # ready meanwhile, failed, or deleted
        if target.status == VersionStatus.FAILED and unfinished_only:
            logger.info("version %s ended failed; a restart does not redo it", version_id)
            return target.status
        if target.status != VersionStatus.READY:
            # Deleted: its kept upload (if any) is its delete's to move; never overwritten here.
            logger.info("version %s was deleted; nothing to do", version_id)
            return target.status
    if target.status == VersionStatus.READY:
        # Finish what a run that stopped right after recording may have left: the temp object.
        free_upload_key(target.temp_key, target.urls_expire_at, datetime.now(UTC))
        logger.info("version %s is already ready; nothing to do", version_id)
        return VersionStatus.READY
    related: dict[ResourceKind, str] = {"version": version_id, "upload": target.upload_id}
    try:
        with tempfile.TemporaryDirectory(prefix=f"ingest-{version_id}-") as workdir:
            outcome = _ingest(target, Path(workdir), limit)
        recorded = record_ready(version_id, outcome)
    except Exception as exc:
        if limit.ended(exc):
            # Ends `TimedOut` (limit.ends_the_run): the version is recorded failed, its
            # reservation released, by flows/time_limits.py's hook, with its message.
            raise
        if isinstance(exc, ContentRejectedError | QuotaExceededError):
            reason = exc.message
        elif isinstance(exc, AutomlError):
            reason = f"ingestion failed: {exc.message}"
        else:  # the details (endpoint, SQL, paths) stay in this run's logs, under its id
            reason = internal_failure_reason("ingestion", this_run)
            logger.error("version %s: ingestion error in run %s: %r", version_id, this_run, exc)
        if record_failed(version_id, reason, not isinstance(exc, UploadMissingError)):
            remove_unrecorded_parquet(target.parquet_key)
        emit(
            DATASET_FAILED,
            "dataset",
            target.dataset_id,
            {"version_id": version_id, "error": reason},
            related,
        )
        logger.error("version %s failed: %s", version_id, reason)
        raise
    # While the upload URL may still be valid it would write the key again: a tombstone keeps
    # it occupied (the URL answers 412) until cleanup removes it; deleted once it expired.
    free_upload_key(target.temp_key, target.urls_expire_at, datetime.now(UTC))
    if not recorded:  # another run recorded it first and announced it
        return VersionStatus.READY
    create_markdown_artifact(
        key=f"profile-{version_id}",
        markdown=profile_markdown(
            outcome.profile, f"GET /api/datasets/{target.dataset_id}/versions/{version_id}"
        ),
        description=f"Profile of dataset version {version_id}",
    )
    try:
        changes: dict[str, Any] | None = changes_since_previous(version_id)
    except Exception as exc:  # the version is ready: a failed comparison only leaves it out
        logger.warning("version %s: no comparison for the event: %r", version_id, exc)
        changes = None
    emit(
        DATASET_INGESTED,
        "dataset",
        target.dataset_id,
        {
            "version_id": version_id,
            "rows": outcome.row_count,
            "columns": outcome.column_count,
            "size_bytes": outcome.size_bytes,
            "sha256": outcome.sha256,
            "changes": changes,
        },
        related,
    )
    logger.info(
        "version %s ready: %d rows, %d columns, %d bytes of Parquet",
        version_id,
        outcome.row_count,
        outcome.column_count,
        outcome.size_bytes,
    )
    return VersionStatus.READY
