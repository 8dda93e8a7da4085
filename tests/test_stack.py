"""`automl up` starts the local stack, sets up storage, and Ctrl-C leaves no process behind."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import httpx
import psutil
import pytest

from blocks.storage import client_config

AUTOML = str(Path(sys.executable).parent / "automl")
READY_DEADLINE_SECONDS = 180


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _stack_env(data_dir: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "R2_"))}
    env.update(
        AUTOML_DATA_DIR=str(data_dir),
        AUTOML_PREFECT_PORT=str(port),
        AUTOML_API_PORT=str(_free_port()),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
    )
    return env


def test_up_serves_the_stack_until_ctrl_c_and_leaves_nothing_behind(tmp_path: Path) -> None:
    data_dir = tmp_path / "stack"
    process = subprocess.Popen(
        [AUTOML, "up"],
        env=_stack_env(data_dir, _free_port()),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    endpoints_file = data_dir / "endpoints.json"
    started: set[int] = set()
    try:
        deadline = time.monotonic() + READY_DEADLINE_SECONDS
        while not endpoints_file.exists():
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "automl up did not get ready in time"
            time.sleep(0.5)
        endpoints = json.loads(endpoints_file.read_text())
        assert set(endpoints) >= {"api_url", "prefect_ui_url", "s3_endpoint", "bucket"}
        assert "minioadmin" not in endpoints_file.read_text()
        assert endpoints["s3_endpoint"].startswith("http://127.0.0.1:")

        # The UI and API answer, and setup-storage ran as a flow run of the local server.
        assert httpx.get(endpoints["prefect_ui_url"], timeout=10).status_code == 200
        runs = httpx.post(
            f"{endpoints['prefect_api_url']}/flow_runs/filter",
            json={"flows": {"name": {"any_": ["setup-storage"]}}},
            timeout=10,
        ).json()
        assert [run["state_type"] for run in runs] == ["COMPLETED"]

        # The HTTP API answers and reaches both the store and the catalog.
        health = httpx.get(f"{endpoints['api_url']}/healthz", timeout=10)
        assert health.json() == {"status": "ok", "checks": {"storage": "ok", "database": "ok"}}

        # The embedded store has the bucket, set up.
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoints["s3_endpoint"],
            aws_access_key_id="minioadmin",
            aws_secret_access_key="minioadmin",
            region_name="auto",
            config=client_config(),
        )
        assert s3.get_bucket_cors(Bucket=endpoints["bucket"])["CORSRules"]

        # The deployment is served: it shows on the server once the runner registered it.
        deadline = time.monotonic() + 60
        while True:
            names = [
                d["name"]
                for d in httpx.post(
                    f"{endpoints['prefect_api_url']}/deployments/filter", json={}, timeout=10
                ).json()
            ]
            if "setup-storage" in names:
                break
            assert time.monotonic() < deadline, names
            time.sleep(0.5)

        started = {child.pid for child in psutil.Process(process.pid).children(recursive=True)}
        assert started, "the Prefect server should run as a child process"
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    leftovers = [
        pid
        for pid in started
        if psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    ]
    assert leftovers == []
    for url in (endpoints["prefect_ui_url"], endpoints["api_url"]):
        with socket.socket() as probe:  # nothing listens on the stack's ports any more
            assert probe.connect_ex(("127.0.0.1", int(url.rsplit(":", 1)[1])))


@pytest.mark.parametrize("variable", ["AUTOML_PREFECT_PORT", "AUTOML_API_PORT"])
def test_a_taken_port_is_a_one_line_error_naming_the_variable(
    tmp_path: Path, variable: str
) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        env = _stack_env(tmp_path / "stack", _free_port())
        env[variable] = str(port)
        result = subprocess.run(
            [AUTOML, "up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    error_lines = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(error_lines) == 1
    assert f"port {port}" in error_lines[0] and variable in error_lines[0]


@pytest.mark.parametrize("variable", ["R2_ENDPOINT"])
def test_up_refuses_a_bad_setting_before_starting_anything(tmp_path: Path, variable: str) -> None:
    env = _stack_env(tmp_path / "stack", _free_port())
    env[variable] = "not-a-url"
    result = subprocess.run(
        [AUTOML, "up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error: R2_ENDPOINT")
    assert not (tmp_path / "stack").exists()
