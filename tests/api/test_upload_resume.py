"""Resumable uploads: the upload-state routes list the parts the store holds, and the client
sends parts in parallel, retries a failed part, and resumes an upload sending only the parts
the store lacks (counted at the store, through the fault proxy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

import api.client as client_module
from api.client import UploadClient, UploadInterruptedError
from core.errors import UploadError
from tests.support.api_client import Api
from tests.support.fault_proxy import FaultProxy
from tests.support.upload_steps import error_of

MiB = 1024**2
PART = 16 * MiB


def _csv(size: int) -> bytes:
    rows = b"".join(b"%d,%d\n" % (i, i * 7) for i in range(size // 8 + 1))
    return (b"a,b\n" + rows)[:size]


def _client(api: Api, user: str = "alice") -> UploadClient:
    token = api.token(user)["Authorization"].removeprefix("Bearer ")
    return UploadClient("http://api", token, api_client=api.client)


def _part_puts(proxy: FaultProxy) -> list[int]:
    """The part numbers of the part PUTs the store was sent, in order."""
    numbers = []
    for method, path in list(proxy.requests):
        if method == "PUT" and "partNumber=" in path:
            numbers.append(int(path.split("partNumber=")[1].split("&")[0]))
    return numbers


def _stored(api: Api, upload_id: str) -> bytes:
    key = f"uploads/temp/{upload_id}.csv"
    body: bytes = api.store.client.get_object(Bucket=api.store.bucket_name, Key=key)["Body"].read()
    return body


# Parts fail and are retried at once here, not after the client's pauses.
pytestmark = pytest.mark.usefixtures("no_part_retry_pause")


def test_upload_state_lists_the_parts_the_store_holds(
    proxied_multipart_api: tuple[Api, FaultProxy],
) -> None:
    api, _ = proxied_multipart_api
    body = _csv(2 * PART + MiB)
    plan = api.post("/api/datasets/upload-url", {"filename": "big.csv", "size_bytes": len(body)})
    upload_id = plan.json()["upload_id"]
    urls = api.post(
        "/api/datasets/upload-parts", {"upload_id": upload_id, "part_numbers": [1, 3]}
    ).json()["parts"]
    for part in urls:
        n = part["part_number"]
        put = httpx.put(
            part["upload_url"], content=body[(n - 1) * PART : n * PART], headers=part["headers"]
        )
        assert put.status_code == 200
    state = api.client.get(f"/api/datasets/uploads/{upload_id}", headers=api.token()).json()
    assert state["multipart"] is True and state["status"] == "pending"
    assert (state["size_bytes"], state["part_size"], state["part_count"]) == (len(body), PART, 3)
    assert [(p["part_number"], p["size_bytes"]) for p in state["stored_parts"]] == [
        (1, PART),
        (3, MiB),
    ]
    listed = api.client.get("/api/datasets/uploads", headers=api.token()).json()["uploads"]
    assert [item["upload_id"] for item in listed] == [upload_id]
    assert listed[0]["stored_parts"] == state["stored_parts"]
    other = api.client.get(f"/api/datasets/uploads/{upload_id}", headers=api.token("bob"))
    assert error_of(other) == (404, "not_found")
    assert api.client.get("/api/datasets/uploads", headers=api.token("bob")).json() == {
        "uploads": []
    }
    malformed = api.client.get("/api/datasets/uploads/nope", headers=api.token())
    assert error_of(malformed) == (404, "not_found")


def test_a_single_put_upload_has_no_stored_parts(
    proxied_multipart_api: tuple[Api, FaultProxy],
) -> None:
    api, _ = proxied_multipart_api
    plan = api.post("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": 10}).json()
    state = api.client.get(f"/api/datasets/uploads/{plan['upload_id']}", headers=api.token())
    assert state.json()["multipart"] is False and state.json()["stored_parts"] == []


def test_parts_go_in_parallel_and_the_right_bytes_land(
    proxied_multipart_api: tuple[Api, FaultProxy], three_part_csv: tuple[Path, bytes]
) -> None:
    api, proxy = proxied_multipart_api
    path, body = three_part_csv
    sent: list[int] = []
    with _client(api) as client:
        result = client.upload(path, "big", progress=sent.append, parallel=3)
    assert sorted(_part_puts(proxy)) == [1, 2, 3]
    assert sum(sent) == len(body)
    [upload] = api.store.keys("uploads/")
    assert _stored(api, upload.split("/")[-1].removesuffix(".csv")) == body
    assert result["version_id"]


def test_a_failed_part_is_sent_again(
    proxied_multipart_api: tuple[Api, FaultProxy], three_part_csv: tuple[Path, bytes]
) -> None:
    api, proxy = proxied_multipart_api
    path, body = three_part_csv
    proxy.fail(lambda method, p: method == "PUT" and "partNumber=2" in p, 503, "SlowDown", times=1)
    # An expired part URL (403) is asked for again, then sent.
    proxy.fail(lambda method, p: method == "PUT" and "partNumber=3" in p, 403, "AccessDenied", 1)
    sent: list[int] = []
    with _client(api) as client:
        result = client.upload(path, "big", progress=sent.append, parallel=2)
    assert sorted(_part_puts(proxy)) == [1, 2, 2, 3, 3]
    assert sum(sent) == len(body)  # a failed attempt's bytes are taken back
    assert result["dataset_id"]
    [key] = api.store.keys("uploads/")
    assert _stored(api, key.split("/")[-1].removesuffix(".csv")) == body


def test_a_failed_upload_stays_open_and_resumes_with_the_missing_parts(
    proxied_multipart_api: tuple[Api, FaultProxy], three_part_csv: tuple[Path, bytes]
) -> None:
    api, proxy = proxied_multipart_api
    path, body = three_part_csv
    fault = proxy.fail(lambda method, p: method == "PUT" and "partNumber=3" in p, 503, "SlowDown")
    started: list[str] = []
    with _client(api) as client, pytest.raises(UploadInterruptedError) as failure:
        client.upload(path, "big", parallel=1, started=lambda uid, plan: started.append(uid))
    upload_id = failure.value.upload_id
    assert started == [upload_id] and fault.hits == client_module.PART_ATTEMPTS
    with _client(api) as client:
        state = client.upload_state(upload_id)
        assert [p["part_number"] for p in state["stored_parts"]] == [1, 2]
        assert [u["upload_id"] for u in client.pending_uploads()] == [upload_id]
        proxy.faults.clear()
        proxy.requests.clear()
        sent: list[int] = []
        result = client.resume(upload_id, path, "big", progress=sent.append)
    assert _part_puts(proxy) == [3]  # only the part the store lacked
    assert sum(sent) == len(body)  # the stored parts count as sent
    assert _stored(api, upload_id) == body
    assert result["version_id"]


def test_resume_refuses_another_file(
    proxied_multipart_api: tuple[Api, FaultProxy],
    three_part_csv: tuple[Path, bytes],
    tmp_path: Path,
) -> None:
    api, proxy = proxied_multipart_api
    path, _ = three_part_csv
    plan = api.post(
        "/api/datasets/upload-url", {"filename": "big.csv", "size_bytes": path.stat().st_size}
    ).json()
    other = tmp_path / "other.csv"
    other.write_bytes(_csv(6 * MiB))
    with _client(api) as client, pytest.raises(UploadError, match="same file"):
        client.resume(plan["upload_id"], other, "big")
    assert _part_puts(proxy) == []


def _cli_client(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    """`automl upload`'s client talks to the in-process API."""
    real = UploadClient

    def in_process(url: str, token: str, timeout: float = 60.0) -> UploadClient:
        return real(url, token, timeout, api_client=api.client)

    monkeypatch.setattr(client_module, "UploadClient", in_process)


