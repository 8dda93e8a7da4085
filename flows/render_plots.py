"""The `render-plots` flow: PNGs of the dataset profile and of the model's evaluation."""

from __future__ import annotations

import tempfile
from pathlib import Path

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from core.errors import ConflictError
from core.events import PLOTS_RENDERED
from core.keys import model_metadata_key, plot_key
from core.settings import flow_timeout_seconds
from flows.time_limits import remove_unrecorded_plots
from orchestrator.events import emit
from tasks.job_records import load_job, load_training_source, record_plots_rendered
from tasks.plots import render_plots as draw_plots
from tasks.storage import delete_object, read_object, upload_file
from tasks.training.metadata import ModelMetadata

PNG = "image/png"


def plots_route(job_id: str) -> str:
    """The API route that answers a job's plots with links of the configured lifetime."""
    return f"/api/jobs/{job_id}/plots"


@task(task_run_name="draw-plots-{job_id}")
def draw(
    job_id: str, profile: dict[str, object], metadata: ModelMetadata, out_dir: Path
) -> dict[str, Path]:
    return draw_plots(profile, metadata, out_dir, logger=get_run_logger())


@flow(
    name="render-plots",
    flow_run_name="plots-{job_id}",
    timeout_seconds=flow_timeout_seconds("render-plots"),
    on_failure=[remove_unrecorded_plots],
)
def render_plots(job_id: str) -> list[str]:
    """Draws the plots of a published model to `plots/{job_id}/`, then records that the list is
    whole; re-running redraws the same names over the same keys. Each plot is also an artifact
    of the run naming its key and the API route that links to it: never a presigned URL, which
    anyone who can read the Prefect server could use, and which would outlive the lifetime the
    API gives its links."""
    logger = get_run_logger()
    job = load_job(job_id)
    raw = read_object(model_metadata_key(job.user_id, job_id))
    if raw is None:
        raise ConflictError(f"job {job_id} has no published model to plot")
    metadata = ModelMetadata.from_json(raw)
    profile = load_training_source(job.version_id).profile
    names: list[str] = []
    stored: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix=f"plots-{job_id}-") as workdir:
        for name, path in draw(job_id, profile, metadata, Path(workdir)).items():
            key = plot_key(job_id, name)
            stored[key] = upload_file(path, key, PNG).size
            create_markdown_artifact(
                key=f"plot-{name}",
                markdown=f"`{key}`: its owner gets a link from `GET {plots_route(job_id)}`",
                description=f"{name} of job {job_id}",
            )
            names.append(name)
    create_markdown_artifact(
        key=f"plots-{job_id}",
        markdown="# Plots\n\n"
        + "\n".join(f"- `{plot_key(job_id, n)}`" for n in names)
        + f"\n\nLinks: `GET {plots_route(job_id)}`",
        description=f"Plots of job {job_id}",
    )
    if not record_plots_rendered(job_id, stored):
        # The job's dataset was deleted while drawing: these plots are nobody's to keep.
        for key in stored:
            delete_object(key)
        raise ConflictError(f"job {job_id} was deleted while its plots were drawn")
    emit(
        PLOTS_RENDERED,
        "plots",
        job_id,
        {"job_id": job_id, "version_id": job.version_id, "plots": names},
        related={"job": job_id, "model": job_id, "version": job.version_id},
    )
    logger.info("job %s: %d plots rendered", job_id, len(names))
    return names
