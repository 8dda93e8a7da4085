"""`automl datasets list/show/download/delete` and `automl usage` as a person and a script use
them (typer's CliRunner against the test API): tables, `--json`, the Parquet file downloaded
byte for byte, the delete's confirmation, and each refusal as one line with a non-zero exit."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
import typer
from rich.filesize import decimal
from typer.testing import CliRunner, Result

from cli import app
from cli_errors import WHAT_TO_DO, error_line, fail_with
from core.errors import UploadError
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.upload_steps import confirm, upload

runner = CliRunner()


def _token(api: Api, user: str = "alice") -> str:
    return api.token(user)["Authorization"].removeprefix("Bearer ")


def _automl(api: Api, *args: str, token: str | None = None, stdin: str | None = None) -> Result:
    return runner.invoke(app, [*args, "--token", token or _token(api)], input=stdin)


def _ready_version(api: Api) -> dict[str, str]:
    """Uploads, confirms and ingests (the flow run for real) one small CSV."""
    body: dict[str, str] = confirm(api, upload(api)).json()
    assert ingest_dataset(body["version_id"]) == "ready"
    return body


def _api_answer(api: Api, path: str) -> Any:
    response = api.client.get(path, headers=api.token())
    assert response.status_code == 200, response.text
    return response.json()


def _one_error_line(result: Result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_list_shows_each_dataset_with_its_latest_version(datasets_cli: Api) -> None:
    api = datasets_cli
    empty = _automl(api, "datasets", "list")
    assert empty.exit_code == 0, empty.output
    assert "no datasets yet" in empty.stdout
    ids = _ready_version(api)
    result = _automl(api, "datasets", "list")
    assert result.exit_code == 0, result.output
    [row] = [line for line in result.stdout.splitlines() if ids["dataset_id"] in line]
    assert [cell.strip() for cell in row.split("│")[2:6]] == ["weather", "1", "ready", "3"]


def test_list_json_is_every_dataset_as_the_api_gives_it(datasets_cli: Api) -> None:
    api = datasets_cli
    ids = _ready_version(api)
    result = _automl(api, "datasets", "list", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed == {"items": _api_answer(api, "/api/datasets")["items"], "total": 1}
    assert listed["items"][0]["id"] == ids["dataset_id"]
    assert listed["items"][0]["latest_version"]["status"] == "ready"


def test_show_lists_every_version_with_status_rows_columns_and_size(datasets_cli: Api) -> None:
    api = datasets_cli
    ids = _ready_version(api)
    second = confirm(api, upload(api), dataset_id=ids["dataset_id"]).json()  # still pending
    result = _automl(api, "datasets", "show", ids["dataset_id"])
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"weather  {ids['dataset_id']}")
    assert "2 versions" in result.stdout
    [ready] = [line for line in result.stdout.splitlines() if ids["version_id"] in line]
    size = _api_answer(api, f"/api/datasets/{ids['dataset_id']}/versions/{ids['version_id']}")[
        "size_bytes"
    ]
    assert [cell.strip() for cell in ready.split("│")[2:6]] == ["ready", "3", "3", decimal(size)]
    [pending] = [line for line in result.stdout.splitlines() if second["version_id"] in line]
    assert [cell.strip() for cell in pending.split("│")[2:6]] == ["pending", "-", "-", "-"]


def test_show_json_is_the_apis_answer_with_the_newest_ready_versions_changes(
    datasets_cli: Api,
) -> None:
    api = datasets_cli
    ids = _ready_version(api)
    result = _automl(api, "datasets", "show", ids["dataset_id"], "--json")
    assert result.exit_code == 0, result.output
    dataset_path = f"/api/datasets/{ids['dataset_id']}"
    changes_path = f"{dataset_path}/versions/{ids['version_id']}/changes"
    assert json.loads(result.stdout) == {
        **_api_answer(api, dataset_path),
        "changes": _api_answer(api, changes_path),
    }


SECOND_CSV = (
    b"city,temperature,rainy,wind\nOslo,4.5,yes,3\nLima,19.0,,5\nPune,31.2,,7\nRome,22.0,no,2\n"
)


def test_show_prints_what_changed_since_the_version_before(datasets_cli: Api) -> None:
    """A column added, a type changed (true/false became yes/no text), a row more and a null
    rate up: what a person uploading a new version wants to know."""
    api = datasets_cli
    ids = _ready_version(api)
    second = confirm(api, upload(api, SECOND_CSV), dataset_id=ids["dataset_id"]).json()
    assert ingest_dataset(second["version_id"]) == "ready"
    result = _automl(api, "datasets", "show", ids["dataset_id"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    at = lines.index(f"changes in {second['version_id']} since {ids['version_id']}:")
    assert lines[at + 1 :] == [
        "  rows: 3 -> 4 (+1)",
        "  columns added: wind (Int64)",
        "  columns removed: none",
        "  type changes: rainy: Boolean -> String",
        "  null rates (moved more than 5%): rainy: 0.0% -> 50.0%",
    ]


def test_download_writes_the_stored_parquet_file_byte_for_byte(
    datasets_cli: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    api = datasets_cli
    ids = _ready_version(api)
    [key] = [k for k in api.store.keys("datasets/") if k.endswith(f"{ids['version_id']}.parquet")]
    stored = api.store.client.get_object(Bucket=api.store.bucket_name, Key=key)["Body"].read()
    tmp_path = tmp_path / "downloads"  # beside the test's automl-data
    tmp_path.mkdir()
    monkeypatch.chdir(tmp_path)
    result = _automl(api, "datasets", "download", ids["dataset_id"])  # the newest ready version
    assert result.exit_code == 0, result.output
    default = tmp_path / f"weather-{ids['version_id'][:8]}.parquet"
    assert default.read_bytes() == stored
    assert f"wrote {default.name}" in result.stdout
    shown = re.search(r"([\d.]+)/([\d.]+) kB", result.stderr)
    assert shown is not None and shown[1] == shown[2]  # the progress bar counted every byte
    assert [p.name for p in tmp_path.iterdir()] == [default.name]  # no partial file left

    target = tmp_path / "named.parquet"
    scripted = _automl(
        api,
        "datasets",
        "download",
        ids["dataset_id"],
        "--version",
        ids["version_id"],
        "-o",
        str(target),
        "--json",
    )
    assert scripted.exit_code == 0, scripted.output
    assert target.read_bytes() == stored
    assert json.loads(scripted.stdout) == {
        "dataset_id": ids["dataset_id"],
        "version_id": ids["version_id"],
        "path": str(target),
        "bytes": len(stored),
    }


def test_download_without_a_ready_version_is_one_line(datasets_cli: Api, tmp_path: Path) -> None:
    api = datasets_cli
    tmp_path = tmp_path / "downloads"
    tmp_path.mkdir()
    ids = confirm(api, upload(api)).json()
    result = _automl(api, "datasets", "download", ids["dataset_id"], "-o", str(tmp_path / "x"))
    assert result.exit_code == 1
    assert "has no ready version to download yet" in _one_error_line(result)
    named = _automl(
        api, "datasets", "download", ids["dataset_id"], "--version", ids["version_id"]
    )  # 409 until ready
    assert named.exit_code == 1
    line = _one_error_line(named)
    assert "HTTP 409" in line and WHAT_TO_DO[409] in line
    assert not list(tmp_path.iterdir())


def test_delete_asks_first_and_a_no_keeps_the_dataset(datasets_cli: Api) -> None:
    api = datasets_cli
    ids = _ready_version(api)
    refused = _automl(api, "datasets", "delete", ids["dataset_id"], stdin="n\n")
    assert refused.exit_code == 1
    assert "Delete dataset 'weather'" in refused.stderr and "1 version " in refused.stderr
    assert "not deleted" in refused.stderr
    _api_answer(api, f"/api/datasets/{ids['dataset_id']}")  # still there

    accepted = _automl(api, "datasets", "delete", ids["dataset_id"], stdin="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "deleted" in accepted.stdout
    gone = api.client.get(f"/api/datasets/{ids['dataset_id']}", headers=api.token())
    assert gone.status_code == 404
    assert any(key.startswith("deleted/datasets/") for key in api.store.keys("deleted/"))


def test_delete_yes_permanent_json_purges_without_asking(datasets_cli: Api) -> None:
    api = datasets_cli
    ids = _ready_version(api)
    result = _automl(api, "datasets", "delete", ids["dataset_id"], "--yes", "--permanent", "--json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert (answer["id"], answer["status"], answer["objects_purged"]) == (
        ids["dataset_id"],
        "deleted",
        1,
    )
    assert api.store.data_keys("datasets/") == api.store.data_keys("deleted/") == []


def test_usage_shows_the_quota_and_json_is_the_apis_answer(datasets_cli: Api) -> None:
    api = datasets_cli
    _ready_version(api)
    usage = _api_answer(api, "/api/usage")
    table = _automl(api, "usage")
    assert table.exit_code == 0, table.output
    [in_use] = [line for line in table.stdout.splitlines() if "in use" in line]
    assert [cell.strip() for cell in in_use.split("│")[2:6]] == [
        decimal(usage["used"]["datasets"]),
        "0 bytes",
        "0 bytes",
        decimal(usage["used"]["total"]),
    ]
    assert "free" in table.stdout and "quota" in table.stdout
    scripted = _automl(api, "usage", "--json")
    assert scripted.exit_code == 0, scripted.output
    assert json.loads(scripted.stdout) == usage


def test_a_refused_token_is_one_line_saying_what_to_do(datasets_cli: Api) -> None:
    result = _automl(datasets_cli, "datasets", "list", token="aml_not-a-token")
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "HTTP 401" in line and WHAT_TO_DO[401] in line


@pytest.mark.parametrize(
    "command", [("datasets", "show"), ("datasets", "download"), ("datasets", "delete", "--yes")]
)
def test_an_unknown_dataset_is_one_line_saying_what_to_do(
    datasets_cli: Api, command: tuple[str, ...]
) -> None:
    result = _automl(datasets_cli, *command, str(uuid.uuid4()))
    assert result.exit_code == 1
    line = _one_error_line(result)
    assert "HTTP 404" in line and WHAT_TO_DO[404] in line


def test_another_users_dataset_is_not_found(datasets_cli: Api) -> None:
    api = datasets_cli
    ids = _ready_version(api)
    result = _automl(api, "datasets", "show", ids["dataset_id"], token=_token(api, "bob"))
    assert result.exit_code == 1
    assert "HTTP 404" in _one_error_line(result)


@pytest.mark.parametrize("status", [401, 404, 409, 410, 413, 422, 429, 507])
def test_each_refusal_is_one_line_with_what_to_do_and_a_failing_exit(
    status: int, capsys: pytest.CaptureFixture[str]
) -> None:
    refusal = UploadError(f"the API's reason (some_code, HTTP {status})", status)
    assert (
        error_line(refusal) == f"the API's reason (some_code, HTTP {status}): {WHAT_TO_DO[status]}"
    )
    with pytest.raises(typer.Exit) as exited:
        fail_with(refusal)
    assert exited.value.exit_code == 1
    lines = capsys.readouterr().err.splitlines()
    assert lines == [f"error: {error_line(refusal)}"]


def test_other_failures_keep_their_own_words() -> None:
    down = UploadError("the API at http://127.0.0.1:9 cannot be reached (refused)")
    assert error_line(down) == down.message
    assert error_line(UploadError("busy (storage_unavailable, HTTP 503)", 503)).endswith("503)")
