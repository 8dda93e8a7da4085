"""`GET .../versions/{id}/changes`, `UploadClient.version_changes` and the `changes` of the
`automl.dataset.ingested` event: a version against the one before it, from stored profiles."""

from __future__ import annotations

from typing import Any

import pytest

from api.datasets_client import DatasetsClient
from core.errors import UploadError
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.upload_steps import CSV, confirm, error_of, upload

# Against CSV: `rainy` removed, `wind` added, `temperature` now text, a 4th row, `city` 25% null.
SECOND = b"city,temperature,wind\nOslo,cold,3\nLima,mild,5\n,hot,2\nRome,warm,4\n"


def _ready(api: Api, body: bytes = CSV, user: str = "alice", **extra: str) -> dict[str, str]:
    ids: dict[str, str] = confirm(api, upload(api, body, user=user), user=user, **extra).json()
    assert ingest_dataset(ids["version_id"]) == "ready"
    return ids


def _changes_path(dataset_id: str, version_id: str, since: str | None = None) -> str:
    path = f"/api/datasets/{dataset_id}/versions/{version_id}/changes"
    return path if since is None else f"{path}?since={since}"


def test_a_new_version_is_compared_with_the_one_before_it_in_the_api_and_the_event(
    api: Api, ingested_events: list[tuple[str, dict[str, Any]]]
) -> None:
    first = _ready(api)
    second = _ready(api, SECOND, dataset_id=first["dataset_id"])
    response = api.client.get(
        _changes_path(first["dataset_id"], second["version_id"]), headers=api.token()
    )
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer == {
        "dataset_id": first["dataset_id"],
        "version_id": second["version_id"],
        "since_version_id": first["version_id"],
        "columns_added": [{"name": "wind", "dtype": "Int64"}],
        "columns_removed": [{"name": "rainy", "dtype": "Boolean"}],
        "type_changes": [{"name": "temperature", "before": "Float64", "after": "String"}],
        "row_count": {"before": 3, "after": 4, "change": 1},
        "null_rate_changes": [{"name": "city", "before": 0.0, "after": 0.25}],
        "null_rate_threshold": 0.05,
    }
    # `automl.dataset.ingested` carries the same comparison (without the ids it is about).
    payloads = [payload for name, payload in ingested_events if name == "automl.dataset.ingested"]
    assert [payload["version_id"] for payload in payloads] == [
        first["version_id"],
        second["version_id"],
    ]
    assert payloads[0]["changes"]["since_version_id"] is None
    assert payloads[0]["changes"]["row_count"] == {"before": None, "after": 3, "change": None}
    del answer["dataset_id"], answer["version_id"]
    assert payloads[1]["changes"] == {**answer, "complete": True}
    assert payloads[1]["rows"] == 4  # the payload's other fields stay


def test_since_names_any_version_of_the_dataset_and_the_threshold_is_a_setting(
    api_with: Any,
) -> None:
    api: Api = api_with(AUTOML_NULL_RATE_CHANGE_THRESHOLD="0.3")
    api.token("alice", "pro")  # three ingestions in flight: more than the free tier allows
    first = _ready(api)
    second = _ready(api, SECOND, dataset_id=first["dataset_id"])
    third = _ready(api, dataset_id=first["dataset_id"])
    dataset = first["dataset_id"]
    default = api.client.get(_changes_path(dataset, third["version_id"]), headers=api.token())
    assert default.json()["since_version_id"] == second["version_id"]
    named = api.client.get(
        _changes_path(dataset, third["version_id"], since=first["version_id"]),
        headers=api.token(),
    ).json()
    assert named["since_version_id"] == first["version_id"]
    assert named["row_count"] == {"before": 3, "after": 3, "change": 0}
    assert named["columns_added"] == named["columns_removed"] == named["type_changes"] == []
    backwards = api.client.get(
        _changes_path(dataset, first["version_id"], since=second["version_id"]),
        headers=api.token(),
    ).json()
    assert backwards["columns_added"] == [{"name": "rainy", "dtype": "Boolean"}]
    assert backwards["row_count"] == {"before": 4, "after": 3, "change": -1}
    # city's null rate moved by 0.25: under this API's threshold of 0.3.
    assert backwards["null_rate_changes"] == [] and backwards["null_rate_threshold"] == 0.3


def test_another_users_or_another_datasets_versions_are_not_found(api: Api) -> None:
    first = _ready(api)
    other = confirm(api, upload(api)).json()  # another dataset of alice's (pending)
    dataset, version = first["dataset_id"], first["version_id"]
    mallory = api.token("mallory")
    assert error_of(api.client.get(_changes_path(dataset, version), headers=mallory)) == (
        404,
        "not_found",
    )
    for path in (
        _changes_path(dataset, version, since=other["version_id"]),
        _changes_path(other["dataset_id"], version),
        _changes_path(dataset, "0b6f1f6e-4a53-4d5c-9c43-1f2a3b4c5d6e"),
    ):
        assert error_of(api.client.get(path, headers=api.token())) == (404, "not_found"), path
    malformed = api.client.get(_changes_path(dataset, version, since="v1"), headers=api.token())
    assert error_of(malformed) == (400, "invalid_input")


def test_a_version_not_ready_yet_is_a_conflict_either_side(api: Api) -> None:
    first = _ready(api)
    pending = confirm(api, upload(api), dataset_id=first["dataset_id"]).json()
    dataset = first["dataset_id"]
    for path in (
        _changes_path(dataset, pending["version_id"]),
        _changes_path(dataset, first["version_id"], since=pending["version_id"]),
    ):
        response = api.client.get(path, headers=api.token())
        assert error_of(response) == (409, "conflict"), path
        assert "pending, not ready" in response.json()["error"]["message"]


def test_the_client_method_returns_the_answer_and_raises_its_errors(api: Api) -> None:
    """`automl datasets show` calls it; a first version's comparison is empty."""
    first = _ready(api)
    pending = confirm(api, upload(api), dataset_id=first["dataset_id"]).json()
    api.client.headers.update(api.token())
    with DatasetsClient(api.client) as client:  # the app in process, with alice's token
        answer = client.version_changes(first["dataset_id"], first["version_id"])
        assert answer.version_id == first["version_id"]
        assert answer.since_version_id is None  # a first version: nothing changed
        assert answer.row_count.model_dump() == {"before": None, "after": 3, "change": None}
        for listed in ("columns_added", "columns_removed", "type_changes", "null_rate_changes"):
            assert getattr(answer, listed) == []
        with pytest.raises(UploadError, match="HTTP 409") as raised:
            client.version_changes(
                first["dataset_id"], first["version_id"], since=pending["version_id"]
            )
        assert raised.value.status == 409
        with pytest.raises(UploadError, match="HTTP 404") as raised:
            client.version_changes(first["dataset_id"], "0b6f1f6e-4a53-4d5c-9c43-1f2a3b4c5d6e")
        assert raised.value.status == 404
