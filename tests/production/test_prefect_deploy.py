"""`prefect deploy --all` from a fresh clone against a Prefect server, and the scale-out path:
two process workers on the work pool share 20 ingestions confirmed through the API.

The server is this module's own `prefect server start`, not the session's test harness: the
deploy points `ingest-dataset`, `train-model` and `render-plots` (the deployments other tests
register on the harness and keep ids of) at the work pool with a clone's directory, and adds the
render-plots automation, which would change what those tests run against.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from prefect.client.orchestration import SyncPrefectClient
from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
from prefect.client.schemas.objects import FlowRun, StateType, WorkerStatus
from prefect.client.schemas.responses import DeploymentResponse
from prefect.client.schemas.schedules import CronSchedule, IntervalSchedule
from prefect.exceptions import PrefectHTTPStatusError
from prefect.settings import PREFECT_API_AUTH_STRING, PREFECT_API_URL, temporary_settings
from prefect_aws import AwsCredentials
from sqlalchemy import select

from api.client import UploadClient
from blocks.storage import (
    STORAGE_BLOCK_NAME,
    load_storage_block,
    save_storage_block,
)
from catalog.accounts import create_token
from catalog.tables import DatasetVersion, Upload, User
from core.settings import Settings
from tests.support.production import (
    DEPLOYMENTS,
    WORK_POOL,
    Deployed,
    wait_until,
)
from tests.support.worker_pool import WORKERS, Pool, bucket_keys

pytestmark = [
    pytest.mark.e2e,  # a Prefect server of its own on PostgreSQL, process workers
    pytest.mark.timeout(900),  # a server, a deploy and ~45 processes on 2 busy cores
]

INGESTIONS = 20
INGESTION_DEADLINE_SECONDS = 480.0


def _declared() -> dict[str, dict[str, Any]]:
    prefect_yaml = yaml.safe_load((Path(__file__).parents[2] / "prefect.yaml").read_text())
    return {str(d["name"]): d for d in prefect_yaml["deployments"]}


def _registered(deployed: Deployed) -> dict[str, DeploymentResponse]:
    with deployed.client() as client:
        return {d.name: d for d in client.read_deployments()}


def test_every_deployment_is_registered_on_the_process_pool_to_run_from_the_clone(
    deployed: Deployed,
) -> None:
    found = _registered(deployed)
    assert set(found) == DEPLOYMENTS
    declared = _declared()
    with deployed.client() as client:
        assert client.read_work_pool(WORK_POOL).type == "process"
        flows = {name: client.read_flow(d.flow_id).name for name, d in found.items()}
    assert flows == {name: name for name in DEPLOYMENTS}
    for name, deployment in found.items():
        assert deployment.work_pool_name == WORK_POOL
        assert deployment.entrypoint == declared[name]["entrypoint"]
        assert deployment.tags == declared[name]["tags"]
        assert not deployment.paused
        # No pull step in prefect.yaml: workers run the flows from where the deploy ran.
        assert deployment.pull_steps == [
            {
                "prefect.deployments.steps.set_working_directory": {
                    "directory": str(deployed.clone.resolve())
                }
            }
        ]
    limits = {
        name: d.global_concurrency_limit.limit
        for name, d in found.items()
        if d.global_concurrency_limit is not None
    }
    assert limits == {"ingest-dataset": 8, "train-model": 4}
    # The flows' signatures were read from the clone: the runs the API creates pass the ids.
    schemas = {name: d.parameter_openapi_schema or {} for name, d in found.items()}
    assert schemas["ingest-dataset"]["required"] == ["version_id"]
    assert schemas["train-model"]["required"] == ["version_id", "target", "job_id"]
    assert schemas["render-plots"]["required"] == ["job_id"]


def test_cleanup_runs_every_15_minutes_purge_daily_and_nothing_else_is_scheduled(
    deployed: Deployed,
) -> None:
    found = _registered(deployed)
    scheduled = {name for name, d in found.items() if d.schedules}
    assert scheduled == {"cleanup-stale-uploads", "purge-deleted"}
    [cleanup] = found["cleanup-stale-uploads"].schedules
    assert cleanup.active and isinstance(cleanup.schedule, IntervalSchedule)
    assert cleanup.schedule.interval == timedelta(seconds=900)
    [purge] = found["purge-deleted"].schedules
    assert purge.active and isinstance(purge.schedule, CronSchedule)
    assert (purge.schedule.cron, purge.schedule.timezone) == ("0 3 * * *", "UTC")


def test_render_plots_runs_for_each_published_model_with_its_job_id(
    deployed: Deployed,
) -> None:
    render_plots = _registered(deployed)["render-plots"]
    with deployed.client() as client:
        automations = client.read_resource_related_automations(
            f"prefect.deployment.{render_plots.id}"
        )
        every_automation = client.read_automations()
    assert [a.id for a in every_automation] == [a.id for a in automations]  # the only one
    [automation] = automations
    assert automation.name == "render-plots-on-model-published" and automation.enabled
    trigger = automation.trigger.model_dump(mode="json")
    assert (trigger["posture"], trigger["expect"], trigger["match"]) == (
        "Reactive",
        ["automl.model.published"],
        {"prefect.resource.id": "automl.model.*"},
    )
    [action] = automation.actions
    dumped = action.model_dump(mode="json")
    assert (dumped["type"], dumped["deployment_id"], dumped["parameters"]) == (
        "run-deployment",
        str(render_plots.id),
        {"job_id": "{{ event.payload.job_id }}"},
    )


def _csv(number: int) -> bytes:
    rows = "".join(f"{i},{number},{i * number % 97}.5\n" for i in range(50))
    return f"id,batch,value\n{rows}".encode()


def _ingestion_runs(deployed: Deployed) -> list[FlowRun]:
    with deployed.client() as client:
        ingest = client.read_deployment_by_name("ingest-dataset/ingest-dataset")
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[ingest.id])),
            limit=INGESTIONS * 2,
        )


def _online_workers(deployed: Deployed) -> set[str]:
    with deployed.client() as client:
        workers = client.read_workers_for_work_pool(WORK_POOL)
    return {w.name for w in workers if w.status == WorkerStatus.ONLINE}


def _confirm_uploads(pool: Pool, tmp_path: Path) -> list[dict[str, Any]]:
    """Uploads and confirms INGESTIONS different CSV files through the API, as `automl upload`
    does; each confirm starts an ingest-dataset run (idempotency key: the version id)."""
    with pool.catalog.session() as session:
        # enterprise, as the pool's API sets it: room for all INGESTIONS in flight at once
        token = create_token(session, pool.settings, "alice", "enterprise")
    confirmed = []
    with UploadClient(pool.api_url, token) as client:
        for number in range(INGESTIONS):
            path = tmp_path / f"batch-{number}.csv"
            path.write_bytes(_csv(number))
            confirmed.append(client.upload(path, f"batch {number}"))
    return confirmed


def _describe(runs: list[FlowRun]) -> str:
    return "\n".join(
        f"{r.name} {r.state_name} on {r.labels.get('prefect.worker.name')}: "
        f"{r.state.message if r.state else ''}"
        for r in runs
    )


def test_two_workers_share_20_ingestions_and_each_version_ends_ready_once(
    deployed: Deployed, pool: Pool, tmp_path: Path
) -> None:
    wait_until(
        lambda: _online_workers(deployed) >= set(WORKERS), 120, "both workers", pool.processes
    )
    confirmed = _confirm_uploads(pool, tmp_path)

    def all_runs_final() -> bool:
        runs = _ingestion_runs(deployed)
        return len(runs) >= INGESTIONS and all(r.state and r.state.is_final() for r in runs)

    wait_until(all_runs_final, INGESTION_DEADLINE_SECONDS, "the ingestions", pool.processes)

    runs = _ingestion_runs(deployed)
    with pool.catalog.session() as session:
        versions = list(session.scalars(select(DatasetVersion)))
        uploads = list(session.scalars(select(Upload)))
        used_bytes = session.scalars(select(User.used_bytes).where(User.id == "alice")).one()
    # One run per confirmed version (the version id is its idempotency key), each completed.
    assert {str(r.id) for r in runs} == {c["flow_run_id"] for c in confirmed}
    assert {r.state_type for r in runs} == {StateType.COMPLETED}, _describe(runs)
    assert sorted(str(r.parameters["version_id"]) for r in runs) == sorted(
        c["version_id"] for c in confirmed
    )
    # Each version ready, recorded by its one run; its Parquet file written once, its bytes
    # counted once, each temp object's bytes gone (a tombstone keeps its key until the upload's
    # URL expired: single-use URLs).
    assert len(versions) == INGESTIONS
    assert {(v.status, v.error, v.row_count) for v in versions} == {("ready", None, 50)}
    assert {v.flow_run_id for v in versions} == {str(r.id) for r in runs}
    temp_keys = [u.temp_key for u in uploads]
    assert sorted(bucket_keys(pool.store, pool.bucket)) == sorted(
        [v.parquet_key for v in versions] + temp_keys
    )
    for key in temp_keys:
        head = pool.store.head_object(Bucket=pool.bucket, Key=key)
        assert (head["ContentLength"], head["Metadata"]) == (0, {"automl-tombstone": "1"})
    assert used_bytes == sum(v.size_bytes or 0 for v in versions)
    assert {(u.status, u.reserved_bytes) for u in uploads} == {("ingested", 0)}
    # Both workers ran some: a worker labels each run it submits with its name.
    by_worker = Counter(r.labels.get("prefect.worker.name") for r in runs)
    assert set(by_worker) == set(WORKERS), by_worker
    assert {r.work_pool_name for r in runs} == {WORK_POOL}


def test_without_the_auth_string_the_prefect_api_gives_out_no_keys_and_starts_no_run(
    deployed: Deployed,
) -> None:
    """docs/operations.md, production step 3: the server answers only clients that send its
    auth string, so whoever reaches the Prefect API cannot load the storage block's keys or
    start a run with parameters of their choosing. (The ingestions above ran with it on.)"""
    secret = f"canary-secret-{uuid.uuid4().hex}"
    settings = Settings(
        R2_ENDPOINT="http://127.0.0.1:9",
        R2_ACCESS_KEY_ID=f"canary-key-{uuid.uuid4().hex}",
        R2_SECRET_ACCESS_KEY=secret,
        R2_REGION="auto",
        R2_BUCKET_NAME="automl-auth-check",
    )
    server = {PREFECT_API_URL: deployed.api_url}
    with temporary_settings(updates={**server, PREFECT_API_AUTH_STRING: deployed.auth_string}):
        save_storage_block(settings)
        loaded = load_storage_block()  # with the auth string: the block, keys and all
    keys = loaded.credentials
    assert isinstance(keys, AwsCredentials) and keys.aws_secret_access_key is not None
    assert keys.aws_secret_access_key.get_secret_value() == secret
    ingest = _registered(deployed)["ingest-dataset"]

    refused = [
        ("POST", "/block_documents/filter", {"include_secrets": True}),
        ("GET", f"/block_types/slug/s3-bucket/block_documents/name/{STORAGE_BLOCK_NAME}", None),
        ("POST", f"/deployments/{ingest.id}/create_flow_run", {"parameters": {"version_id": "x"}}),
        ("POST", "/flow_runs/filter", {}),
    ]
    for credentials in (None, ("automl", "not-the-password")):
        for method, path, body in refused:
            response = httpx.request(
                method, f"{deployed.api_url}{path}", json=body, auth=credentials, timeout=30
            )
            assert response.status_code == 401, (path, response.text)
            assert secret not in response.text
    with temporary_settings(updates={**server, PREFECT_API_AUTH_STRING: None}):
        with pytest.raises(PrefectHTTPStatusError, match="401"):
            load_storage_block()
        with (
            SyncPrefectClient(deployed.api_url) as client,
            pytest.raises(PrefectHTTPStatusError, match="401"),
        ):
            client.create_flow_run_from_deployment(ingest.id, parameters={"version_id": "x"})
    with deployed.client() as client:  # the refused requests created no run
        runs = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[ingest.id]))
        )
    assert all(run.parameters.get("version_id") != "x" for run in runs)
