"""`automl fsck --repair`: fixes what is safe, each through the code that owns the fact (the
cleanup's stray and expiry rules, the delete loop, the ledger), after looking again at what
the finding names. Never removes bytes that nothing else holds: an object no record uses is
moved to its user's trash, not deleted."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

from blocks.objects import delete_object, head_object
from blocks.presigning import abort_multipart
from blocks.transfers import move_to_deleted
from catalog.consistency import recompute_used_bytes
from catalog.deletion import forget_purged
from catalog.integrity import ledger_states, owned_files
from catalog.lifecycle import expire_stale_uploads, stray_temp_objects, unowned_multipart_uploads
from catalog.usage import record_object
from core.keys import (
    DATASETS_PREFIX,
    DELETED_PREFIX,
    MODELS_PREFIX,
    TEMP_UPLOADS_PREFIX,
    deleted_key,
)
from core.listings import ListedObject, OpenMultipart
from core.statuses import ObjectState, UsageCategory
from integrity.findings import Finding, FindingKind
from integrity.inspection import Inspection
from integrity.unrecorded import claim_of
from tasks.deletion import finish_delete


def apply_repairs(inspection: Inspection, findings: list[Finding]) -> list[Finding]:
    """Repairs each repairable finding it still can; returns those it repaired."""
    repairs: dict[FindingKind, Callable[[Inspection, Finding], bool]] = {
        FindingKind.STRAY_TEMP_OBJECT: _remove_stray,
        FindingKind.STRAY_MULTIPART: _abort_multipart,
        FindingKind.UNRECORDED_OBJECT: _move_to_trash,
        FindingKind.MISSING_OBJECT: _forget_purged_trash,
        FindingKind.LEDGER_MISMATCH: _record_owned_files,
        FindingKind.USED_BYTES_MISMATCH: _recompute_used_bytes,
        FindingKind.STUCK_UPLOAD: _expire_upload,
        FindingKind.STUCK_DELETE: _finish_delete,
    }
    repaired = []
    for finding in findings:
        repair = repairs.get(finding.kind)
        if finding.repairable and repair is not None and repair(inspection, finding):
            repaired.append(finding)
    return repaired


def _record_id(finding: Finding) -> str:
    """The id of "version <id>", "upload <id>", ..."""
    return _record_kind_and_id(finding)[1]


def _record_kind_and_id(finding: Finding) -> tuple[str, str]:
    """("version", "<id>") of "version <id>", ..."""
    assert finding.record is not None
    kind, record_id = finding.record.split(" ", 1)
    return kind, record_id


def _remove_stray(inspection: Inspection, finding: Finding) -> bool:
    """Removes a temp object that `cleanup-stale-uploads` would remove (its rule, asked
    again), if it holds no bytes or belongs to a closed upload whose URLs expired."""
    assert finding.key is not None
    info = head_object(inspection.storage, finding.key)
    if info is None:
        return True
    listed = ListedObject(finding.key, info.last_modified, info.size)
    limits, now = inspection.limits, inspection.now
    with inspection.catalog.session() as session:
        strays = stray_temp_objects(
            session, [listed], now - limits.orphan_age, now - limits.cleanup_grace
        )
    if finding.key not in strays or (finding.record is None and info.size > 0):
        return False
    delete_object(inspection.storage, finding.key)
    return True


def _abort_multipart(inspection: Inspection, finding: Finding) -> bool:
    assert finding.key is not None
    old = inspection.now - inspection.limits.orphan_age
    multipart = OpenMultipart(finding.key, _record_id(finding), old)
    with inspection.catalog.session() as session:
        if not unowned_multipart_uploads(session, [multipart], inspection.now):
            return False  # a pending upload owns its key now
    abort_multipart(inspection.storage, finding.key, multipart.multipart_upload_id)
    return True


_CATEGORIES = {
    DATASETS_PREFIX: UsageCategory.DATASETS,
    MODELS_PREFIX: UsageCategory.MODELS,
}


def _move_to_trash(inspection: Inspection, finding: Finding) -> bool:
    """An object no record uses becomes trash of the user and dataset its key names: moved
    under `deleted/` (copied, then removed) and recorded as `deleted` in the ledger, so it is
    counted, listed in the user's trash and purged like any deleted object. One a live record
    owns at its live key (a plot of a published model) is recorded in use where it is."""
    assert finding.key is not None
    key = finding.key
    live_key = key.removeprefix(DELETED_PREFIX)
    if live_key.startswith(TEMP_UPLOADS_PREFIX):
        return False
    info = head_object(inspection.storage, key)
    if info is None:
        return False
    with inspection.catalog.session() as session:
        claim = claim_of(inspection, session, ListedObject(key, info.last_modified, info.size))
        if claim is None or claim.in_use or ledger_states(session, [live_key]):
            return False
        if claim.owned and key == live_key:
            _record_in_use(session, key, claim.user_id, claim.dataset_id, info.size, claim.job_id)
            return True
        if not claim.repairable:
            return False
    if key == live_key:
        if head_object(inspection.storage, deleted_key(key)) is not None:
            return False  # never overwrite another copy
        move_to_deleted(inspection.storage, key)
    with inspection.catalog.session() as session:
        record_object(
            session,
            key=live_key,
            user_id=claim.user_id,
            dataset_id=claim.dataset_id,
            category=_category(live_key),
            size_bytes=info.size,
            state=ObjectState.DELETED,
            job_id=claim.job_id,
        )
    return True


def _category(live_key: str) -> UsageCategory:
    return next(
        (c for prefix, c in _CATEGORIES.items() if live_key.startswith(prefix)),
        UsageCategory.PLOTS,
    )


def _record_in_use(
    session: Session,
    key: str,
    user_id: str,
    dataset_id: str,
    size: int,
    job_id: str | None = None,
    upload_id: str | None = None,
) -> None:
    record_object(
        session,
        key=key,
        user_id=user_id,
        dataset_id=dataset_id,
        category=_category(key),
        size_bytes=size,
        upload_id=upload_id,
        job_id=job_id,
    )


def _record_owned_files(inspection: Inspection, finding: Finding) -> bool:
    """A ledger row missing for a file a live record owns (a ready version's Parquet file, a
    published model's two files: made before the ledger existed, or their recording lost) is
    recorded in use with the size the store gives. Safe: it only adds accounting. The record
    is read again first; a file that is gone is left (missing, not accounting)."""
    kind, record_id = _record_kind_and_id(finding)
    with inspection.catalog.session() as session:
        owned = owned_files(session, kind, record_id)
    repaired = False
    for file in owned:
        info = head_object(inspection.storage, file.key)
        if info is None or info.tombstone:
            continue
        with inspection.catalog.session() as session:
            if ledger_states(session, [file.key]):
                continue
            _record_in_use(
                session,
                file.key,
                file.user_id,
                file.dataset_id,
                info.size,
                file.job_id,
                file.upload_id,
            )
        repaired = True
    return repaired


def _forget_purged_trash(inspection: Inspection, finding: Finding) -> bool:
    """A trash row whose object under `deleted/` is gone (a purge removes the object, then the
    row: one stopped in between) is forgotten as that purge would have: the bytes it counts
    are no longer stored."""
    assert finding.key is not None and finding.key.startswith(DELETED_PREFIX)
    key = finding.key.removeprefix(DELETED_PREFIX)
    with inspection.catalog.session() as session:
        if ledger_states(session, [key]).get(key) != ObjectState.DELETED:
            return False
    if head_object(inspection.storage, finding.key) is not None:
        return False
    with inspection.catalog.session() as session:
        return forget_purged(session, key)


def _recompute_used_bytes(inspection: Inspection, finding: Finding) -> bool:
    assert finding.user_id is not None
    with inspection.catalog.session() as session:
        recompute_used_bytes(session, finding.user_id)
    return True


def _expire_upload(inspection: Inspection, finding: Finding) -> bool:
    """Closes uploads pending past their expiry as `cleanup-stale-uploads` does: `expired`,
    reservation released, their temp object removed and their multipart upload aborted."""
    upload_id = _record_id(finding)
    with inspection.catalog.session() as session:
        closed = expire_stale_uploads(session, inspection.now - inspection.limits.cleanup_grace)
    for upload in closed:
        delete_object(inspection.storage, upload.temp_key)
        if upload.multipart_upload_id:
            abort_multipart(inspection.storage, upload.temp_key, upload.multipart_upload_id)
    inspection.expired_uploads.update(upload.upload_id for upload in closed)
    return upload_id in inspection.expired_uploads


def _finish_delete(inspection: Inspection, finding: Finding) -> bool:
    """Moves what is left of a recorded delete, as the API and the cleanup flow do."""
    progress = finish_delete(
        inspection.catalog.session,
        lambda key: move_to_deleted(inspection.storage, key),
        _record_id(finding),
    )
    return progress.finished
