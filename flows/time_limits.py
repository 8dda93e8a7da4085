"""What a flow run stopped at its time limit leaves behind: its version or job recorded
`failed` with a reason a user understands, by the flows' failure hooks.

Prefect stops a run past its `timeout_seconds` by raising a cancellation (a BaseException) into
it, which the flows' own `except Exception` does not see; the run then enters the `TimedOut`
failed state and these hooks run in the same process. The cancellation may land anywhere,
though: inside Prefect's own set-up of a task run (prefect 3.8.8) it becomes
`ValueError('Task run is not set')`. `RunTimeLimit` makes any failure past the limit end the
run `TimedOut` all the same, so the reason a user reads is the limit, never "failed on our side".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from typing import Any

from prefect import Flow
from prefect._internal.concurrency.cancellation import CancelledError
from prefect.client.schemas.objects import FlowRun, State
from prefect.context import FlowRunContext
from prefect.flow_engine import FlowRunTimeoutError
from prefect.logging import get_run_logger

from core.events import DATASET_FAILED
from core.keys import model_key, model_metadata_key, plots_prefix
from core.statuses import VersionStatus
from orchestrator.events import emit
from tasks.file_work_process import FileWorkTimeoutError
from tasks.job_records import (
    load_job,
    parameters_disagreement,
    record_stopped_job_failed,
    unrecorded_keys,
)
from tasks.records import load_ingestion_target, record_stopped_run_failed
from tasks.storage import delete_object, list_objects

logger = logging.getLogger("flows.time_limits")

TIMED_OUT = "TimedOut"  # Prefect's name of the failed state a run past its time limit enters


class RunTimeLimit:
    """The time limit of the flow run executing this code, as its body sees it."""

    def __init__(self, deadline: float | None) -> None:
        self.deadline = deadline  # time.monotonic(); None: no limit

    @classmethod
    def of_this_run(cls) -> RunTimeLimit:
        """Counted from when Prefect entered the run's context, just before it started its own
        timer: this deadline is never later than the moment Prefect stops the run."""
        context = FlowRunContext.get()
        if context is None or context.flow is None or context.flow.timeout_seconds is None:
            return cls(None)
        elapsed = (datetime.now(UTC) - context.start_time).total_seconds()
        return cls(time.monotonic() - max(elapsed, 0.0) + context.flow.timeout_seconds)

    def seconds_left(self) -> float | None:
        return None if self.deadline is None else self.deadline - time.monotonic()

    def ended(self, exc: BaseException) -> bool:
        """Whether `exc` is the limit's doing: a file work child killed at the deadline, an
        error raised while Prefect's cancellation was being handled (it is in the chain), or
        any failure once the deadline has passed (the clocks may disagree by a little)."""
        left = self.seconds_left()
        return (
            isinstance(exc, FileWorkTimeoutError)
            or _raised_by_a_cancellation(exc)
            or (left is not None and left <= 0)
        )

    @contextmanager
    def ends_the_run(self) -> Iterator[None]:
        """Around a flow's body: a failure the limit caused ends the run `TimedOut`, and its
        failure hook records the limit as the reason."""
        try:
            yield
        except Exception as exc:
            if not self.ended(exc):
                raise
            get_run_logger().error("stopped at its time limit: %r", exc, exc_info=exc)
            raise FlowRunTimeoutError(f"stopped at its time limit ({exc})") from exc


def _raised_by_a_cancellation(exc: BaseException) -> bool:
    """Prefect's time limit cancels with its CancelledError; an error Prefect raised while
    handling it carries it as its context. The flows' tasks have no time limits of their own,
    so within a flow run that cancellation is the run's limit."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, CancelledError):
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def _stopped_because(what: str, flow: Flow[..., Any], state: State[Any]) -> str:
    if state.name == TIMED_OUT:
        return (
            f"{what} took longer than its time limit of {flow.timeout_seconds:g} seconds and "
            "was stopped; try a smaller file, or ask the operator for a longer limit"
        )
    return f"{what} was stopped before it finished; try again"


def fail_stopped_ingestion(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """`on_failure` hook of ingest-dataset: a version its run left unfinished ends `failed`,
    its reservation released and its upload kept (as any failed ingestion), and a Parquet file
    the run may have uploaded before it was stopped is removed."""
    version_id = str(flow_run.parameters.get("version_id", ""))
    if not version_id:
        return
    reason = _stopped_because("ingestion", flow, state)
    this_run = str(flow_run.id)
    if not record_stopped_run_failed(version_id, this_run, reason):
        return  # the run recorded its outcome itself, or another run owns the version now
    target = load_ingestion_target.fn(version_id)
    # Only while the failure is still this run's: a run started since (an operator's retry)
    # claims the version, and the Parquet key is then that run's to write.
    if target.status == VersionStatus.FAILED and target.flow_run_id in (None, this_run):
        with suppress(Exception):  # the failure recorded matters more than this cleanup
            delete_object.fn(target.parquet_key)
    emit(
        DATASET_FAILED,
        "dataset",
        target.dataset_id,
        {"version_id": version_id, "error": reason},
        {"version": version_id, "upload": target.upload_id},
    )
    logger.error("version %s failed: %s", version_id, reason)


def fail_stopped_training(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """`on_failure` hook of train-model: a job its run left unfinished ends `failed`, so it no
    longer counts against its user's training jobs in flight, and a model the run published
    before it was stopped (before the job recorded it, so nothing counts it) is removed: a
    failed job keeps no model, as a failed version keeps no Parquet file."""
    job_id = flow_run.parameters.get("job_id")
    if not job_id:
        return
    with suppress(Exception):  # an unknown job: nothing to record
        job = load_job.fn(str(job_id))
        given = flow_run.parameters
        if parameters_disagreement(job, str(given.get("version_id")), str(given.get("target"))):
            return  # a refused run: the job may be another run's, and stays as it was
    reason = _stopped_because("training", flow, state)
    if not record_stopped_job_failed(str(job_id), str(flow_run.id), reason):
        return  # the run recorded its outcome itself, or another run owns the job now
    logger.error("job %s failed: %s", job_id, reason)
    with suppress(Exception):  # the failure recorded matters more than this cleanup
        job = load_job.fn(str(job_id))
        # Metadata first: a reader that finds the metadata finds its model.
        for key in (
            model_metadata_key(job.user_id, job.job_id),
            model_key(job.user_id, job.job_id),
        ):
            delete_object.fn(key)


def remove_unrecorded_plots(flow: Flow[..., Any], flow_run: FlowRun, state: State[Any]) -> None:
    """`on_failure` hook of render-plots: plots the run uploaded but never recorded (stopped at
    its time limit, or the catalog failed) are removed; plots an earlier render recorded stay,
    the ledger's, and a re-render draws them again."""
    job_id = flow_run.parameters.get("job_id")
    if not job_id:
        return
    with suppress(Exception):  # the run's failure is recorded by Prefect either way
        keys = [listed.key for listed in list_objects.fn(plots_prefix(str(job_id)))]
        for key in unrecorded_keys(keys):
            delete_object.fn(key)
            logger.warning("job %s: removed plot %s its stopped run never recorded", job_id, key)
