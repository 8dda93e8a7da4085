"""The `train-model` flow: a small AutoML search on a ready dataset version, published as
`model.joblib` + `metadata.json`."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger
from prefect.runtime import flow_run

from catalog.jobs import TrainingSource
from core.errors import AutomlError, ConflictError
from core.events import MODEL_PUBLISHED
from core.keys import model_key, model_metadata_key
from core.settings import flow_timeout_seconds, get_settings
from core.statuses import JobStatus
from flows.time_limits import RunTimeLimit, fail_stopped_training
from orchestrator.events import emit
from tasks.failure_reasons import failure_reason
from tasks.job_records import (
    load_job,
    load_training_source,
    parameters_disagreement,
    record_job_failed,
    record_job_running,
    record_job_succeeded,
)
from tasks.storage import download_file, head_object, read_object, upload_file
from tasks.training.metadata import ModelMetadata
from tasks.training.publishing import build_metadata, save_model
from tasks.training.train import train_from_parquet

MODEL_CONTENT_TYPE = "application/octet-stream"
METADATA_CONTENT_TYPE = "application/json"
SEED = 0


def _run_name() -> str:
    return f"train-{flow_run.parameters.get('job_id')}"


@task(task_run_name="train-{job_id}")
def train_and_save(
    job_id: str, source: TrainingSource, data_path: Path, target: str, workdir: Path
) -> tuple[Path, ModelMetadata]:
    """Searches, refits the best pipeline, writes `model.joblib` and the metadata beside it."""
    settings = get_settings()
    result = train_from_parquet(
        data_path,
        target,
        time_budget_seconds=settings.training_budget_seconds,
        seed=SEED,
        max_cells=settings.training_max_cells,
    )
    model_path = workdir / "model.joblib"
    model_sha256, model_size = save_model(result.pipeline, model_path)
    metadata = build_metadata(
        result,
        job_id=job_id,
        dataset_id=source.dataset_id,
        version_id=source.version_id,
        dataset_sha256=source.sha256 or "",
        model_sha256=model_sha256,
        model_size_bytes=model_size,
        flow_run_id=flow_run.get_id(),
    )
    return model_path, metadata


def _publish(
    job_id: str, user_id: str, model_path: Path, metadata: ModelMetadata
) -> dict[str, int]:
    """Model first, metadata second: a reader that finds the metadata finds its model. Returns
    the stored size of each (key -> bytes), which the job records for the user's usage."""
    model = upload_file(model_path, model_key(user_id, job_id), MODEL_CONTENT_TYPE)
    metadata_path = model_path.with_name("metadata.json")
    metadata_path.write_text(metadata.to_json())
    written = upload_file(metadata_path, model_metadata_key(user_id, job_id), METADATA_CONTENT_TYPE)
    return {model.key: model.size, written.key: written.size}


def _published_sizes(job_id: str, user_id: str) -> dict[str, int]:
    """The sizes of a model a run published before it stopped (key -> bytes)."""
    sizes: dict[str, int] = {}
    for key in (model_key(user_id, job_id), model_metadata_key(user_id, job_id)):
        info = head_object(key)
        if info is not None:
            sizes[key] = info.size
    return sizes


def _metrics_markdown(job_id: str, metadata: ModelMetadata) -> str:
    metrics = "\n".join(
        f"| {name} | {value:.4f} |" if isinstance(value, float) else f"| {name} | {value} |"
        for name, value in metadata.metrics.items()
    )
    candidates = "\n".join(
        f"| {c.name} | {c.cv_score} | {c.fit_seconds} |" for c in metadata.candidates
    )
    return (
        f"# Model of job {job_id}\n\n"
        f"Target `{metadata.target}`, {metadata.task_type}, chosen "
        f"`{metadata.chosen.name}` by {metadata.selection_metric}.\n\n"
        f"| metric (held-out split) | value |\n|---|---|\n{metrics}\n\n"
        f"| candidate | CV score | fit seconds |\n|---|---|---|\n{candidates}\n"
    )


@flow(
    name="train-model",
    flow_run_name=_run_name,
    timeout_seconds=flow_timeout_seconds("train-model"),
    on_failure=[fail_stopped_training],
)
def train_model(version_id: str, target: str, job_id: str) -> str:
    """Idempotent: a finished job is left as it is; a model already published by a run that
    stopped before recording it is recorded, not retrained. A failure marks the job `failed`
    with a readable reason. The job trains on the version and target its record names; a run
    whose parameters disagree with it is refused (the run fails, saying why in its log) and
    leaves the job as it was: the run may not be the one training it. `job_id` is required: a
    job is created by `POST /api/jobs/train`, under its user's limit of jobs in flight."""
    limit = RunTimeLimit.of_this_run()
    with limit.ends_the_run():
        return _train_job(version_id, target, job_id, limit)


def _train_job(version_id: str, target: str, job_id: str, limit: RunTimeLimit) -> str:
    logger = get_run_logger()
    job = load_job(job_id)
    if job.status == JobStatus.SUCCEEDED:
        logger.info("job %s already published its model; nothing to do", job_id)
        return job_id
    disagreement = parameters_disagreement(job, version_id, target)
    if disagreement is not None:
        logger.error("run refused for job %s: %s", job_id, disagreement)
        raise ConflictError(disagreement)
    version_id, target = job.version_id, job.target  # from here on, only the record counts
    published = read_object(model_metadata_key(job.user_id, job_id))
    if published is not None:
        metadata = ModelMetadata.from_json(published)
        stored = _published_sizes(job_id, job.user_id)
    else:
        record_job_running(job_id, flow_run.get_id())
        try:
            source = load_training_source(version_id)
            with tempfile.TemporaryDirectory(prefix=f"train-{job_id}-") as name:
                workdir = Path(name)
                data_path = workdir / "dataset.parquet"
                download_file(source.parquet_key, data_path)
                model_path, metadata = train_and_save(job_id, source, data_path, target, workdir)
                stored = _publish(job_id, job.user_id, model_path, metadata)
        except Exception as exc:
            if limit.ended(exc):  # ends `TimedOut`: fail_stopped_training records the job
                raise
            reason = failure_reason(exc, "training", flow_run.get_id())
            if not isinstance(exc, AutomlError):  # its details stay in this run's logs
                logger.error("job %s: training error in run %s: %r", job_id, flow_run.get_id(), exc)
            record_job_failed(job_id, reason)
            logger.error("job %s failed: %s", job_id, reason)
            raise
    if not record_job_succeeded(job_id, metadata.task_type, metadata.metrics, stored):
        return job_id  # another run recorded and announced it
    create_markdown_artifact(
        key=f"model-{job_id}",
        markdown=_metrics_markdown(job_id, metadata),
        description=f"Metrics of the model of job {job_id}",
    )
    emit(
        MODEL_PUBLISHED,
        "model",
        job_id,
        {
            "job_id": job_id,
            "version_id": version_id,
            "task_type": metadata.task_type,
            "metrics": metadata.metrics,
        },
        related={"job": job_id, "version": version_id},
    )
    logger.info("job %s published its model: %s", job_id, metadata.metrics)
    return job_id
