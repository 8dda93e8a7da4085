"""A failed version's or job's reason names no endpoint, SQL or temp path: it quotes the run
id, and the run's logs keep the details (issue 15, "nothing private leaks")."""

from __future__ import annotations

import asyncio
import time

import pytest
from botocore.exceptions import EndpointConnectionError
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId
from sqlalchemy.exc import OperationalError

from flows.ingest_dataset import ingest_dataset
from flows.train_model import train_model
from tests.support.ingestions import MakeIngestion
from tests.support.stores import default_store_only
from tests.support.training_jobs import Trained

CSV = b"a,b\n1,2\n3,4\n"
ENDPOINT = "http://10.9.8.7:9000/private-bucket"
SQL = "UPDATE users SET reserved_bytes = ? WHERE id = ?"
TEMP_PATH = "/tmp/ingest-0123/dataset.parquet"
PRIVATE = (ENDPOINT, "10.9.8.7", SQL, "reserved_bytes", TEMP_PATH, "/tmp/")
LOG_DEADLINE_SECONDS = 30


def _raising(exc: Exception) -> object:
    def broken(*args: object, **kwargs: object) -> None:
        raise exc

    return broken


def _run_logs(flow_run_id: str, *expected: str) -> str:
    """The run's log lines on the Prefect server, once one of `expected` is among them or the
    deadline passed (logs are sent in batches, and a record's traceback may come a batch after
    its message)."""

    async def read() -> str:
        async with get_client() as client:
            logs = await client.read_logs(
                log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run_id]))
            )
        return "\n".join(log.message for log in logs)

    deadline = time.monotonic() + LOG_DEADLINE_SECONDS
    while (
        not any(part in (text := asyncio.run(read())) for part in expected)
        and time.monotonic() < deadline
    ):
        time.sleep(0.5)
    return text


def _check_reason(reason: str | None, what: str, flow_run_id: str) -> None:
    assert reason == f"{what} failed on our side; the details are logged under run {flow_run_id}"
    for private in PRIVATE:
        assert private not in reason


@default_store_only  # the failures are injected: nothing store-specific
@pytest.mark.parametrize(
    ("step", "exc"),
    [
        ("upload_file_once", EndpointConnectionError(endpoint_url=f"{ENDPOINT}{TEMP_PATH}")),
        ("reserve_parquet_bytes", OperationalError(SQL, (1, "alice"), Exception(TEMP_PATH))),
    ],
    ids=["store-error", "catalog-error"],
)
def test_an_ingestion_failing_on_our_side_records_a_reason_quoting_its_run(
    confirmed: MakeIngestion, monkeypatch: pytest.MonkeyPatch, step: str, exc: Exception
) -> None:
    ingestion = confirmed(CSV)
    monkeypatch.setattr(f"flows.ingest_dataset.{step}", _raising(exc))
    state = ingest_dataset(ingestion.version_id, return_state=True)
    assert state.is_failed()
    version = ingestion.version()
    assert version.status == "failed" and version.flow_run_id is not None
    _check_reason(version.error, "ingestion", version.flow_run_id)
    details = _run_logs(version.flow_run_id, ENDPOINT, SQL)
    assert ENDPOINT in details or SQL in details


@default_store_only
def test_a_training_failing_on_our_side_records_a_reason_quoting_its_run(
    trained_unpublished: Trained, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = trained_unpublished
    exc = EndpointConnectionError(endpoint_url=f"{ENDPOINT}{TEMP_PATH}")
    monkeypatch.setattr("flows.train_model.download_file", _raising(exc))
    state = train_model(job.version_id, "churned", job.job_id, return_state=True)
    assert state.is_failed()
    failed = job.job()
    assert failed.status == "failed" and failed.flow_run_id is not None
    _check_reason(failed.error, "training", failed.flow_run_id)
    assert ENDPOINT in _run_logs(failed.flow_run_id, ENDPOINT)
