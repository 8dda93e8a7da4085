"""Proof under process faults (docs/reliability.md, *Faults*): the Prefect server restarted
during an ingestion run and during a confirm, and the API process killed (SIGKILL) while a
confirm is in flight. Each case ends consistent after its recovery (the client confirming
again, the cleanup flow), and the upload is announced exactly once.

Real parts: a Prefect server of this module's own (`prefect server start`, restarted for real),
the API under uvicorn in a process of its own, moto, SQLite catalogs. The fault proxy only holds
a request (of the store, or of the Prefect API) so that the kill lands while it is in flight.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from contextvars import copy_context
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import pytest
from prefect import get_client
from prefect.settings import PREFECT_API_URL

from catalog.database import catalog_for
from catalog.tables import DatasetVersion, utcnow
from core.events import DATASET_INGESTED, UPLOAD_CONFIRMED
from core.statuses import VersionStatus
from flows.cleanup_stale_uploads import cleanup_stale_uploads
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api, make_api
from tests.support.consistency import assert_recovered
from tests.support.fault_proxy import Fault, FaultProxy, Matcher, fault_proxy
from tests.support.prefect_events import find_events
from tests.support.prefect_server import (
    RestartablePrefectServer,
)
from tests.support.production import REPO, api_process, base_environment
from tests.support.stores import Store
from tests.support.upload_steps import confirm, error_of, put_parts, upload

pytestmark = pytest.mark.e2e  # a Prefect server and API processes of its own

MiB = 1024**2
DOWNTIME_SECONDS = 1.0  # the Prefect server stays down this long before it starts again
HELD_SECONDS = 60.0  # the longest a test waits for a held request to arrive


@dataclass
class Restart:
    """What happened while the server was restarted: how long it was down, how long it took
    to start, and the answer to a confirm sent meanwhile."""

    downtime: float = 0.0
    startup: float = 0.0
    confirm_meanwhile: httpx.Response | None = None
    run_failed: bool = False  # the run failed at a step whose retries the restart outlasted


def _restart_when_reached(
    server: RestartablePrefectServer, held: Fault, meanwhile: Callable[[], httpx.Response]
) -> tuple[threading.Thread, Restart]:
    """In the background: once `held` is reached, stops the server, lets the held request go
    on (the run continues while the server is down), calls `meanwhile`, and starts the server
    again. The thread runs in this context (the test's Prefect settings)."""
    restart = Restart()

    def run() -> None:
        if not held.reached.wait(HELD_SECONDS):
            held.release()
            return
        stopped = time.monotonic()
        server.stop()
        held.release()
        restart.confirm_meanwhile = meanwhile()
        time.sleep(DOWNTIME_SECONDS)
        restart.startup = server.start()
        restart.downtime = time.monotonic() - stopped

    context = copy_context()
    thread = threading.Thread(target=context.run, args=(run,), name="restart", daemon=True)
    thread.start()
    return thread, restart


def test_a_restart_of_the_prefect_server_during_a_run_and_a_confirm_loses_nothing(
    own_prefect: RestartablePrefectServer, proxied_bucket: tuple[Store, FaultProxy]
) -> None:
    """The server goes down while an ingestion run uploads its Parquet file, and stays down
    while the run records the version and replaces the upload by its tombstone (a step that
    loads the storage block from the server: the run's Prefect client retries until the server
    is back); a confirm sent meanwhile is answered 503, or 202 with its run still to come, and
    the run is created once, named by a later confirm and announced once."""
    store, proxy = proxied_bucket
    deployment: Any = ingest_dataset.to_deployment(name="ingest-dataset")  # sync: not awaited
    deployment.apply()  # on the restartable server, for the run the confirm creates
    with contextmanager(make_api)(store) as api:
        running = confirm(api, upload(api)).json()
        waiting = upload(api)
        held = proxy.hold(lambda method, path: method == "PUT" and "/datasets/" in path)
        thread, restart = _restart_when_reached(own_prefect, held, lambda: confirm(api, waiting))
        started = time.monotonic()
        state = ingest_dataset(running["version_id"], return_state=True)
        thread.join()
        took = time.monotonic() - started
        assert held.hits == 1 and restart.downtime > 0  # the restart happened mid-run
        meanwhile = restart.confirm_meanwhile
        assert meanwhile is not None
        # The orchestrator is down: the confirm is refused (503, confirm again), or accepted
        # with its run still to be created (202 without `flow_run_id`; docs/spec.md §3.2).
        if meanwhile.status_code == 202:
            assert meanwhile.json()["flow_run_id"] is None, meanwhile.text
        else:
            assert error_of(meanwhile) == (503, "orchestrator_unavailable")
        if state.is_failed():
            # The server took longer to come back than the run's Prefect client retries
            # (about a minute): the version is recorded, the run failed at the tombstone step.
            # Re-running it (as an operator retries a failed run) finishes it.
            assert "tombstone" in str(state.message) or "Connect" in str(state.message), state
            with catalog_for(api.settings.catalog_url).session() as session:
                version = session.get(DatasetVersion, running["version_id"])
                assert version is not None and version.status == VersionStatus.READY
            state = ingest_dataset(running["version_id"], return_state=True)
            restart.run_failed = True
        assert state.is_completed() and state.result() == VersionStatus.READY
        with get_client(sync_client=True) as client:  # the restarted server knows the run
            run = client.read_flow_run(UUID(str(state.state_details.flow_run_id)))
        assert run.state is not None and run.state.is_completed()
        if not restart.run_failed:  # a run that failed after recording never announced it
            ingested = find_events(
                DATASET_INGESTED,
                lambda e: e["payload"].get("version_id") == running["version_id"],
            )
            assert len(ingested) == 1

        answer = confirm(api, waiting)  # what the client does after a 503
        assert answer.status_code == 202, answer.text
        # The run may still be being created (the dispatcher's client may still be retrying
        # the restarted server): confirm again until the answer names it, as api/client.py does
        # (docs/spec.md §3.2).
        deadline = time.monotonic() + 120
        while answer.json()["flow_run_id"] is None and time.monotonic() < deadline:
            time.sleep(0.5)
            answer = confirm(api, waiting)
            assert answer.status_code == 202, answer.text
        assert answer.json()["flow_run_id"] is not None, answer.text
        announced = find_events(
            UPLOAD_CONFIRMED, lambda e: e["resource"]["prefect.resource.id"].endswith(waiting)
        )
        assert [e["payload"]["flow_run_id"] for e in announced] == [answer.json()["flow_run_id"]]
        assert ingest_dataset(answer.json()["version_id"]) == VersionStatus.READY
        assert_recovered(api.settings, store)
    print(
        f"FAULT prefect-restart: down {restart.downtime:.1f} s (startup {restart.startup:.1f} s);"
        f" the run took {took:.1f} s; failed and re-run: {restart.run_failed}"
    )


# Where the API process is killed: while the store assembles a multipart upload (nothing is
# recorded yet; the store finishes it after the API died); while Prefect creates the ingestion
# run (the version is recorded, the run is created after the API died, and nobody recorded or
# announced it). A kill before either leaves nothing but the pending upload.
KILL_POINTS: dict[str, tuple[str, Matcher]] = {
    "multipart-completion": ("store", lambda method, path: "uploadId=" in path),
    "run-creation": ("prefect", lambda method, path: path.endswith("/create_flow_run")),
}


def _process_environment(api: Api, prefect_url: str, home: Path) -> dict[str, str]:
    """What the API process gets: this test's store (through the proxy), catalog and data dir,
    and the Prefect API at `prefect_url`; bytecode from the venv, not compiled again."""
    environment = base_environment(home, home / "pycache")
    environment.pop("PYTHONPYCACHEPREFIX")
    settings = api.settings
    environment.update(
        R2_ENDPOINT=str(settings.endpoint_url),
        R2_ACCESS_KEY_ID=settings.r2_access_key_id.get_secret_value(),
        R2_SECRET_ACCESS_KEY=settings.r2_secret_access_key.get_secret_value(),
        R2_BUCKET_NAME=settings.r2_bucket_name,
        R2_REGION=settings.r2_region,
        AUTOML_DATABASE_URL=settings.catalog_url,
        AUTOML_DATA_DIR=str(settings.data_dir),
        AUTOML_MULTIPART_THRESHOLD_BYTES=str(settings.multipart_threshold_bytes),
        PREFECT_API_URL=prefect_url,
    )
    return environment


def _confirm_in_background(url: str, body: dict[str, Any], headers: dict[str, str]) -> Any:
    """Sends the confirm from a thread; `.result` is what the client saw."""

    class Sent(threading.Thread):
        result: object = None

        def run(self) -> None:
            try:
                self.result = httpx.post(
                    f"{url}/api/datasets/confirm", json=body, headers=headers, timeout=90
                )
            except httpx.HTTPError as exc:
                self.result = exc

    sent = Sent(daemon=True)
    sent.start()
    return sent


@pytest.mark.parametrize("point", list(KILL_POINTS))
def test_an_api_process_killed_during_confirm_loses_nothing(
    faulty_api: Callable[..., tuple[Api, FaultProxy]], point: str, tmp_path: Path
) -> None:
    api, store_proxy = faulty_api(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))
    body: dict[str, Any] = {"dataset_name": "weather"}
    if point == "multipart-completion":
        content = b"a,b\n" + b"1,2\n" * (6 * MiB // 4)
        asked = {"filename": "big.csv", "size_bytes": len(content)}
        plan = api.post("/api/datasets/upload-url", asked).json()
        body["upload_id"] = plan["upload_id"]
        body["parts"] = put_parts(api, plan["upload_id"], content, 16 * MiB, 1)
    else:
        body["upload_id"] = upload(api)
    upload_id = str(body["upload_id"])
    side, matcher = KILL_POINTS[point]
    with fault_proxy(str(PREFECT_API_URL.value())) as prefect_proxy:
        proxy = store_proxy if side == "store" else prefect_proxy
        environment = _process_environment(api, f"{prefect_proxy.endpoint_url}/api", tmp_path)
        with api_process(REPO, environment, tmp_path / "api.log") as (url, served):
            held = proxy.hold(matcher)
            sent = _confirm_in_background(url, body, api.token())
            assert held.reached.wait(HELD_SECONDS), "the confirm never reached the held step"
            os.killpg(served.process.pid, signal.SIGKILL)
            served.process.wait()
            held.release()  # the store or Prefect finishes the request; nobody gets the answer
            assert held.done.wait(HELD_SECONDS)
            sent.join(HELD_SECONDS)
    assert isinstance(sent.result, httpx.HTTPError), sent.result  # the client got no answer

    if point == "run-creation":
        # The client never comes back: the cleanup flow starts (here: finds) the version's run
        # and announces the upload in the confirm's place.
        later = utcnow() + timedelta(minutes=6)
        assert cleanup_stale_uploads(now=later).ingestions_restarted == 1
        with catalog_for(api.settings.catalog_url).session() as session:
            version = session.query(DatasetVersion).filter_by(upload_id=upload_id).one()
            version_id, run_id = version.id, version.flow_run_id
    else:
        answer = api.post("/api/datasets/confirm", body)  # the client confirms again
        assert answer.status_code == 202, answer.text
        version_id, run_id = answer.json()["version_id"], answer.json()["flow_run_id"]
    announced = find_events(
        UPLOAD_CONFIRMED, lambda e: e["resource"]["prefect.resource.id"].endswith(upload_id)
    )
    assert [e["payload"]["flow_run_id"] for e in announced] == [run_id]
    assert ingest_dataset(version_id) == VersionStatus.READY
    assert_recovered(api.settings, api.store)
