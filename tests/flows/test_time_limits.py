"""Every flow has a time limit, configurable per deployment; an ingestion or a training run
that overruns it ends `failed` with a reason a user understands, its reservation released and
nothing left behind (fsck clean)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from prefect import flow

import flows.ingest_dataset as ingest_module
import flows.render_plots as plots_module
import flows.time_limits as time_limits
import flows.train_model as train_module
import tasks.records
import tasks.storage
from catalog.database import catalog_for
from catalog.datasets import mark_failed, mark_ingesting
from catalog.tables import Job
from core.settings import FLOW_TIMEOUT_DEFAULTS, get_settings
from core.statuses import JobStatus, VersionStatus
from deployments.local import LOCAL_DEPLOYMENTS
from flows.ingest_dataset import ingest_dataset
from flows.render_plots import render_plots
from flows.time_limits import RunTimeLimit
from flows.train_model import train_model
from tests.support.consistency import assert_consistent
from tests.support.ingestions import MakeIngestion, assert_stopped_at_time_limit
from tests.support.training_jobs import Trained

CSV = b"id,name,score\n1,ada,3.5\n2,bob,\n3,cy,7.25\n"
# Far longer than the time limit the tests give (1-2 s): only the limit ends the step.
STALLED_SECONDS = 120
# A limit for a test whose run must get past real work (a conversion in a child process) before
# its stall: generous, so that a loaded machine still gets there first (a 2 s limit did not).
LIMIT_AFTER_REAL_WORK_SECONDS = 6


def _stall() -> None:
    """Short sleeps: Prefect's limit may arrive as an exception injected between two
    instructions (its watcher thread, when pytest-timeout holds the alarm signal)."""
    deadline = time.monotonic() + STALLED_SECONDS
    while time.monotonic() < deadline:
        time.sleep(0.05)
    raise AssertionError("the time limit never stopped the run")


def _stall_then_fail_otherwise(*args: Any, **kwargs: Any) -> Any:
    """What Prefect 3.8.8 does when its limit lands while it sets up a task run: the
    cancellation is caught there and another error leaves instead (`ValueError('Task run is
    not set')`). Timing cannot place it there on purpose, so the stall reproduces it."""
    try:
        _stall()
    except BaseException as exc:  # Prefect's CancelledError
        raise ValueError("Task run is not set") from exc


def test_every_deployment_has_a_time_limit() -> None:
    assert {d.name for d in LOCAL_DEPLOYMENTS} == set(FLOW_TIMEOUT_DEFAULTS)
    for deployment in LOCAL_DEPLOYMENTS:
        assert deployment.flow.timeout_seconds == FLOW_TIMEOUT_DEFAULTS[deployment.name]


@pytest.mark.e2e  # a flow module imported in a fresh interpreter: a process of its own
def test_the_time_limit_of_a_deployment_is_read_from_the_environment_of_its_runs() -> None:
    """What a worker's run process does with its deployment's job variables: the flow module,
    imported there, takes its limit from AUTOML_FLOW_TIMEOUTS; the others keep their default."""
    script = (
        "import json, flows.ingest_dataset as i, flows.train_model as t; "
        "print(json.dumps([i.ingest_dataset.timeout_seconds, t.train_model.timeout_seconds]))"
    )
    env = {**os.environ, "AUTOML_FLOW_TIMEOUTS": json.dumps({"ingest-dataset": 90})}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [90, FLOW_TIMEOUT_DEFAULTS["train-model"]]


def test_an_ingestion_past_its_time_limit_ends_failed_and_leaves_nothing_behind(
    confirmed: MakeIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Stalled after its Parquet file was reserved and uploaded (the most it can leave): the
    version ends failed saying so, the reservation is released, the Parquet file removed, the
    upload kept as a failed version's is, and fsck finds nothing to report."""
    ingestion = confirmed(CSV)
    upload_once = tasks.storage.upload_file_once

    def upload_then_stall(*args: Any, **kwargs: Any) -> Any:
        upload_once(*args, **kwargs)
        _stall()

    monkeypatch.setattr(ingest_module, "upload_file_once", upload_then_stall)
    limited = ingest_dataset.with_options(timeout_seconds=2)
    state = limited(ingestion.version_id, return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    assert_stopped_at_time_limit(ingestion, 2)
    assert_consistent(ingestion.store.block)
    # Like any failed version, it can be ingested again (here within the limit).
    monkeypatch.setattr(ingest_module, "upload_file_once", upload_once)
    assert ingest_dataset(ingestion.version_id) == VersionStatus.READY
    assert_consistent(ingestion.store.block)


def test_the_time_limit_counts_from_the_start_of_the_run_not_of_its_body() -> None:
    """The flows' deadline is never later than Prefect's own timer, which starts before the
    body: a failure Prefect's cancellation causes is then always past the deadline."""

    @flow(timeout_seconds=30)
    def late_body() -> float | None:
        time.sleep(0.5)
        return RunTimeLimit.of_this_run().seconds_left()

    left = late_body()
    assert left is not None and 0 < left < 29.5


def test_an_ingestion_whose_limit_surfaces_as_another_error_still_ends_at_its_limit(
    confirmed: MakeIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The limit's cancellation, turned into another error by Prefect's own task set-up,
    still ends the run `TimedOut` with the limit as the version's reason (not "failed on our
    side"), and leaves nothing behind."""
    ingestion = confirmed(CSV)
    monkeypatch.setattr(ingest_module, "download_file", _stall_then_fail_otherwise)
    limited = ingest_dataset.with_options(timeout_seconds=LIMIT_AFTER_REAL_WORK_SECONDS)
    state = limited(ingestion.version_id, return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    assert_stopped_at_time_limit(ingestion, LIMIT_AFTER_REAL_WORK_SECONDS)
    assert_consistent(ingestion.store.block)


def test_a_training_run_whose_limit_surfaces_as_another_error_still_ends_at_its_limit(
    trained_unpublished: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = trained_unpublished
    monkeypatch.setattr(train_module, "train_and_save", _stall_then_fail_otherwise)
    limited = train_model.with_options(timeout_seconds=LIMIT_AFTER_REAL_WORK_SECONDS)
    state = limited(job.version_id, "churned", job.job_id, return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    record = job.job()
    assert record.status == JobStatus.FAILED
    limit = f"time limit of {LIMIT_AFTER_REAL_WORK_SECONDS} seconds"
    assert record.error is not None and limit in record.error
    assert_consistent(job.store.block)


def test_a_training_run_past_its_time_limit_ends_failed(
    trained_unpublished: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = trained_unpublished

    def stalled(*args: Any, **kwargs: Any) -> Any:
        _stall()

    monkeypatch.setattr(train_module, "train_and_save", stalled)
    limited = train_model.with_options(timeout_seconds=1)
    state = limited(job.version_id, "churned", job.job_id, return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    with catalog_for(get_settings().catalog_url).session() as session:
        record = session.get(Job, job.job_id)
        assert record is not None
        assert record.status == JobStatus.FAILED
        assert record.error is not None and "time limit of 1 seconds" in record.error
    assert_consistent(job.store.block)


class _StubMetadata:
    """What `_publish` needs of a model's metadata, without training one."""

    def to_json(self) -> str:
        return "{}"


def test_a_training_run_stopped_after_publishing_leaves_no_model_behind(
    trained_unpublished: Trained, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Stopped between uploading its model and recording the job succeeded: the job ends
    failed, and the model and metadata nothing recorded are removed (fsck clean)."""
    job = trained_unpublished
    model = tmp_path / "model.joblib"
    model.write_bytes(b"not a model")
    publish = train_module._publish

    def quick(*args: Any, **kwargs: Any) -> Any:
        return model, _StubMetadata()

    def publish_then_stall(*args: Any, **kwargs: Any) -> Any:
        publish(*args, **kwargs)
        _stall()

    monkeypatch.setattr(train_module, "train_and_save", quick)
    monkeypatch.setattr(train_module, "_publish", publish_then_stall)
    limited = train_model.with_options(timeout_seconds=2)
    state = limited(job.version_id, "churned", job.job_id, return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    record = job.job()
    assert record.status == JobStatus.FAILED
    assert job.store.keys("models/") == []
    assert_consistent(job.store.block)


def test_a_training_run_whose_catalog_fails_after_publishing_leaves_no_model_behind(
    trained_unpublished: Trained, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    job = trained_unpublished
    model = tmp_path / "model.joblib"
    model.write_bytes(b"not a model")
    monkeypatch.setattr(train_module, "train_and_save", lambda *a, **k: (model, _StubMetadata()))

    def catalog_down(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("catalog down")

    monkeypatch.setattr(train_module, "record_job_succeeded", catalog_down)
    state = train_model(job.version_id, "churned", job.job_id, return_state=True)
    assert state.is_failed()
    assert job.job().status == JobStatus.FAILED
    assert job.store.keys("models/") == []
    assert_consistent(job.store.block)


@pytest.mark.e2e  # trains, then renders every plot: 7 CPU-s alone, a heavy proof (pyproject.toml)
def test_plots_a_render_never_recorded_are_removed(
    trained_unpublished: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    """render-plots stopped (or its catalog failed) after uploading its plots and before
    recording them: the plots nothing counts are removed (fsck clean)."""
    job = trained_unpublished
    assert train_model(job.version_id, "churned", job.job_id) == job.job_id

    def catalog_down(*args: Any, **kwargs: Any) -> bool:
        raise RuntimeError("catalog down")

    monkeypatch.setattr(plots_module, "record_plots_rendered", catalog_down)
    state = render_plots(job.job_id, return_state=True)
    assert state.is_failed()
    assert job.store.keys("plots/") == []
    assert_consistent(job.store.block)


def test_a_restart_leaves_a_version_its_replaced_runs_hook_failed(
    confirmed: MakeIngestion,
) -> None:
    """Cleanup may start a run for a version still `ingesting` after its run timed out, before
    that run's hook records the failure: the new run leaves the failed version as it is."""
    ingestion = confirmed(CSV)
    with catalog_for(get_settings().catalog_url).session() as session:
        mark_ingesting(session, ingestion.version_id, "the-run-that-timed-out")
        mark_failed(session, ingestion.version_id, "ingestion took longer than its time limit")
    assert ingest_dataset(ingestion.version_id, unfinished_only=True) == VersionStatus.FAILED
    version = ingestion.version()
    assert (version.status, version.flow_run_id) == (VersionStatus.FAILED, "the-run-that-timed-out")
    assert ingestion.store.keys() == [ingestion.temp_key]  # nothing ingested
    assert_consistent(ingestion.store.block)


def test_a_stopped_runs_hook_keeps_the_parquet_file_of_a_run_that_took_over(
    confirmed: MakeIngestion, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between the hook recording the failure and removing the Parquet file, another run (an
    operator's retry) claims the version: the Parquet key is that run's, and stays."""
    ingestion = confirmed(CSV)
    upload_once = tasks.storage.upload_file_once

    def upload_then_stall(*args: Any, **kwargs: Any) -> Any:
        upload_once(*args, **kwargs)
        _stall()

    record_failed = tasks.records.record_stopped_run_failed

    def failed_then_taken_over(version_id: str, flow_run_id: str, reason: str) -> bool:
        recorded = record_failed(version_id, flow_run_id, reason)
        with catalog_for(get_settings().catalog_url).session() as session:
            assert mark_ingesting(session, version_id, "the-retry")
        return recorded

    monkeypatch.setattr(ingest_module, "upload_file_once", upload_then_stall)
    monkeypatch.setattr(time_limits, "record_stopped_run_failed", failed_then_taken_over)
    limited = ingest_dataset.with_options(timeout_seconds=LIMIT_AFTER_REAL_WORK_SECONDS)
    state = limited(ingestion.version_id, return_state=True)
    assert state.is_failed() and state.name == "TimedOut"
    version = ingestion.version()
    assert (version.status, version.flow_run_id) == (VersionStatus.INGESTING, "the-retry")
    assert ingestion.store.keys("datasets/") == [version.parquet_key]
