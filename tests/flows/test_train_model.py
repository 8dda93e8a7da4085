"""`train-model` and `render-plots` for real: a ready version becomes a published model with
its metadata, the model's plots land in storage as PNGs and artifacts, and on the Prefect
server publishing a model triggers the served `render-plots` deployment."""

from __future__ import annotations

import hashlib
import inspect
import json
import time

import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.objects import Artifact

from catalog.database import catalog_for
from catalog.jobs import mark_running
from core.events import MODEL_PUBLISHED
from core.settings import get_settings
from flows.render_plots import render_plots
from flows.train_model import train_model
from samples.generate import SAMPLE
from tests.support.ingestions import MakeIngestion
from tests.support.plots_runner import CHAIN_DEADLINE_SECONDS, PlotsRunner
from tests.support.prefect_events import find_events
from tests.support.stores import Store, default_store_only, strict_store_only
from tests.support.training_jobs import Trained, job_on


def test_a_model_is_published_with_full_metadata(trained: Trained) -> None:
    job = trained.job()
    assert job.status == "succeeded" and job.task_type == "classification"
    assert job.metrics is not None and 0.5 < job.metrics["accuracy"] <= 1.0
    prefix = f"models/alice/{trained.job_id}/"
    assert sorted(trained.store.keys(prefix)) == [prefix + "metadata.json", prefix + "model.joblib"]
    model = trained.object(prefix + "model.joblib")
    metadata = json.loads(trained.object(prefix + "metadata.json"))
    assert metadata["model_file"] == {
        "sha256": hashlib.sha256(model).hexdigest(),
        "size_bytes": len(model),
    }
    assert metadata["dataset"]["version_id"] == trained.version_id
    assert metadata["job_id"] == trained.job_id
    assert metadata["target"] == "churned" and metadata["task_type"] == "classification"
    assert metadata["flow_run_id"] and metadata["created_at"]
    assert {"scikit-learn", "polars", "python"} <= set(metadata["library_versions"])
    assert metadata["candidates"] and metadata["metrics"] == job.metrics
    assert "customer_id" in {d["name"] for d in metadata["dropped_columns"]}  # an id column


def test_publishing_emits_model_published(trained: Trained) -> None:
    events = find_events(
        MODEL_PUBLISHED,
        lambda e: e["resource"]["prefect.resource.id"] == f"automl.model.{trained.job_id}",
    )
    assert len(events) == 1
    assert events[0]["payload"]["job_id"] == trained.job_id
    assert events[0]["payload"]["version_id"] == trained.version_id


def test_running_a_finished_job_again_changes_nothing(trained: Trained) -> None:
    key = f"models/alice/{trained.job_id}/model.joblib"
    before = trained.store.client.head_object(Bucket=trained.store.bucket_name, Key=key)
    assert train_model(trained.version_id, "churned", trained.job_id) == trained.job_id
    after = trained.store.client.head_object(Bucket=trained.store.bucket_name, Key=key)
    assert (after["ETag"], after["LastModified"]) == (before["ETag"], before["LastModified"])


def test_render_plots_uploads_pngs_and_artifacts(trained: Trained) -> None:
    names = render_plots(trained.job_id)
    assert {"confusion-matrix", "feature-importance", "candidate-scores"} <= set(names)
    keys = sorted(trained.store.keys(f"plots/{trained.job_id}/"))
    assert keys == sorted(f"plots/{trained.job_id}/{name}.png" for name in names)
    head = trained.store.client.head_object(Bucket=trained.store.bucket_name, Key=keys[0])
    assert head["ContentType"] == "image/png"
    assert trained.object(keys[0]).startswith(b"\x89PNG\r\n\x1a\n")

    import asyncio

    async def plot_artifacts() -> list[Artifact]:
        async with get_client() as client:
            return await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[f"plot-{n}" for n in names])
                )
            )

    artifacts = asyncio.run(plot_artifacts())
    assert {str(a.key) for a in artifacts} >= {f"plot-{n}" for n in names}
    # No presigned URL outlives its lifetime on the Prefect server: the key and the API route.
    mine = [a for a in artifacts if trained.job_id in (a.description or "")]
    assert {a.type for a in mine} == {"markdown"}
    for artifact in mine:
        assert "X-Amz-" not in str(artifact.data) and "http" not in str(artifact.data)
        assert f"plots/{trained.job_id}/" in str(artifact.data)
        assert f"/api/jobs/{trained.job_id}/plots" in str(artifact.data)


