"""`api.client.UploadClient` confirms again while the answer has no `flow_run_id` (the API's
run dispatcher had other runs to create first, docs/spec.md §3.2), so the CLI, the demo and the
latency benchmark always get the run."""

from __future__ import annotations

from typing import Any

import pytest

from api import client as client_module
from api.client import UploadClient


def test_a_confirm_answered_before_its_run_existed_is_repeated_until_it_names_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = [
        {"version_id": "v", "flow_run_id": None},
        {"version_id": "v", "flow_run_id": None},
        {"version_id": "v", "flow_run_id": "run-1"},
    ]
    asked: list[tuple[str, str]] = []

    def answer(method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        asked.append((method, path))
        return answers.pop(0)

    monkeypatch.setattr(client_module, "RUN_ID_POLL_SECONDS", 0.0)
    with UploadClient("http://127.0.0.1:9", "token") as upload_client:
        monkeypatch.setattr(upload_client, "request", answer)
        result = upload_client._confirm({"upload_id": "u", "dataset_name": "d"})
    assert result["flow_run_id"] == "run-1"
    assert asked == [("POST", "/api/datasets/confirm")] * 3


def test_the_repeats_stop_after_the_wait_with_the_run_still_unnamed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(client_module, "RUN_ID_POLL_SECONDS", 0.0)
    monkeypatch.setattr(client_module, "RUN_ID_WAIT_SECONDS", 0.05)
    with UploadClient("http://127.0.0.1:9", "token") as upload_client:
        monkeypatch.setattr(
            upload_client, "request", lambda *_: {"version_id": "v", "flow_run_id": None}
        )
        result = upload_client._confirm({"upload_id": "u", "dataset_name": "d"})
    assert result == {"version_id": "v", "flow_run_id": None}
