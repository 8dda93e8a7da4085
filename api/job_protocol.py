"""Training jobs as the API answers them: start one, read it, its model and its plots."""

from __future__ import annotations

import logging

from prefect_aws import S3Bucket

from api.deps import AuthenticatedUser
from api.schemas import JobDetail, ModelResponse, PlotList, PlotUrl, TrainResponse
from blocks.objects import list_keys, read_object
from blocks.presigning import presign_get
from catalog.database import Catalog
from catalog.in_flight import claim_training_slot
from catalog.jobs import (
    create_job,
    mark_job_failed,
    record_job_flow_run,
    training_source,
    users_job,
)
from core.errors import AutomlError, ConflictError, InvalidInputError
from core.excerpts import NAME_MAX_CHARS, excerpt, quoted_name
from core.keys import model_key, model_metadata_key, plots_prefix
from core.statuses import JobStatus
from orchestrator.runs import start_training
from tasks.training.metadata import ModelMetadata
from tasks.training.rules import task_type_for_profile_column

logger = logging.getLogger("api.jobs")


def start_job(
    catalog: Catalog, user: AuthenticatedUser, version_id: str, target: str
) -> TrainResponse:
    """Creates a job on the caller's ready version and starts its `train-model` run."""
    with catalog.session() as session:
        source = training_source(session, version_id, user.id)
        columns = {column["name"]: column for column in source.profile.get("columns", [])}
        if target not in columns:
            shown = ", ".join(excerpt(name, NAME_MAX_CHARS) for name in sorted(columns)[:20])
            raise InvalidInputError(
                f"{quoted_name(target)} is not a column of this dataset (columns: {shown})"
            )
        task_type = task_type_for_profile_column(
            columns[target], int(source.profile.get("row_count", 0))
        )
        # Within the user's limit of training jobs in flight (429 beyond it), counted under
        # their lock in the transaction that creates the job.
        claim_training_slot(session, user.id, user.tier)
        job = create_job(session, user.id, version_id, target, task_type)
        job_id = job.id
    try:
        flow_run_id = start_training(job_id, version_id, target)
    except AutomlError as exc:
        with catalog.session() as session:
            mark_job_failed(session, job_id, exc.message)
        raise
    with catalog.session() as session:
        record_job_flow_run(session, job_id, flow_run_id)
    logger.info("job %s started on version %s as run %s", job_id, version_id, flow_run_id)
    return TrainResponse(job_id=job_id, flow_run_id=flow_run_id, task_type=task_type)


def read_job(catalog: Catalog, user: AuthenticatedUser, job_id: str) -> JobDetail:
    with catalog.session() as session:
        return JobDetail.model_validate(users_job(session, user.id, job_id))


def read_model(
    catalog: Catalog, storage: S3Bucket, user: AuthenticatedUser, job_id: str, expires_in: int
) -> ModelResponse:
    """The model's metadata and a presigned GET of `model.joblib` (409 until published)."""
    with catalog.session() as session:
        job = users_job(session, user.id, job_id)
        status = job.status
    if status != JobStatus.SUCCEEDED:
        raise ConflictError(f"job {job_id} is {status}; its model is not published yet")
    body = read_object(storage, model_metadata_key(user.id, job_id))
    if body is None:
        raise ConflictError(f"job {job_id} has no published model in storage")
    signed = presign_get(
        storage, model_key(user.id, job_id), expires_in, download_name=f"model-{job_id}.joblib"
    )
    return ModelResponse(
        job_id=job_id,
        metadata=ModelMetadata.from_json(body),
        download_url=signed.url,
        expires_at=signed.expires_at,
    )


def list_plots(
    catalog: Catalog, storage: S3Bucket, user: AuthenticatedUser, job_id: str, expires_in: int
) -> PlotList:
    """The job's plots (names and presigned GETs), and whether `render-plots` has finished
    (until then the list may be partial)."""
    with catalog.session() as session:
        rendered = users_job(session, user.id, job_id).plots_rendered_at is not None
    prefix = plots_prefix(job_id)
    plots = []
    for key in list_keys(storage, prefix):
        name = key.removeprefix(prefix).removesuffix(".png")
        signed = presign_get(storage, key, expires_in)
        plots.append(PlotUrl(name=name, url=signed.url, expires_at=signed.expires_at))
    return PlotList(job_id=job_id, rendered=rendered, plots=plots)
