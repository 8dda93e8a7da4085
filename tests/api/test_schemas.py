"""Response bodies read from catalog rows (`from_attributes`) keep the JSON the API always sent."""

from __future__ import annotations

from datetime import UTC, datetime

from api.schemas import DatasetRecord, JobDetail, VersionDetail, VersionSummary
from catalog.tables import Dataset, DatasetVersion, Job
from core.statuses import JobStatus, VersionStatus

AT = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def _version() -> DatasetVersion:
    return DatasetVersion(
        id="v1",
        dataset_id="d1",
        upload_id="u1",
        status=VersionStatus.READY,
        parquet_key="datasets/alice/d1/v1.parquet",
        raw_size_bytes=10,
        raw_sha256="r" * 64,
        size_bytes=9,
        sha256="s" * 64,
        row_count=3,
        column_count=2,
        profile={"row_count": 3},
        error=None,
        flow_run_id="f1",
        created_at=AT,
        updated_at=AT,
    )


def test_a_version_row_reads_as_its_summary_and_detail_in_the_same_order() -> None:
    summary = VersionSummary.model_validate(_version()).model_dump_json()
    assert summary == (
        '{"id":"v1","status":"ready","created_at":"2024-05-01T12:00:00Z",'
        '"row_count":3,"column_count":2,"size_bytes":9}'
    )
    detail = VersionDetail.model_validate(_version()).model_dump_json()
    assert detail == summary[:-1] + (
        ',"dataset_id":"d1","raw_size_bytes":10,'
        f'"raw_sha256":"{"r" * 64}","sha256":"{"s" * 64}","error":null,'
        '"profile":{"row_count":3},"flow_run_id":"f1","updated_at":"2024-05-01T12:00:00Z"}'
    )


def test_a_dataset_row_gives_only_its_own_fields() -> None:
    dataset = Dataset(id="d1", user_id="alice", name="sales", created_at=AT, deleted_at=None)
    assert DatasetRecord.model_validate(dataset).model_dump() == {
        "id": "d1",
        "name": "sales",
        "created_at": AT,
    }


def test_a_job_row_reads_as_its_detail_with_the_id_as_job_id() -> None:
    job = Job(
        id="j1",
        user_id="alice",
        version_id="v1",
        target="churned",
        task_type="classification",
        status=JobStatus.SUCCEEDED,
        metrics={"accuracy": 0.9},
        error=None,
        flow_run_id="f2",
        plots_rendered_at=None,
        created_at=AT,
        updated_at=AT,
    )
    assert JobDetail.model_validate(job).model_dump_json() == (
        '{"job_id":"j1","version_id":"v1","target":"churned","task_type":"classification",'
        '"status":"succeeded","metrics":{"accuracy":0.9},"error":null,"flow_run_id":"f2",'
        '"plots_rendered_at":null,"created_at":"2024-05-01T12:00:00Z",'
        '"updated_at":"2024-05-01T12:00:00Z"}'
    )
    assert JobDetail.model_validate(JobDetail.model_validate(job).model_dump()).job_id == "j1"