@default_store_only  # a refusal before anything is written: nothing store-specific
def test_a_target_with_one_class_fails_the_job_with_a_reason(
    ready_version: tuple[Store, MakeIngestion],
) -> None:
    store, make = ready_version
    rows = "".join(f"{i},{i % 7},yes\n" for i in range(40))
    job = job_on(store, make, f"id,x,label\n{rows}".encode(), "label")
    with pytest.raises(Exception, match="single value"):
        train_model(job.version_id, "label", job.job_id)
    failed = job.job()
    assert failed.status == "failed" and failed.error and "single value" in failed.error
    assert store.keys(f"models/alice/{job.job_id}/") == []


@default_store_only  # a refusal before anything is read or written: nothing store-specific
@pytest.mark.parametrize("given", ["version", "target"])
def test_a_run_whose_parameters_disagree_with_the_job_is_refused_and_trains_nothing(
    ready_version: tuple[Store, MakeIngestion], given: str
) -> None:
    """Anyone who can start runs on the Prefect server chooses their parameters: the job trains
    only on the version and target its record names. The refused run leaves the job as it was
    (another run may be training it), and fails saying why."""
    store, make = ready_version
    job = job_on(store, make, SAMPLE.read_bytes(), "churned")
    other = job_on(
        store,
        make,
        b"id,x,label\n" + b"".join(b"%d,%d,%d\n" % (i, i, i % 2) for i in range(40)),
        "label",
    )
    version_id, target = (
        (other.version_id, "churned") if given == "version" else (job.version_id, "tenure_months")
    )
    before = job.job()
    state = train_model(version_id, target, job.job_id, return_state=True)
    assert state.is_failed()
    with pytest.raises(Exception, match="so it was refused") as refused:
        state.result()
    assert f"trains version {job.version_id} on target 'churned' as recorded" in str(refused.value)
    after = job.job()
    assert (after.status, after.error, after.flow_run_id, after.updated_at) == (
        before.status,
        before.error,
        before.flow_run_id,
        before.updated_at,
    )
    assert (after.version_id, after.target) == (job.version_id, "churned")  # record unchanged
    assert store.keys(f"models/alice/{job.job_id}/") == []


@default_store_only  # a refusal before anything is read or written: nothing store-specific
def test_a_refused_run_leaves_a_job_another_run_is_training_alone(
    ready_version: tuple[Store, MakeIngestion],
) -> None:
    store, make = ready_version
    job = job_on(store, make, SAMPLE.read_bytes(), "churned")
    with catalog_for(get_settings().catalog_url).session() as session:
        assert mark_running(session, job.job_id, "the-run-training-it")
    state = train_model(job.version_id, "tenure_months", job.job_id, return_state=True)
    assert state.is_failed()
    running = job.job()
    assert (running.status, running.flow_run_id, running.error) == (
        "running",
        "the-run-training-it",
        None,
    )


def test_train_model_needs_a_job_id() -> None:
    """A job is created by `POST /api/jobs/train`, under its user's limit of jobs in flight:
    a run cannot create one of its own around that limit."""
    parameter = inspect.signature(train_model.fn).parameters["job_id"]
    assert parameter.default is inspect.Parameter.empty


@strict_store_only  # the end-to-end chain on the store that checks signatures
def test_a_published_model_leads_to_its_plots_in_storage(
    plots_runner: PlotsRunner, trained_unpublished: Trained
) -> None:
    job = trained_unpublished
    plots_runner.wait_for_trigger()
    train_model(job.version_id, "churned", job.job_id)  # emits automl.model.published
    deadline = time.monotonic() + CHAIN_DEADLINE_SECONDS
    while job.job().plots_rendered_at is None:  # recorded once every plot is uploaded
        plots_runner.check(deadline)
        time.sleep(0.5)
    assert f"plots/{job.job_id}/confusion-matrix.png" in job.store.keys(f"plots/{job.job_id}/")
