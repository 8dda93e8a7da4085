"""Tasks that read and record training-job state in the catalog (retried on a lost connection)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from prefect import task

from catalog.jobs import (
    TrainingSource,
    get_job,
    mark_job_failed,
    mark_plots_rendered,
    mark_running,
    mark_stopped_job_failed,
    mark_succeeded,
    training_source,
)
from catalog.usage import recorded_keys
from core.statuses import JobStatus
from tasks.records import CATALOG_RETRIES, catalog_session


@dataclass(frozen=True)
class JobInfo:
    job_id: str
    user_id: str
    version_id: str
    target: str
    task_type: str | None
    status: JobStatus


def parameters_disagreement(job: JobInfo, version_id: str, target: str) -> str | None:
    """Why a run's parameters cannot train `job`, if they name another version or target than
    the catalog recorded for it. Anyone who can start runs on the Prefect server chooses the
    parameters; only the job's record says what its owner asked for."""
    if (version_id, target) == (job.version_id, job.target):
        return None
    return (
        f"job {job.job_id} trains version {job.version_id} on target {job.target!r} as "
        f"recorded; this run was given version {version_id[:64]} and target "
        f"{target[:64]!r}, so it was refused"
    )


@task(task_run_name="load-training-source-{version_id}", **CATALOG_RETRIES)
def load_training_source(version_id: str) -> TrainingSource:
    """The ready version to train on (raises if unknown or not ready)."""
    with catalog_session() as session:
        return training_source(session, version_id)


@task(task_run_name="load-job-{job_id}", **CATALOG_RETRIES)
def load_job(job_id: str) -> JobInfo:
    with catalog_session() as session:
        job = get_job(session, job_id)
        return JobInfo(job.id, job.user_id, job.version_id, job.target, job.task_type, job.status)


@task(task_run_name="start-job-{job_id}", **CATALOG_RETRIES)
def record_job_running(job_id: str, flow_run_id: str | None) -> bool:
    with catalog_session() as session:
        return mark_running(session, job_id, flow_run_id)


@task(task_run_name="record-model-{job_id}", **CATALOG_RETRIES)
def record_job_succeeded(
    job_id: str, task_type: str, metrics: dict[str, Any], model_objects: dict[str, int]
) -> bool:
    with catalog_session() as session:
        return mark_succeeded(session, job_id, task_type, metrics, model_objects)


@task(task_run_name="record-job-failed-{job_id}", **CATALOG_RETRIES)
def record_job_failed(job_id: str, reason: str) -> None:
    with catalog_session() as session:
        mark_job_failed(session, job_id, reason)


@task(task_run_name="record-plots-{job_id}", **CATALOG_RETRIES)
def record_plots_rendered(job_id: str, plot_objects: dict[str, int]) -> bool:
    with catalog_session() as session:
        return mark_plots_rendered(session, job_id, plot_objects)


def record_stopped_job_failed(job_id: str, flow_run_id: str, reason: str) -> bool:
    """`record_job_failed` for a run that was stopped (its time limit) before it recorded an
    outcome. Not a task: it runs from the flow's failure hook, once the run has ended."""
    with catalog_session() as session:
        return mark_stopped_job_failed(session, job_id, flow_run_id, reason)


def unrecorded_keys(keys: list[str]) -> list[str]:
    """The `keys` no ledger row records (objects a stopped run wrote before recording them).
    Not a task: it runs from a flow's failure hook, once the run has ended."""
    with catalog_session() as session:
        recorded = recorded_keys(session, keys)
    return [key for key in keys if key not in recorded]
