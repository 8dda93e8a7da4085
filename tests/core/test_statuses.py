"""The status words are the strings the catalog stores and the API sends, each defined once."""

from __future__ import annotations

import json

from pydantic import BaseModel

from core.statuses import JobStatus, UploadStatus, VersionStatus


def test_every_status_is_the_string_stored_and_sent_before_the_enums() -> None:
    assert [status.value for status in UploadStatus] == [
        "pending",
        "confirmed",
        "aborted",
        "expired",
        "rejected",
        "ingested",
        "failed",
        "purged",
    ]
    assert [status.value for status in VersionStatus] == ["pending", "ingesting", "ready", "failed"]
    assert [status.value for status in JobStatus] == ["pending", "running", "succeeded", "failed"]


def test_a_status_reads_writes_and_compares_as_its_string() -> None:
    class Body(BaseModel):
        status: VersionStatus

    ready: str = VersionStatus.READY
    assert ready == "ready" and f"is {ready}" == "is ready" and "ready" in {ready}
    assert json.dumps({"status": JobStatus.SUCCEEDED}) == '{"status": "succeeded"}'
    assert Body(status=VersionStatus.FAILED).model_dump_json() == '{"status":"failed"}'
    assert Body.model_validate({"status": "ingesting"}).status is VersionStatus.INGESTING