def test_the_cli_prints_the_resume_command_then_resumes(
    proxied_multipart_api: tuple[Api, FaultProxy],
    three_part_csv: tuple[Path, bytes],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli import app

    api, proxy = proxied_multipart_api
    path, body = three_part_csv
    _cli_client(api, monkeypatch)
    token = api.token()["Authorization"].removeprefix("Bearer ")
    proxy.fail(lambda method, p: method == "PUT" and "partNumber=2" in p, 503, "SlowDown")
    args = [str(path), "--name", "big", "--api", "http://api", "--token", token, "--no-wait"]
    failed = CliRunner().invoke(app, ["upload", *args, "--parallel", "2"])
    assert failed.exit_code == 1, failed.output
    [line] = [line for line in failed.output.splitlines() if line.startswith("error:")]
    assert "automl upload --resume " in line
    upload_id = line.split("--resume ")[1].split()[0]
    with _client(api) as client:
        stored = {p["part_number"] for p in client.upload_state(upload_id)["stored_parts"]}
    missing = sorted({1, 2, 3} - stored)  # part 3 may not have started when part 2 gave up
    assert 2 in missing and 1 in stored
    proxy.faults.clear()
    proxy.requests.clear()
    resumed = CliRunner().invoke(app, ["upload", *args, "--resume", upload_id])
    assert resumed.exit_code == 0, resumed.output
    assert sorted(_part_puts(proxy)) == missing  # only the parts the store lacked
    assert "confirmed; ingestion started" in resumed.output
    assert "34.6/34.6 MB" in resumed.output  # the bar counts the stored parts as sent
    assert _stored(api, upload_id) == body


def test_the_cli_waits_and_prints_the_profile_summary(
    proxied_multipart_api: tuple[Api, FaultProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from cli import app

    api, _ = proxied_multipart_api
    _cli_client(api, monkeypatch)
    ready: dict[str, Any] = {
        "status": "ready",
        "profile": {
            "row_count": 1234,
            "column_count": 2,
            "columns": [
                {"name": "city", "type": "String", "null_count": 0},
                {"name": "temperature", "type": "Float64", "null_count": 3},
            ],
        },
    }
    waited: list[tuple[str, str]] = []

    def wait_for_version(self: UploadClient, dataset_id: str, version_id: str, _: float) -> Any:
        waited.append((dataset_id, version_id))
        return ready  # the ingestion itself is tested in tests/flows

    monkeypatch.setattr(UploadClient, "wait_for_version", wait_for_version)
    path = tmp_path / "weather.csv"
    path.write_bytes(b"city,temperature\nOslo,4.5\n")
    token = api.token()["Authorization"].removeprefix("Bearer ")
    result = CliRunner().invoke(
        app, ["upload", str(path), "--name", "weather", "--api", "http://api", "--token", token]
    )
    assert result.exit_code == 0, result.output
    assert len(waited) == 1
    assert "ready: 1,234 rows, 2 columns" in result.output
    assert "temperature" in result.output and "Float64" in result.output


def test_a_refusal_of_automl_upload_is_one_line_saying_what_to_do(
    proxied_multipart_api: tuple[Api, FaultProxy],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The same mapping as `automl datasets` (cli_errors.py): the API's reason, then advice."""
    from cli import app
    from cli_errors import WHAT_TO_DO

    api, _ = proxied_multipart_api
    _cli_client(api, monkeypatch)
    token = api.token()["Authorization"].removeprefix("Bearer ")
    path = tmp_path / "huge.csv"
    with path.open("wb") as sparse:  # over the free tier's 100 MiB, without writing them
        sparse.truncate(101 * MiB)
    args = [str(path), "--name", "huge", "--api", "http://api", "--token", token, "--no-wait"]
    refused = CliRunner().invoke(app, ["upload", *args])
    assert refused.exit_code == 1, refused.output
    [line] = [line for line in refused.output.splitlines() if line.strip()]
    assert line.startswith("error: ") and "HTTP 413" in line, line
    assert line.endswith(WHAT_TO_DO[413]), line
