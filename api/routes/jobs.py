"""Training routes: start a job, read it, its published model and its plots."""

from __future__ import annotations

from fastapi import APIRouter, status

from api.deps import CatalogDep, CurrentUser, SettingsDep, StorageDep
from api.identifiers import JobIdPath
from api.job_protocol import list_plots, read_job, read_model, start_job
from api.schemas import ErrorBody, JobDetail, ModelResponse, PlotList, TrainRequest, TrainResponse

router = APIRouter(tags=["training"])
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 401, 404, 409)
}


@router.post(
    "/api/jobs/train",
    response_model=TrainResponse,
    status_code=status.HTTP_202_ACCEPTED,
    responses={**_ERRORS, 503: {"model": ErrorBody}, 429: {"model": ErrorBody}},
)
def train(body: TrainRequest, user: CurrentUser, catalog: CatalogDep) -> TrainResponse:
    """Train a model on a ready version of the caller's dataset to predict `target`."""
    return start_job(catalog, user, body.version_id, body.target)


@router.get("/api/jobs/{job_id}", response_model=JobDetail, responses=_ERRORS)
def job(job_id: JobIdPath, user: CurrentUser, catalog: CatalogDep) -> JobDetail:
    """Status, task type, metrics and error of a training job."""
    return read_job(catalog, user, job_id)


@router.get("/api/models/{job_id}", response_model=ModelResponse, responses=_ERRORS)
def model(
    job_id: JobIdPath,
    user: CurrentUser,
    settings: SettingsDep,
    catalog: CatalogDep,
    storage: StorageDep,
) -> ModelResponse:
    """The published model's metadata and a presigned download URL of `model.joblib`."""
    return read_model(catalog, storage, user, job_id, settings.presign_expires_seconds)


@router.get("/api/jobs/{job_id}/plots", response_model=PlotList, responses=_ERRORS)
def plots(
    job_id: JobIdPath,
    user: CurrentUser,
    settings: SettingsDep,
    catalog: CatalogDep,
    storage: StorageDep,
) -> PlotList:
    """The job's plots: names and presigned GET URLs of the PNGs."""
    return list_plots(catalog, storage, user, job_id, settings.presign_expires_seconds)
