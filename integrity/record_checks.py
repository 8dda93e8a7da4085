"""The checks of records against each other and against the clock: ledger rows the records
imply, usage counters, states left past their time limits, multipart uploads nobody owns."""

from __future__ import annotations

from datetime import datetime

from blocks.objects import head_object, list_multipart_uploads
from catalog.consistency import (
    AwaitedUpload,
    deletes_recorded_since,
    jobs_unfinished_since,
    ready_versions_off_ledger,
    succeeded_jobs_off_ledger,
    unfinished_version_ids,
    uploads_awaiting_ingestion,
    uploads_pending_since,
    used_bytes_differences,
    versions_unfinished_since,
)
from catalog.lifecycle import unowned_multipart_uploads
from core.keys import TEMP_UPLOADS_PREFIX
from integrity.findings import FindingKind
from integrity.inspection import Inspection


def check_ledger(inspection: Inspection) -> None:
    """Every ready version's Parquet file and every published model is in the ledger, in use,
    with the size its record gives."""
    with inspection.catalog.session() as session:
        gaps = ready_versions_off_ledger(session)
        jobs = succeeded_jobs_off_ledger(session)
    for gap in gaps:
        inspection.report(
            FindingKind.LEDGER_MISMATCH,
            f"the version is ready with a {gap.size_bytes}-byte Parquet file, but the ledger "
            + (
                "has no row in use for it: the user's quota does not count it"
                if gap.ledger_size is None
                else f"records {gap.ledger_size} bytes"
            ),
            key=gap.key,
            record=gap.record,
            user_id=gap.user_id,
            repairable=gap.ledger_size is None,
        )
    for job_id, user_id, recorded in jobs:
        inspection.report(
            FindingKind.LEDGER_MISMATCH,
            f"the job's model is published, but the ledger records {recorded} of its 2 files "
            "(model.joblib, metadata.json)",
            record=f"job {job_id}",
            user_id=user_id,
            repairable=True,
        )


def check_awaited_uploads(inspection: Inspection) -> None:
    """Each version waiting for its ingestion still has its upload to read (not gone, not a
    tombstone): its reservation counts it, and without it the ingestion can only fail."""
    gone: list[AwaitedUpload] = []
    with inspection.catalog.session() as session:
        for awaited in uploads_awaiting_ingestion(session):
            inspection.checked["uploads awaiting ingestion"] += 1
            info = head_object(inspection.storage, awaited.temp_key)
            if info is None or info.tombstone:
                gone.append(awaited)
    if not gone:
        return
    with inspection.catalog.session() as session:  # looked at again: it may have finished
        waiting = unfinished_version_ids(session, (awaited.version_id for awaited in gone))
    for awaited in gone:
        if awaited.version_id in waiting:
            inspection.report(
                FindingKind.MISSING_OBJECT,
                "the version waits for its ingestion, but its upload is gone: the ingestion "
                "can only fail",
                key=awaited.temp_key,
                record=f"version {awaited.version_id}",
                user_id=awaited.user_id,
            )


def check_usage(inspection: Inspection) -> None:
    """`users.used_bytes` against the ledger, and each user's ledger bytes against the bytes
    of their recorded objects found in the bucket (the walks added both up, row by row)."""
    with inspection.catalog.session() as session:
        counters = used_bytes_differences(session)
    for user_id, used, ledger in counters:
        inspection.report(
            FindingKind.USED_BYTES_MISMATCH,
            f"users.used_bytes is {used}; the ledger's Parquet files in use add up to {ledger}",
            record=f"user {user_id}",
            user_id=user_id,
            repairable=True,
        )
    recorded, found = inspection.recorded_bytes, inspection.found_bytes
    for user_id in sorted(set(recorded) | set(found)):
        if recorded[user_id] != found[user_id]:
            inspection.report(
                FindingKind.USAGE_MISMATCH,
                f"the ledger counts {recorded[user_id]} bytes for this user's objects; those "
                f"in the bucket add up to {found[user_id]} (the other findings name the "
                "objects)",
                record=f"user {user_id}",
                user_id=user_id,
            )


def check_time_limits(inspection: Inspection) -> None:
    """States that pass (pending, ingesting, running, deleting) but were left past their limit
    (integrity/limits.py)."""
    limits, now = inspection.limits, inspection.now
    with inspection.catalog.session() as session:
        uploads = uploads_pending_since(session, now - limits.cleanup_grace)
        versions = versions_unfinished_since(session, now - limits.ingestion)
        jobs = jobs_unfinished_since(session, now - limits.training)
        deletes = deletes_recorded_since(session, now - limits.cleanup_grace)
    for stuck in uploads:
        inspection.report(
            FindingKind.STUCK_UPLOAD,
            f"still pending {_age(inspection, stuck.since)} after its URLs expired; "
            "cleanup-stale-uploads marks it expired",
            key=stuck.key,
            record=f"upload {stuck.record_id}",
            user_id=stuck.user_id,
            repairable=True,
        )
    for stuck in versions:
        inspection.report(
            FindingKind.STUCK_VERSION,
            f"{stuck.status} for {_age(inspection, stuck.since)} (limit "
            f"{limits.ingestion}); cleanup-stale-uploads restarts or fails it",
            key=stuck.key,
            record=f"version {stuck.record_id}",
            user_id=stuck.user_id,
        )
    for stuck in jobs:
        inspection.report(
            FindingKind.STUCK_JOB,
            f"{stuck.status} for {_age(inspection, stuck.since)} (limit {limits.training})",
            record=f"job {stuck.record_id}",
            user_id=stuck.user_id,
        )
    for stuck in deletes:
        inspection.report(
            FindingKind.STUCK_DELETE,
            f"deleting for {_age(inspection, stuck.since)}: objects are left to move under "
            "deleted/",
            record=f"dataset {stuck.record_id}",
            user_id=stuck.user_id,
            repairable=True,
        )


def check_multipart(inspection: Inspection) -> None:
    """Multipart uploads open at the store that no pending upload owns (their parts cost
    storage until aborted), once older than any upload stays open."""
    open_uploads = list_multipart_uploads(inspection.storage, TEMP_UPLOADS_PREFIX)
    inspection.checked["multipart uploads"] += len(open_uploads)
    with inspection.catalog.session() as session:
        unowned = unowned_multipart_uploads(
            session, open_uploads, inspection.now - inspection.limits.orphan_age
        )
    for upload in unowned:
        inspection.report(
            FindingKind.STRAY_MULTIPART,
            f"a multipart upload started {upload.initiated:%Y-%m-%d %H:%M} UTC that no pending "
            "upload owns",
            key=upload.key,
            record=f"multipart {upload.multipart_upload_id}",
            repairable=True,
        )


def _age(inspection: Inspection, since: datetime) -> str:
    seconds = int((inspection.now - since).total_seconds())
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours} h {rest // 60} min"
