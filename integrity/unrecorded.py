"""Objects the ledger does not list, examined a chunk at a time: many are legitimate for a
while (a tombstone keeping a used upload's key until its URLs expire, an upload waiting for
its ingestion, a file a running flow writes before it records it); the rest are differences."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from catalog.integrity import (
    AT_LIVE_KEY,
    JobFacts,
    VersionFacts,
    jobs_by_id,
    ledger_states,
    versions_by_id,
)
from catalog.lifecycle import temp_owners
from core.keys import (
    DATASETS_PREFIX,
    DELETED_PREFIX,
    MODELS_PREFIX,
    PLOTS_PREFIX,
    TEMP_UPLOADS_PREFIX,
    NamedKey,
    read_key,
)
from core.listings import ListedObject
from core.statuses import UNFINISHED_JOB_STATES, JobStatus, ObjectState, UploadStatus, VersionStatus
from integrity.findings import FindingKind
from integrity.inspection import Inspection


def explain_unrecorded(inspection: Inspection, prefix: str, objects: list[ListedObject]) -> None:
    """Reports each of `objects` (under `prefix`, no ledger row at their key when listed) that
    no record accounts for."""
    if not objects:
        return
    with inspection.catalog.session() as session:
        if prefix == TEMP_UPLOADS_PREFIX:
            _explain_temp(inspection, session, objects)
        else:
            _explain_stored(inspection, session, objects)


def _explain_temp(inspection: Inspection, session: Session, objects: list[ListedObject]) -> None:
    """Temp objects are the uploads': kept while the upload may still need them, or keep its
    key occupied; `cleanup-stale-uploads` removes them afterwards."""
    owners = temp_owners(session, (obj.key for obj in objects))
    recorded = ledger_states(session, (obj.key for obj in objects))
    limits, now = inspection.limits, inspection.now
    for obj in objects:
        if recorded.get(obj.key) in AT_LIVE_KEY:
            continue  # recorded since it was listed
        owner = owners.get(obj.key)
        if owner is None:
            old = obj.last_modified < now - limits.orphan_age
            inspection.report(
                FindingKind.STRAY_TEMP_OBJECT
                if old and obj.size == 0
                else FindingKind.UNRECORDED_OBJECT,
                f"no upload record names this {_size(obj)}",
                key=obj.key,
                repairable=old and obj.size == 0,
            )
            continue
        record = f"upload {owner.upload_id}"
        if owner.closed(obj.size):
            if owner.expires_at + limits.cleanup_grace < now:
                inspection.report(
                    FindingKind.STRAY_TEMP_OBJECT,
                    f"the {_size(obj)} of a closed upload ({owner.status}) outlived its URLs "
                    f"(expired {owner.expires_at:%Y-%m-%d %H:%M} UTC); cleanup removes it",
                    key=obj.key,
                    record=record,
                    user_id=owner.user_id,
                    repairable=True,
                )
            continue
        if owner.status == UploadStatus.FAILED and obj.size > 0:
            inspection.report(
                FindingKind.UNRECORDED_OBJECT,
                f"the kept upload of a failed version ({obj.size} bytes) has no ledger row: "
                "the user's quota does not count it",
                key=obj.key,
                record=record,
                user_id=owner.user_id,
            )
        # Otherwise: a pending upload's, a confirmed one waiting for (or in) its ingestion
        # (its reservation counts it), or a failed one's tombstone (no bytes).


def _explain_stored(inspection: Inspection, session: Session, objects: list[ListedObject]) -> None:
    """Datasets, models, plots (at their live key or moved under `deleted/`): each belongs in
    the ledger once the step that wrote it has recorded it."""
    named = {obj.key: read_key(obj.key) for obj in objects}
    recorded = ledger_states(session, (key.removeprefix(DELETED_PREFIX) for key in named))
    versions = versions_by_id(session, (n.version_id for n in named.values() if n and n.version_id))
    jobs = jobs_by_id(session, (n.job_id for n in named.values() if n and n.job_id))
    for obj in objects:
        name = named[obj.key]
        moved = obj.key.startswith(DELETED_PREFIX)
        state = recorded.get(obj.key.removeprefix(DELETED_PREFIX))
        if state == ObjectState.DELETING or (
            state is not None and (state == ObjectState.DELETED) == moved
        ):
            continue  # recorded (or its delete started) since it was listed
        claim = _claim(inspection, name, obj, versions, jobs)
        if claim is not None and claim.in_use:
            continue
        if state is None:
            reason = "no ledger row counts it"
        elif moved:
            reason = f"the ledger keeps it at its live key ({state})"
        else:
            reason = "the ledger says it was moved under deleted/"
        if claim is None:
            reason += "; no catalog record names it"
        inspection.report(
            FindingKind.UNRECORDED_OBJECT,
            f"{_size(obj)}: {reason}",
            key=obj.key,
            record=claim.record if claim else None,
            user_id=claim.user_id if claim else (name.user_id if name else None),
            repairable=state is None and claim is not None and (claim.repairable or claim.owned),
        )


@dataclass(frozen=True)
class Claim:
    """The record a key names, and what it makes of the object."""

    user_id: str
    dataset_id: str
    record: str
    job_id: str | None = None
    in_use: bool = False  # the record uses it, or a running flow is writing it: no difference
    repairable: bool = True  # nothing uses it: it may be moved to the user's trash
    owned: bool = False  # a live record uses it at this key: a missing row is recorded in use


def claim_of(inspection: Inspection, session: Session, obj: ListedObject) -> Claim | None:
    """`Claim` of one object, read afresh (before a repair acts on it)."""
    name = read_key(obj.key)
    if name is None:
        return None
    versions = versions_by_id(session, [name.version_id] if name.version_id else [])
    jobs = jobs_by_id(session, [name.job_id] if name.job_id else [])
    return _claim(inspection, name, obj, versions, jobs)


def _claim(
    inspection: Inspection,
    name: NamedKey | None,
    obj: ListedObject,
    versions: dict[str, VersionFacts],
    jobs: dict[str, JobFacts],
) -> Claim | None:
    """What the record named by the key makes of the object (None: no record names it)."""
    if name is None:
        return None
    live = not name.moved
    if name.prefix == DATASETS_PREFIX:
        version = versions.get(name.version_id or "")
        if version is None or (version.user_id, version.dataset_id) != (
            name.user_id,
            name.dataset_id,
        ):
            return None
        record = f"version {version.version_id}"
        if version.deleted or version.status == VersionStatus.FAILED:
            return Claim(version.user_id, version.dataset_id, record)
        # Ingestion uploads the file before it records it; a ready version's file with no
        # ledger row is the version's ledger_mismatch.
        return Claim(version.user_id, version.dataset_id, record, in_use=live, repairable=False)
    if name.prefix in (MODELS_PREFIX, PLOTS_PREFIX):
        job = jobs.get(name.job_id or "")
        if job is None or name.user_id not in (None, job.user_id):
            return None
        record = f"job {job.job_id}"
        if job.deleted or job.status == JobStatus.FAILED:
            return Claim(job.user_id, job.dataset_id, record, job.job_id)
        recent = obj.last_modified > inspection.now - inspection.limits.training
        # Training publishes the model, render-plots the plots, before recording them; a
        # succeeded job's model with no ledger rows is the job's ledger_mismatch.
        in_use = live and (
            job.status in UNFINISHED_JOB_STATES
            or (name.prefix == MODELS_PREFIX and job.status == JobStatus.SUCCEEDED)
            or (name.prefix == PLOTS_PREFIX and recent)
        )
        return Claim(
            job.user_id,
            job.dataset_id,
            record,
            job.job_id,
            in_use=in_use,
            repairable=False,
            owned=live and job.status == JobStatus.SUCCEEDED,
        )
    return None


def _size(obj: ListedObject) -> str:
    return f"{obj.size}-byte object"
