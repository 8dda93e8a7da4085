"""`automl setup-storage` as the production guide's first command runs it on a fresh machine:
only R2_* set, an empty HOME and PREFECT_HOME, no PREFECT_API_URL, so Prefect starts a
temporary server of its own (25-40 s here, where Prefect waits 20 s by default)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from stack_process import AUTOML
from tasks.bucket_setup import TEMP_LIFECYCLE_RULE_ID
from tests.support.stores import Store

# e2e: `automl setup-storage`, run as a subprocess: processes of its own.
pytestmark = pytest.mark.e2e

WAITING = (
    "starting a temporary Prefect server for this run (no PREFECT_API_URL set); "
    "this can take up to 3 minutes"
)


def _setup_storage_on_a_fresh_machine(
    store: Store, tmp_path: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    home, prefect_home = tmp_path / "home", tmp_path / "prefect-home"
    home.mkdir()
    prefect_home.mkdir()
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "R2_", "AUTOML_"))
    }
    environment.update(
        HOME=str(home),
        PREFECT_HOME=str(prefect_home),
        # Nothing may reach the internet from the tests: the temporary server's telemetry.
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        AUTOML_DATA_DIR=str(tmp_path / "automl-data"),
        R2_ENDPOINT=store.spec.endpoint,
        R2_ACCESS_KEY_ID=store.spec.access_key,
        R2_SECRET_ACCESS_KEY=store.spec.secret_key,
        R2_REGION=store.spec.region,
        R2_BUCKET_NAME=store.bucket_name,
        **extra,
    )
    return subprocess.run(
        [AUTOML, "setup-storage"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )


def _assert_set_up(store: Store, result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stderr[-3000:]
    assert WAITING in result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert f"created {store.bucket_name}" in result.stdout
    store.client.head_bucket(Bucket=store.bucket_name)
    cors = store.client.get_bucket_cors(Bucket=store.bucket_name)["CORSRules"]
    assert "PUT" in cors[0]["AllowedMethods"]
    rules = store.client.get_bucket_lifecycle_configuration(Bucket=store.bucket_name)["Rules"]
    assert [rule["ID"] for rule in rules] == [TEMP_LIFECYCLE_RULE_ID]


@pytest.mark.e2e
def test_setup_storage_runs_on_a_fresh_machine_and_says_it_waits(
    store: Store, tmp_path: Path
) -> None:
    result = _setup_storage_on_a_fresh_machine(store, tmp_path)
    _assert_set_up(store, result)
    # The waiting message comes before the result, on stderr; the result is on stdout.
    assert WAITING not in result.stdout


@pytest.mark.e2e
@pytest.mark.parametrize("store", ["default"], indirect=True)
def test_a_shorter_startup_timeout_of_the_user_is_not_what_decides(
    store: Store, tmp_path: Path
) -> None:
    # No fresh Prefect server answers within 1 s: this fails unless the command waits longer.
    result = _setup_storage_on_a_fresh_machine(
        store, tmp_path, PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS="1"
    )
    _assert_set_up(store, result)


def test_without_a_server_or_a_temporary_one_it_is_one_line_and_no_waiting(
    tmp_path: Path,
) -> None:
    # Prefect is told not to start a temporary server: nothing to wait for, nothing said of it.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("PREFECT_", "R2_", "AUTOML_"))
    }
    environment.update(
        HOME=str(tmp_path),
        PREFECT_HOME=str(tmp_path / "prefect-home"),
        PREFECT_SERVER_ALLOW_EPHEMERAL_MODE="false",
        AUTOML_DATA_DIR=str(tmp_path / "automl-data"),
        R2_ENDPOINT="http://127.0.0.1:9",  # never reached: the block cannot be saved first
    )
    result = subprocess.run(
        [AUTOML, "setup-storage"],
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 1
    assert WAITING not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "setup-storage failed" in lines[0] and "PREFECT_API_URL" in lines[0]
