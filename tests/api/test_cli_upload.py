"""`automl upload`: a file goes through the HTTP protocol (single PUT or multipart) with a
progress bar, and every failure is one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.api_client import Api
from tests.support.fault_proxy import FaultProxy
from tests.support.upload_steps import CSV

# e2e: `automl upload`, run as a subprocess against the API: processes of its own.
pytestmark = pytest.mark.e2e

AUTOML = str(Path(sys.executable).parent / "automl")
MiB = 1024**2


def _upload(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOML_", "R2_"))}
    return subprocess.run(
        [AUTOML, "upload", *args, "--no-wait"],  # nothing serves the ingestion runs here
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def _token(api: Api) -> str:
    return api.token()["Authorization"].removeprefix("Bearer ")


def test_upload_sends_a_small_file_and_confirms_it(served: tuple[Api, str], tmp_path: Path) -> None:
    api, url = served
    path = tmp_path / "weather.csv"
    path.write_bytes(CSV)
    result = _upload(str(path), "--name", "weather", AUTOML_API_URL=url, AUTOML_TOKEN=_token(api))
    assert result.returncode == 0, result.stderr
    assert "version_id" in result.stdout and "pending" in result.stdout
    [key] = api.store.keys("uploads/")
    assert api.store.client.get_object(Bucket=api.store.bucket_name, Key=key)["Body"].read() == CSV
    listed = api.client.get("/api/datasets", headers=api.token()).json()
    assert [item["name"] for item in listed["items"]] == ["weather"]


def test_upload_sends_a_large_file_in_parts(served: tuple[Api, str], tmp_path: Path) -> None:
    api, url = served
    path = tmp_path / "big.csv"
    body = b"a,b\n" + b"1,2\n" * (5 * MiB)  # 20 MiB: two parts of 16 MiB
    path.write_bytes(body)
    result = _upload(str(path), "--name", "big", "--api", url, "--token", _token(api))
    assert result.returncode == 0, result.stderr
    [key] = api.store.keys("uploads/")
    stored = api.store.client.get_object(Bucket=api.store.bucket_name, Key=key)["Body"].read()
    assert stored == body
    assert "21.0/21.0 MB" in result.stderr  # the progress bar counted every byte exactly once


def test_a_refused_file_is_one_line_with_the_apis_reason(
    served: tuple[Api, str], tmp_path: Path
) -> None:
    api, url = served
    path = tmp_path / "notes.txt"
    path.write_text("hello")
    result = _upload(str(path), "--name", "n", "--api", url, "--token", _token(api))
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines == [lines[-1]] and "must end in .csv or .parquet" in lines[-1]
    assert "Traceback" not in result.stderr


def test_a_missing_token_or_api_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "a.csv"
    path.write_bytes(CSV)
    no_api = _upload(str(path), "--name", "a", "--token", "x")
    assert no_api.returncode == 2 and "AUTOML_API_URL" in no_api.stderr
    no_token = _upload(str(path), "--name", "a", "--api", "http://127.0.0.1:9")
    assert no_token.returncode == 2 and "AUTOML_TOKEN" in no_token.stderr
    unreachable = _upload(str(path), "--name", "a", "--api", "http://127.0.0.1:9", "--token", "t")
    assert unreachable.returncode == 1 and "cannot be reached" in unreachable.stderr


def test_upload_reads_the_token_from_stdin(served: tuple[Api, str], tmp_path: Path) -> None:
    """`--token -`: the token is piped in, never on the command line (shell history, `ps`)."""
    api, url = served
    path = tmp_path / "weather.csv"
    path.write_bytes(CSV)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOML_", "R2_"))}
    result = subprocess.run(
        [
            AUTOML,
            "upload",
            str(path),
            "--name",
            "weather",
            "--api",
            url,
            "--token",
            "-",
            "--no-wait",
        ],
        capture_output=True,
        text=True,
        env=clean,
        timeout=120,
        input=_token(api) + "\n",
    )
    assert result.returncode == 0, result.stderr
    assert "version_id" in result.stdout


def test_upload_prints_the_apis_warning_about_the_embedded_store(
    served_on_embedded_store: tuple[Api, str], tmp_path: Path
) -> None:
    api, url = served_on_embedded_store
    path = tmp_path / "weather.csv"
    path.write_bytes(CSV)
    result = _upload(str(path), "--name", "weather", AUTOML_API_URL=url, AUTOML_TOKEN=_token(api))
    assert result.returncode == 0, result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert "embedded S3 server" in line and "MinIO or R2" in line
    assert "version_id" in result.stdout


def test_a_killed_upload_resumes_sending_only_the_missing_parts(
    served_through_proxy: tuple[Api, FaultProxy, str], three_part_csv: tuple[Path, bytes]
) -> None:
    api, proxy, url = served_through_proxy
    path, body = three_part_csv
    # Part 3 never reaches the store: the process is killed while it waits to send it again.
    dropped = proxy.drop(lambda method, p: method == "PUT" and "partNumber=3" in p)
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOML_", "R2_"))}
    args = [str(path), "--name", "big", "--api", url, "--token", _token(api)]
    process = subprocess.Popen(
        [AUTOML, "upload", *args, "--parallel", "1", "--no-wait"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean,
        stdin=subprocess.DEVNULL,
    )
    try:
        assert dropped.reached.wait(120)
    finally:
        process.kill()
    _, stderr = process.communicate(timeout=30)
    # The line printed before the first byte says how to resume.
    [hint] = [line for line in stderr.splitlines() if "resume with:" in line]
    upload_id = hint.split("--resume ")[1].split()[0]
    proxy.faults.clear()
    proxy.requests.clear()
    result = _upload(*args, "--resume", upload_id)
    assert result.returncode == 0, result.stderr
    part_puts = [p for m, p in proxy.requests if m == "PUT" and "partNumber=" in p]
    assert len(part_puts) == 1 and "partNumber=3" in part_puts[0]
    key = f"uploads/temp/{upload_id}.csv"
    stored = api.store.client.get_object(Bucket=api.store.bucket_name, Key=key)["Body"].read()
    assert stored == body
    assert "confirmed; ingestion started" in result.stdout
