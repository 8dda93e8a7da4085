"""`train-model` and `render-plots` for real: a ready version becomes a published model with
its metadata, the model's plots land in storage as PNGs and artifacts, and on the Prefect
server publishing a model triggers the served `render-plots` deployment."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.settings import PREFECT_API_URL

from blocks.storage import save_storage_block
from catalog.database import catalog_for
from catalog.jobs import create_job
from catalog.tables import Job
from core.events import MODEL_PUBLISHED
from core.process_group import stop_process_group
from core.settings import get_settings
from flows.ingest_dataset import ingest_dataset
from flows.render_plots import render_plots
from flows.train_model import train_model
from samples.generate import SAMPLE
from tests.support.ingestions import MakeIngestion, confirmed_uploads
from tests.support.isolation import isolate_environment
from tests.support.prefect_events import find_events
from tests.support.stores import (
    STORE_KINDS,
    Store,
    StoreSpec,
    default_store_only,
    e2e_kind,
    strict_store_only,
    use_store,
)

# The flows' steps are under test here, not the search (tests/tasks/test_training.py): the
# first candidate always completes and the model is evaluated and explained whatever the budget.
BUDGET = "2"


@dataclass
class Trained:
    store: Store
    version_id: str
    job_id: str

    def job(self) -> Job:
        with catalog_for(get_settings().catalog_url).session() as session:
            found = session.get(Job, self.job_id)
            assert found is not None
            return found

    def object(self, key: str) -> bytes:
        body: bytes = self.store.client.get_object(Bucket=self.store.bucket_name, Key=key)[
            "Body"
        ].read()
        return body


@pytest.fixture
def ready_version(
    bucket: Store, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Store, MakeIngestion]]:
    monkeypatch.setenv("AUTOML_TRAINING_BUDGET_SECONDS", BUDGET)
    get_settings.cache_clear()
    with confirmed_uploads(bucket) as make:
        yield bucket, make


def _job_on(store: Store, make: MakeIngestion, content: bytes, target: str) -> Trained:
    ingestion = make(content)
    assert ingest_dataset(ingestion.version_id) == "ready"
    with catalog_for(get_settings().catalog_url).session() as session:
        job_id = create_job(session, "alice", ingestion.version_id, target, None).id
    return Trained(store, ingestion.version_id, job_id)


@pytest.fixture
def trained_unpublished(ready_version: tuple[Store, MakeIngestion]) -> Trained:
    """A job on a ready version of the bundled sample, not trained yet."""
    store, make = ready_version
    return _job_on(store, make, SAMPLE.read_bytes(), "churned")


@pytest.fixture(scope="module", params=[e2e_kind(kind) for kind in STORE_KINDS])
def published(
    request: pytest.FixtureRequest, prefect_api: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Trained, dict[str, str]]]:
    """A job on a ready version of the bundled sample, trained once for the module on each store
    kind (the strict one is where the stores' differences would show; the default one keeps
    these tests in the fast lane), with the environment it was made in.

    Training is the slow step, and the tests of a published model only read it or run a step
    after it (training again, rendering plots) that leaves what the others read unchanged."""
    with pytest.MonkeyPatch.context() as patch:
        isolate_environment(patch, tmp_path_factory.mktemp("published"))
        patch.setenv("AUTOML_TRAINING_BUDGET_SECONDS", BUDGET)
        spec: StoreSpec = request.getfixturevalue(f"{request.param}_store_spec")
        store = use_store(spec, patch)
        store.create_bucket()
        environment = {
            name: value for name, value in os.environ.items() if name.startswith(("R2_", "AUTOML_"))
        }
        with confirmed_uploads(store) as make:
            job = _job_on(store, make, SAMPLE.read_bytes(), "churned")
            assert train_model(job.version_id, "churned", job.job_id) == job.job_id
            yield job, environment
        store.remove_bucket()
    get_settings.cache_clear()


@pytest.fixture
def trained(published: tuple[Trained, dict[str, str]], monkeypatch: pytest.MonkeyPatch) -> Trained:
    """The module's published model, in the environment it was made in (its catalog, its store
    saved as the storage block again, over whatever block another test saved)."""
    job, environment = published
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    save_storage_block(get_settings())
    return job


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

    async def artifact_keys() -> set[str]:
        async with get_client() as client:
            found = await client.read_artifacts(
                artifact_filter=ArtifactFilter(
                    key=ArtifactFilterKey(any_=[f"plot-{n}" for n in names])
                )
            )
        return {str(a.key) for a in found}

    assert asyncio.run(artifact_keys()) >= {f"plot-{n}" for n in names}


@default_store_only  # a refusal before anything is written: nothing store-specific
def test_a_target_with_one_class_fails_the_job_with_a_reason(
    ready_version: tuple[Store, MakeIngestion],
) -> None:
    store, make = ready_version
    rows = "".join(f"{i},{i % 7},yes\n" for i in range(40))
    job = _job_on(store, make, f"id,x,label\n{rows}".encode(), "label")
    with pytest.raises(Exception, match="single value"):
        train_model(job.version_id, "label", job.job_id)
    failed = job.job()
    assert failed.status == "failed" and failed.error and "single value" in failed.error
    assert store.keys(f"models/alice/{job.job_id}/") == []


CHAIN_DEADLINE_SECONDS = 120


@dataclass
class Runner:
    """The `render-plots` deployment served with its trigger by a subprocess, as `automl up`
    does (polling every second)."""

    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text()[-3000:]

    def check(self, deadline: float) -> None:
        assert self.process.poll() is None, self.tail()
        assert time.monotonic() < deadline, self.tail()

    def wait_for_trigger(self) -> None:
        """Until the runner has registered the deployment and its trigger (an automation)."""
        deadline = time.monotonic() + CHAIN_DEADLINE_SECONDS
        while True:
            automations = httpx.post(f"{PREFECT_API_URL.value()}/automations/filter", json={})
            names = {a["name"] for a in automations.json()}
            if "render-plots-on-model-published" in names:
                return
            self.check(deadline)
            time.sleep(0.25)


@pytest.fixture
def plots_runner(bucket: Store, tmp_path: Path) -> Iterator[Runner]:
    """Started before the test's version is ingested, so that it boots meanwhile; in the test's
    environment (its catalog), with its store saved as the storage block."""
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    log_path = tmp_path / "runner.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.serve_render_plots"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield Runner(process, log_path)
        finally:
            stop_process_group(process, signal.SIGTERM, 30)


@strict_store_only  # the end-to-end chain on the store that checks signatures
def test_a_published_model_leads_to_its_plots_in_storage(
    plots_runner: Runner, trained_unpublished: Trained
) -> None:
    job = trained_unpublished
    plots_runner.wait_for_trigger()
    train_model(job.version_id, "churned", job.job_id)  # emits automl.model.published
    deadline = time.monotonic() + CHAIN_DEADLINE_SECONDS
    while job.job().plots_rendered_at is None:  # recorded once every plot is uploaded
        plots_runner.check(deadline)
        time.sleep(0.5)
    assert f"plots/{job.job_id}/confusion-matrix.png" in job.store.keys(f"plots/{job.job_id}/")
