"""Flow fixtures: confirmed uploads to ingest, the lifecycle state the cleanup and purge flows
work on, each on a fresh bucket of each store kind; jobs to train and models published by
`train-model`, and the runner that serves `render-plots` on its trigger."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from blocks.storage import save_storage_block
from core.settings import get_settings
from flows.train_model import train_model
from samples.generate import SAMPLE
from tests.support.corpus_file import CorpusFile
from tests.support.hostile_corpus import build_corpus
from tests.support.ingestions import MakeIngestion, confirmed_uploads
from tests.support.isolation import isolate_environment
from tests.support.lifecycle import LifecycleState, lifecycle_state
from tests.support.plots_runner import PlotsRunner, render_plots_runner
from tests.support.stores import STORE_KINDS, Store, StoreSpec, e2e_kind, use_store
from tests.support.training_jobs import Trained, job_on

# The flows' steps are under test here, not the search (tests/tasks/training/test_train.py): the
# first candidate always completes and the model is evaluated and explained whatever the budget.
BUDGET = "2"


@pytest.fixture
def confirmed(bucket: Store) -> Iterator[MakeIngestion]:
    with confirmed_uploads(bucket) as make:
        yield make


@pytest.fixture
def state(bucket: Store, ingest_deployment: str) -> Iterator[LifecycleState]:
    """The catalog and bucket the lifecycle flows clean; the ingest deployment registered, for
    the runs cleanup-stale-uploads starts again."""
    with lifecycle_state(bucket) as made:
        yield made


@pytest.fixture
def ready_version(
    bucket: Store, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Store, MakeIngestion]]:
    """A fresh bucket of each store kind and confirmed uploads on it, in an environment with a
    short search."""
    monkeypatch.setenv("AUTOML_TRAINING_BUDGET_SECONDS", BUDGET)
    get_settings.cache_clear()
    with confirmed_uploads(bucket) as make:
        yield bucket, make


@pytest.fixture
def trained_unpublished(ready_version: tuple[Store, MakeIngestion]) -> Trained:
    """A job on a ready version of the bundled sample, not trained yet."""
    store, make = ready_version
    return job_on(store, make, SAMPLE.read_bytes(), "churned")


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
            job = job_on(store, make, SAMPLE.read_bytes(), "churned")
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


@pytest.fixture
def plots_runner(bucket: Store, tmp_path: Path) -> Iterator[PlotsRunner]:
    """Started before the test's version is ingested, so that it boots meanwhile; in the test's
    environment (its catalog), with its store saved as the storage block."""
    with render_plots_runner(tmp_path / "runner.log") as runner:
        yield runner


@pytest.fixture(scope="session")
def small_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CorpusFile]:
    """The hostile corpus at the sizes of the fast lane (tests/support/hostile_corpus.py)."""
    files = build_corpus(tmp_path_factory.mktemp("small-corpus"), "small")
    return {entry.name: entry for entry in files}


@pytest.fixture(scope="session")
def full_corpus(tmp_path_factory: pytest.TempPathFactory) -> dict[str, CorpusFile]:
    """The hostile corpus at the issue's sizes (100 MB line, 50 MB cell, 2^30-row bomb)."""
    files = build_corpus(tmp_path_factory.mktemp("full-corpus"), "full")
    return {entry.name: entry for entry in files}
