"""Training jobs: created by the API or the flow, their state changes, and who may read them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import CursorResult, or_, update
from sqlalchemy.orm import Session

from catalog.tables import Dataset, DatasetVersion, Job, utcnow
from catalog.usage import record_object
from core.errors import ConflictError, NotFoundError
from core.keys import new_id
from core.statuses import JobStatus, UsageCategory, VersionStatus


@dataclass(frozen=True)
class TrainingSource:
    """The ready version a job trains on, as the flow needs it (ids, key, checksum, profile)."""

    user_id: str
    dataset_id: str
    version_id: str
    parquet_key: str
    sha256: str | None
    profile: dict[str, Any]


def training_source(
    session: Session, version_id: str, user_id: str | None = None
) -> TrainingSource:
    """The version to train on; 404 if unknown (or not `user_id`'s), 409 if not ready."""
    version = session.get(DatasetVersion, version_id)
    dataset = session.get(Dataset, version.dataset_id) if version is not None else None
    if (
        version is None
        or dataset is None
        or version.deleted_at is not None
        or dataset.deleted_at is not None
        or (user_id is not None and dataset.user_id != user_id)
    ):
        raise NotFoundError(f"no dataset version {version_id}")
    if version.status != VersionStatus.READY:
        raise ConflictError(
            f"version {version_id} is {version.status}; training needs a ready version"
        )
    return TrainingSource(
        user_id=dataset.user_id,
        dataset_id=dataset.id,
        version_id=version.id,
        parquet_key=version.parquet_key,
        sha256=version.sha256,
        profile=version.profile or {},
    )


def create_job(
    session: Session, user_id: str, version_id: str, target: str, task_type: str | None
) -> Job:
    job = Job(
        id=new_id(), user_id=user_id, version_id=version_id, target=target, task_type=task_type
    )
    session.add(job)
    session.flush()
    return job


def users_job(session: Session, user_id: str, job_id: str) -> Job:
    """The caller's job; another user's id is reported exactly like an unknown one."""
    job = session.get(Job, job_id)
    if job is None or job.user_id != user_id or job.deleted_at is not None:
        raise NotFoundError(f"no job {job_id}")
    return job


def get_job(session: Session, job_id: str) -> Job:
    job = session.get(Job, job_id)
    if job is None:
        raise NotFoundError(f"no job {job_id}")
    return job


def record_job_flow_run(session: Session, job_id: str, flow_run_id: str) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.flow_run_id.is_(None))
        .values(flow_run_id=flow_run_id)
    )


def mark_running(session: Session, job_id: str, flow_run_id: str | None) -> bool:
    """pending/failed -> running; False if the job already succeeded (nothing to do)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status != JobStatus.SUCCEEDED, Job.deleted_at.is_(None))
        .values(status=JobStatus.RUNNING, flow_run_id=flow_run_id, error=None, updated_at=utcnow())
    )
    return bool(cast("CursorResult[Any]", result).rowcount)


def _record_job_objects(
    session: Session, job: Job, category: UsageCategory, objects: dict[str, int]
) -> None:
    version = session.get(DatasetVersion, job.version_id)
    assert version is not None
    for key, size in objects.items():
        record_object(
            session,
            key=key,
            user_id=job.user_id,
            dataset_id=version.dataset_id,
            category=category,
            size_bytes=size,
            job_id=job.id,
        )


def mark_succeeded(
    session: Session,
    job_id: str,
    task_type: str,
    metrics: dict[str, Any],
    model_objects: dict[str, int] | None = None,
) -> bool:
    """Records the published model's facts and its files' sizes (key -> bytes, in the ledger)
    once; False if another run recorded them first, or the job's dataset was deleted."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status != JobStatus.SUCCEEDED, Job.deleted_at.is_(None))
        .values(
            status=JobStatus.SUCCEEDED,
            task_type=task_type,
            metrics=metrics,
            error=None,
            updated_at=utcnow(),
        )
    )
    if cast("CursorResult[Any]", result).rowcount != 1:
        return False
    _record_job_objects(
        session, get_job(session, job_id), UsageCategory.MODELS, model_objects or {}
    )
    return True


def mark_job_failed(session: Session, job_id: str, reason: str) -> None:
    session.execute(
        update(Job)
        .where(Job.id == job_id, Job.status != JobStatus.SUCCEEDED)
        .values(status=JobStatus.FAILED, error=reason, updated_at=utcnow())
    )


def mark_plots_rendered(session: Session, job_id: str, plot_objects: dict[str, int]) -> bool:
    """Says the job's plot list is whole and records the plots' sizes (key -> bytes) in the
    ledger (set again by a re-render, which redraws the same keys). False if the job's dataset
    was deleted meanwhile: the plots are then not the user's to keep (the flow removes them)."""
    result = session.execute(
        update(Job)
        .where(Job.id == job_id, Job.deleted_at.is_(None))
        .values(plots_rendered_at=utcnow())
    )
    if cast("CursorResult[Any]", result).rowcount != 1:
        return False
    _record_job_objects(session, get_job(session, job_id), UsageCategory.PLOTS, plot_objects)
    return True


def mark_stopped_job_failed(session: Session, job_id: str, flow_run_id: str, reason: str) -> bool:
    """Fails a job whose training run was stopped before it could record an outcome (its time
    limit), unless it finished or another run has claimed it since. True if it failed it."""
    result = session.execute(
        update(Job)
        .where(
            Job.id == job_id,
            Job.status.in_((JobStatus.PENDING, JobStatus.RUNNING)),
            or_(Job.flow_run_id.is_(None), Job.flow_run_id == flow_run_id),
        )
        .values(status=JobStatus.FAILED, error=reason, updated_at=utcnow())
    )
    return bool(cast("CursorResult[Any]", result).rowcount)
