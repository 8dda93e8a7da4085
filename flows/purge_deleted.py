"""The `purge-deleted` flow (daily): removes soft-deleted objects and failed versions' kept
uploads once they are older than AUTOML_DELETED_RETENTION_DAYS."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from core.keys import DELETED_PREFIX
from core.settings import flow_timeout_seconds, get_settings
from tasks.deletion import record_purged
from tasks.lifecycle import find_kept_failed_uploads, mark_purged
from tasks.storage import delete_object, free_upload_key, head_object, list_objects


@dataclass(frozen=True)
class PurgeReport:
    """What one purge did (also the run's markdown artifact `purge-deleted`)."""

    deleted_objects_purged: int
    deleted_objects_kept: int
    failed_uploads_purged: int

    def markdown(self, cutoff: datetime) -> str:
        rows = "\n".join(f"| {name.replace('_', ' ')} | {n} |" for name, n in asdict(self).items())
        return (
            f"# Purge of deleted objects\n\nOlder than {cutoff.isoformat()} removed.\n\n"
            f"| what | count |\n|---|---|\n{rows}\n"
        )


def _purge_failed_uploads(cutoff: datetime, now: datetime) -> int:
    """Removes each failed version's kept upload written before `cutoff`, marking the upload
    `purged` first (only while its version is still failed, so a re-run is never robbed).

    A kept upload already gone from the store (removed by the bucket's lifecycle rule on
    `uploads/temp/`, or never kept: a tombstone) is marked `purged` whatever its age: nothing
    is left to keep, and its bytes leave the ledger instead of being charged forever."""
    purged = 0
    for upload in find_kept_failed_uploads():
        info = head_object(upload.temp_key)
        if info is None or info.tombstone:
            purged += mark_purged(upload.upload_id)
            continue
        if info.last_modified >= cutoff:
            continue
        if mark_purged(upload.upload_id) and free_upload_key(
            upload.temp_key, upload.expires_at, now
        ):
            purged += 1
    return purged


def _purge_deleted_object(key: str) -> bool:
    """Removes one `deleted/` object, then its ledger row (its bytes leave the user's quota):
    in this order, so a stop in between leaves a recorded object, purged again next time."""
    existed = delete_object(key)
    record_purged(key.removeprefix(DELETED_PREFIX))
    return existed


@flow(name="purge-deleted", log_prints=False, timeout_seconds=flow_timeout_seconds("purge-deleted"))
def purge_deleted(now: datetime | None = None, retention_days: int | None = None) -> PurgeReport:
    """Idempotent; scheduled daily. Age is the object's LastModified (when it was moved under
    `deleted/`, or uploaded); nothing younger than the retention period is touched.

    `now` (default: the current time) and `retention_days` (default:
    AUTOML_DELETED_RETENTION_DAYS) let tests move the clock instead of waiting.
    """
    now = now or datetime.now(UTC)
    days = retention_days or get_settings().deleted_retention_days
    cutoff = now - timedelta(days=days)
    objects = list_objects(DELETED_PREFIX)
    old = [o.key for o in objects if o.last_modified < cutoff]
    removed = sum(_purge_deleted_object(key) for key in old)
    report = PurgeReport(removed, len(objects) - len(old), _purge_failed_uploads(cutoff, now))
    create_markdown_artifact(
        key="purge-deleted",
        markdown=report.markdown(cutoff),
        description="What purge-deleted removed",
    )
    get_run_logger().info("purge: %s", asdict(report))
    return report
