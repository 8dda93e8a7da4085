"""Nothing private leaks (issue 15, 6): after the demo's whole path and a few refused requests,
no token, store key or presigned signature is in any log line, flow-run parameter, artifact,
event or error body, nor in the Prefect server's database.

The values searched for are planted: the store's keys are distinctive canaries (the embedded S3
server takes any keys), and the token is made for the run, so a find cannot be a coincidence.
"""

from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.client import UploadClient
from blocks.embedded_s3 import EmbeddedS3Server
from stack_process import AUTOML, StackProcess
from tests.support.leak_search import Place, file_places, findings, prefect_places
from tests.support.ports import free_port
from tests.support.production import base_environment, prefect_server

pytestmark = [
    pytest.mark.e2e,  # a Prefect server, `automl up` and the demo's ingestion and training
    pytest.mark.timeout(900),
]

STACK_READY_SECONDS = 180
DEMO_SECONDS = 420
BAD_CSV = b"a,b,c\n1,2,3\n4,5\n"
SIGNATURES = {"presigned signature": "X-Amz-Signature", "presigned credential": "X-Amz-Credential"}


def _command(
    arguments: list[str], env: dict[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(AUTOML), *arguments],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, f"automl {arguments[0]}:\n{done.stdout}\n{done.stderr}"
    return done


def _refused_requests(api_url: str, token: str) -> list[httpx.Response]:
    """Error answers of several kinds: unknown ids, a bad body, a wrong token."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=api_url, timeout=30) as client:
        return [
            client.get("/api/datasets/no-such-dataset", headers=auth),
            client.get("/api/jobs/no-such-job/plots", headers=auth),
            client.post(
                "/api/jobs/train", json={"version_id": "nope", "target": "x"}, headers=auth
            ),
            client.post("/api/datasets/upload-url", json={"size_bytes": -1}, headers=auth),
            client.get("/api/datasets", headers={"Authorization": f"Bearer {token}x"}),
            client.get("/api/datasets", headers={"Authorization": "Basic " + token}),
        ]


def _failed_ingestion(api_url: str, token: str, tmp_path: Path) -> dict[str, Any]:
    """A malformed CSV through the API, until its version is recorded failed."""
    path = tmp_path / "bad.csv"
    path.write_bytes(BAD_CSV)
    with UploadClient(api_url, token) as client:
        confirmed = client.upload(path, "malformed")
        version_path = f"/api/datasets/{confirmed['dataset_id']}/versions/{confirmed['version_id']}"
        deadline = time.monotonic() + DEMO_SECONDS
        while (version := client.request("GET", version_path))["status"] != "failed":
            assert version["status"] != "ready" and time.monotonic() < deadline, version
            time.sleep(0.5)
    failed: dict[str, Any] = version
    return failed


def test_after_the_demo_no_secret_is_in_any_log_run_artifact_event_body_or_database(
    tmp_path: Path,
) -> None:
    access_key = f"AKIACANARY{uuid.uuid4().hex[:10].upper()}"
    secret_key = f"canary-secret-{uuid.uuid4().hex}"
    prefect_home = tmp_path / "prefect-home"
    environment = {
        **base_environment(prefect_home, tmp_path / "pycache"),
        "PREFECT_LOGGING_LEVEL": "INFO",  # every line a run would normally log
    }
    database = tmp_path / "prefect.db"
    data_dir = tmp_path / "stack"
    demo_output = ""
    bodies: list[Place] = []
    with (
        EmbeddedS3Server() as store,
        prefect_server(
            environment, f"sqlite+aiosqlite:///{database}", tmp_path / "prefect-server.log"
        ) as prefect_api,
    ):
        stack_env = {
            **environment,
            "PREFECT_API_URL": prefect_api,
            "R2_ENDPOINT": store.endpoint_url,
            "R2_ACCESS_KEY_ID": access_key,
            "R2_SECRET_ACCESS_KEY": secret_key,
            "R2_REGION": "auto",
            "R2_BUCKET_NAME": f"leaks-{uuid.uuid4().hex[:8]}",
            "AUTOML_DATA_DIR": str(data_dir),
            "AUTOML_API_PORT": str(free_port()),
            "AUTOML_TRAINING_BUDGET_SECONDS": "5",
        }
        created = _command(
            ["token", "create", "--user", "leaktest", "--tier", "free"], stack_env, 120
        )
        token = created.stdout.strip()  # what is said about it goes to stderr
        assert token.startswith("aml_"), token
        stack = StackProcess(data_dir, stack_env)
        stack.start()
        try:
            endpoints = stack.wait_ready(STACK_READY_SECONDS)
            assert endpoints.api_url is not None
            demo_env = {**stack_env, "AUTOML_TOKEN": token}
            demo = _command(["demo", "--api", endpoints.api_url], demo_env, DEMO_SECONDS)
            demo_output = demo.stdout + demo.stderr
            assert "demo done" in demo_output and "X-Amz-Signature" in demo_output
            failed = _failed_ingestion(endpoints.api_url, token, tmp_path)
            bodies.append(Place("failed version's reason", str(failed["error"])))
            for response in _refused_requests(endpoints.api_url, token):
                assert response.status_code in {400, 401, 404, 422}, response.text
                bodies.append(Place(f"{response.status_code} body", response.text))
            searched = prefect_places(prefect_api)
        finally:
            assert stack.stop() == 0, stack.log_path.read_text()[-3000:]
    # The server has stopped: its database is whole on disk (SQLite's WAL checkpointed).
    files = [
        database,
        Path(f"{database}-wal"),
        tmp_path / "prefect-server.log",
        *(path for path in data_dir.rglob("*") if path.is_file()),  # `automl up`'s log, catalog
        *(path for path in prefect_home.rglob("*") if path.is_file()),
    ]
    searched += file_places(files) + bodies
    assert any(place.name.endswith("stack.log") for place in searched)
    for listed in ("flow_runs", "task_runs", "logs", "artifacts", "events"):  # none empty
        [place] = [p for p in searched if p.name.startswith(f"Prefect {listed} (")]
        assert not place.name.endswith("(0)"), place.name

    secrets = {"token": token, "store secret key": secret_key, "store access key": access_key}
    assert findings(searched, {**secrets, **SIGNATURES}) == []
    # The demo's own output shows its user presigned URLs (which name the access key), but
    # never the token or the secret key.
    assert (
        findings([Place("demo output", demo_output)], {"token": token, "secret": secret_key}) == []
    )
    assert os.path.getsize(database) > 0
