"""`automl.upload.confirmed` is emitted exactly once per upload (docs/spec.md §3.2), whoever
records the ingestion run first and however often the upload is confirmed."""

from __future__ import annotations

from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL, temporary_settings

from api import run_dispatch
from catalog.database import catalog_for
from catalog.datasets import mark_ingesting
from catalog.tables import DatasetVersion
from core.events import UPLOAD_CONFIRMED
from orchestrator.runs import start_ingestion
from tests.support.api_client import Api
from tests.support.prefect_events import find_events
from tests.support.upload_steps import confirm, error_of, upload


def _announcements(upload_id: str, settled_by: Api) -> list[dict[str, Any]]:
    """The upload's events, read once a later upload's event has arrived: the server stores
    events in the order they come, so any second event of `upload_id` is there by then."""
    sentinel = upload(settled_by, user="sentinel")
    assert confirm(settled_by, sentinel, user="sentinel").status_code == 202
    assert find_events(UPLOAD_CONFIRMED, lambda e: _about(e, sentinel))
    return find_events(UPLOAD_CONFIRMED, lambda e: _about(e, upload_id), timeout=0)


def _about(event: dict[str, Any], upload_id: str) -> bool:
    return bool(event["resource"]["prefect.resource.id"] == f"automl.upload.{upload_id}")


def test_the_event_is_emitted_when_the_run_records_itself_before_the_confirm(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ingestion run starts at once and claims the version (as `ingest-dataset` does)
    before the confirm that created the run records it: the event must not be lost."""

    def start_and_run_at_once(version_id: str) -> str:
        run_id = start_ingestion(version_id)
        with catalog_for(api.settings.catalog_url).session() as session:
            assert mark_ingesting(session, version_id, run_id)
        return run_id

    monkeypatch.setattr(run_dispatch, "start_ingestion", start_and_run_at_once)
    upload_id = upload(api)
    body = confirm(api, upload_id).json()
    with catalog_for(api.settings.catalog_url).session() as session:
        version = session.get(DatasetVersion, body["version_id"])
        assert version is not None and version.status == "ingesting"  # the run came first
    monkeypatch.undo()
    assert confirm(api, upload_id).json()["flow_run_id"] == body["flow_run_id"]
    [event] = _announcements(upload_id, settled_by=api)
    assert event["payload"]["flow_run_id"] == body["flow_run_id"]


def test_confirming_again_emits_no_second_event(api: Api) -> None:
    upload_id = upload(api)
    answers = [confirm(api, upload_id) for _ in range(3)]
    assert {a.status_code for a in answers} == {202}
    assert len(_announcements(upload_id, settled_by=api)) == 1


def test_after_a_503_the_confirm_that_starts_the_run_emits_the_event_once(api: Api) -> None:
    upload_id = upload(api)
    with temporary_settings(updates={PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        assert error_of(confirm(api, upload_id)) == (503, "orchestrator_unavailable")
    body = confirm(api, upload_id).json()
    confirm(api, upload_id)
    [event] = _announcements(upload_id, settled_by=api)
    assert event["payload"]["flow_run_id"] == body["flow_run_id"]
