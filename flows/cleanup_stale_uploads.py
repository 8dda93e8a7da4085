"""The `cleanup-stale-uploads` flow (every 15 minutes): closes expired uploads, frees what they
left at the store, removes stray temp objects, restarts ingestions left without a run, and
finishes deletes that stopped half-way."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from core.errors import OrchestratorUnavailableError
from core.keys import TEMP_UPLOADS_PREFIX
from core.settings import flow_timeout_seconds, get_settings
from core.upload_windows import longest_upload_lifetime
from flows.ingest_dataset import remove_unrecorded_parquet
from orchestrator.events import announce_upload_confirmed
from orchestrator.runs import MAX_INGESTION_RUNS, restart_ingestion, run_is_live
from tasks.announcements import claim_announcement_of
from tasks.deletion import find_unfinished_deletes, finish_delete
from tasks.lifecycle import (
    expire_uploads,
    find_stray_temp_objects,
    find_unannounced_runs,
    find_unfinished_versions,
    find_unowned_multipart,
    give_up_ingestion,
    record_restart,
)
from tasks.records import catalog_session
from tasks.storage import (
    abort_multipart,
    delete_object,
    list_multipart_uploads,
    list_objects,
    move_to_deleted,
)

# A version younger than this is left to the API's run dispatcher (api/run_dispatch.py), which
# creates its run and announces the upload (`automl.upload.confirmed`).
CONFIRM_SETTLING = timedelta(minutes=5)


@dataclass(frozen=True)
class CleanupReport:
    """What one cleanup run did (also the run's markdown artifact `cleanup-stale-uploads`)."""

    expired_uploads: int
    temp_objects_deleted: int
    multipart_aborted: int
    strays_removed: int
    ingestions_restarted: int
    ingestions_given_up: int
    deletes_finished: int = 0
    uploads_announced: int = 0

    def markdown(self) -> str:
        rows = "\n".join(f"| {name.replace('_', ' ')} | {n} |" for name, n in asdict(self).items())
        return f"# Cleanup of stale uploads\n\n| what | count |\n|---|---|\n{rows}\n"


def _expire_uploads(now: datetime) -> tuple[int, int, int]:
    """Closes pending uploads past their confirm window, then removes their temp object and
    aborts their multipart upload. The catalog change comes first: a confirm racing it either
    committed before (the upload is left alone) or finds it expired; a run that stops half-way
    leaves objects of an `expired` upload, which the stray and multipart passes remove."""
    expired = expire_uploads(now)
    deleted = aborted = 0
    for upload in expired:
        deleted += delete_object(upload.temp_key)
        if upload.multipart_upload_id:
            aborted += abort_multipart(upload.temp_key, upload.multipart_upload_id)
    return len(expired), deleted, aborted


def _abort_unowned_multipart(initiated_before: datetime) -> int:
    """Aborts multipart uploads under `uploads/temp/` older than any upload stays open that no
    pending upload owns (e.g. started by a request that failed before recording it)."""
    open_uploads = list_multipart_uploads(TEMP_UPLOADS_PREFIX)
    unowned = find_unowned_multipart(open_uploads, initiated_before, len(open_uploads))
    return sum(abort_multipart(u.key, u.multipart_upload_id) for u in unowned)


def _remove_strays(orphaned_before: datetime, now: datetime) -> int:
    """Removes temp objects no upload needs (see `catalog.lifecycle.stray_temp_objects`): the
    tombstone (or object) of a closed upload once its URLs expired, an object no upload names.
    A confirmed upload's object, a version's still being ingested, and a failed version's (kept
    for inspection until `purge-deleted`) are never touched. Nothing can be written again
    through a still-valid URL: its key stays occupied until the URL expired."""
    objects = list_objects(TEMP_UPLOADS_PREFIX)
    strays = find_stray_temp_objects(objects, orphaned_before, len(objects), now)
    return sum(delete_object(key) for key in strays)


def _restart_stuck_ingestions(created_before: datetime) -> tuple[int, int]:
    """Starts a run for each version `pending` or `ingesting` whose recorded run is missing or
    ended (crashed, cancelled, failed before recording anything). A live run is left alone, and
    so is a version confirmed in the last few minutes (its confirm is starting its run). A
    version given up on is failed, and its Parquet file, if a crashed run uploaded one, removed
    as `ingest-dataset` does on failure."""
    logger = get_run_logger()
    restarted = given_up = 0
    for version in find_unfinished_versions(created_before):
        if version.flow_run_id is not None and ingestion_run_is_live(version.flow_run_id):
            continue
        run_id = start_ingestion_again(version.version_id)
        if run_id is None:
            parquet_key = give_up_ingestion(
                version.version_id,
                f"ingestion did not finish after {MAX_INGESTION_RUNS} runs "
                "(each ended without a result); upload the file again",
            )
            if parquet_key is not None:  # a failed version leaves no Parquet file
                remove_unrecorded_parquet(parquet_key)
            given_up += 1
            continue
        _announce_if_never_announced(version.version_id, run_id)
        if record_restart(version.version_id, version.flow_run_id, run_id):
            logger.info("version %s: ingestion run %s", version.version_id, run_id)
            restarted += 1
    return restarted, given_up


def _finish_deletes() -> int:
    """Finishes each delete that was recorded but stopped before every object was moved under
    `deleted/` (the store failed half-way, the API process stopped): see
    `tasks.deletion.finish_delete`. Returns how many datasets ended `deleted`."""
    logger = get_run_logger()
    finished = 0
    for dataset_id in find_unfinished_deletes():
        progress = finish_delete(catalog_session, move_to_deleted, dataset_id)
        if progress.error is not None:
            logger.warning(
                "delete of dataset %s: %d objects left to move (%s)",
                dataset_id,
                progress.remaining,
                progress.error,
            )
        finished += progress.finished
    return finished


def _announce_if_never_announced(version_id: str, run_id: str) -> bool:
    """A confirm that stopped before creating the run (API killed, orchestrator down and never
    confirmed again) never announced the upload: the run that cleanup starts is announced in
    its place, exactly once (the same claim as the API's confirm). True if announced now."""
    announcement = claim_announcement_of(version_id)
    if announcement is None:
        return False
    announce_upload_confirmed(announcement.upload_id, announcement.dataset_id, version_id, run_id)
    return True


def _announce_missed(created_before: datetime) -> int:
    """A confirm that created the run but stopped before claiming the announcement: its
    version's recorded run is announced in its place, once the confirm had time to do it."""
    return sum(
        _announce_if_never_announced(version_id, run_id)
        for version_id, run_id in find_unannounced_runs(created_before)
    )


# Asking Prefect about runs and starting them: flow-level steps (tasks sit below deployments).
@task(
    task_run_name="check-run-{flow_run_id}",
    retries=3,
    retry_delay_seconds=[2, 5, 10],
    retry_condition_fn=lambda task, run, state: _orchestrator_down(state),
)
def ingestion_run_is_live(flow_run_id: str) -> bool:
    return run_is_live(flow_run_id)


def _orchestrator_down(state: object) -> bool:
    try:
        state.result(raise_on_failure=True)  # type: ignore[attr-defined]
    except OrchestratorUnavailableError:
        return True
    except Exception:
        return False
    return False


@task(
    task_run_name="restart-ingestion-{version_id}",
    retries=3,
    retry_delay_seconds=[2, 5, 10],
    retry_condition_fn=lambda task, run, state: _orchestrator_down(state),
)
def start_ingestion_again(version_id: str) -> str | None:
    """A live ingestion run of the version (see `orchestrator.runs.restart_ingestion`)."""
    return restart_ingestion(version_id)


@flow(
    name="cleanup-stale-uploads",
    log_prints=False,
    timeout_seconds=flow_timeout_seconds("cleanup-stale-uploads"),
)
def cleanup_stale_uploads(now: datetime | None = None) -> CleanupReport:
    """Idempotent; scheduled every 15 minutes.

    Expired uploads are marked `expired` (reservation 0), not deleted: the record stays for
    audit and tells which temp objects are whose. `now`
    (default: the current time) lets tests move the clock instead of waiting.
    """
    now = now or datetime.now(UTC)
    logger = get_run_logger()
    stale_before = now - longest_upload_lifetime(get_settings().presign_expires_seconds)
    expired, temp_deleted, aborted = _expire_uploads(now)
    aborted += _abort_unowned_multipart(stale_before)
    strays = _remove_strays(stale_before, now)
    restarted, given_up = _restart_stuck_ingestions(now - CONFIRM_SETTLING)
    announced = _announce_missed(now - CONFIRM_SETTLING)
    deletes = _finish_deletes()
    report = CleanupReport(
        expired,
        temp_deleted,
        aborted,
        strays,
        restarted,
        given_up,
        deletes_finished=deletes,
        uploads_announced=announced,
    )
    create_markdown_artifact(
        key="cleanup-stale-uploads",
        markdown=report.markdown(),
        description="What cleanup-stale-uploads removed, aborted and restarted",
    )
    logger.info("cleanup: %s", asdict(report))
    return report
