"""The run dispatcher behind confirm (api/run_dispatch.py): concurrent confirms each get one run,
a run the orchestrator could not create is created later without a confirm, once, and two
dispatchers (two API processes) never create two runs for one version."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterIdempotencyKey

from api import run_dispatch
from api.run_dispatch import RunDispatcher
from catalog.database import catalog_for
from catalog.tables import DatasetVersion
from core.errors import OrchestratorUnavailableError
from core.events import UPLOAD_CONFIRMED
from orchestrator.runs import start_ingestion
from tests.support.api_client import Api, make_api
from tests.support.prefect_events import find_events
from tests.support.stores import Store
from tests.support.upload_steps import confirm, error_of, upload


def _run_ids(version_ids: list[str]) -> dict[str, list[str]]:
    """The ingestion runs Prefect holds for each version (its id is the idempotency key)."""

    async def read() -> dict[str, list[str]]:
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    idempotency_key=FlowRunFilterIdempotencyKey(any_=version_ids)
                )
            )
        found: dict[str, list[str]] = {version_id: [] for version_id in version_ids}
        for run in runs:
            found[str(run.idempotency_key)].append(str(run.id))
        return found

    return asyncio.run(read())


def _recorded_run(api: Api, version_id: str, timeout: float = 30.0) -> str:
    """The run recorded on the version, once the dispatcher has recorded one."""
    deadline = time.monotonic() + timeout
    while True:
        with catalog_for(api.settings.catalog_url).session() as session:
            version = session.get(DatasetVersion, version_id)
            assert version is not None
            if version.flow_run_id is not None:
                return version.flow_run_id
        assert time.monotonic() < deadline, f"no run recorded for version {version_id}"
        time.sleep(0.1)


def _announcements(upload_id: str) -> list[dict[str, Any]]:
    return find_events(
        UPLOAD_CONFIRMED,
        lambda e: e["resource"]["prefect.resource.id"] == f"automl.upload.{upload_id}",
    )


@pytest.mark.e2e
def test_32_concurrent_confirms_all_succeed_with_one_run_each(api: Api) -> None:
    users = [f"user-{n}" for n in range(32)]  # each within their limit of ingestions in flight
    upload_ids = [upload(api, user=user) for user in users]
    with ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(lambda n: confirm(api, upload_ids[n], user=users[n]), range(32)))
    assert [a.status_code for a in answers] == [202] * 32, [a.text for a in answers]
    bodies = [a.json() for a in answers]
    version_ids = [body["version_id"] for body in bodies]
    assert len(set(version_ids)) == 32
    recorded = {v: _recorded_run(api, v) for v in version_ids}
    assert _run_ids(version_ids) == {v: [recorded[v]] for v in version_ids}
    for body in bodies:  # an answer without the run's id gets it from a later confirm
        assert body["flow_run_id"] in (None, recorded[body["version_id"]])
    again = confirm(api, upload_ids[-1], user=users[-1]).json()
    assert again["flow_run_id"] == recorded[again["version_id"]]


def test_a_run_the_orchestrator_refused_is_created_later_once_without_a_confirm(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    down = threading.Event()
    down.set()

    def start_unless_down(version_id: str) -> str:
        if down.is_set():
            raise OrchestratorUnavailableError("the orchestrator (Prefect) cannot be reached")
        return start_ingestion(version_id)

    monkeypatch.setattr(run_dispatch, "start_ingestion", start_unless_down)
    monkeypatch.setattr(run_dispatch, "STALE_AFTER", timedelta(0))
    monkeypatch.setattr(run_dispatch, "POLL_SECONDS", 0.2)
    upload_id = upload(api)
    assert error_of(confirm(api, upload_id)) == (503, "orchestrator_unavailable")
    with catalog_for(api.settings.catalog_url).session() as session:
        [version] = session.query(DatasetVersion).all()
        version_id = version.id
    time.sleep(0.5)  # the dispatcher retries meanwhile, in vain
    assert _run_ids([version_id]) == {version_id: []}
    down.clear()  # the orchestrator is back: the dispatcher's poll creates the run, no confirm
    run_id = _recorded_run(api, version_id)
    assert _run_ids([version_id]) == {version_id: [run_id]}
    assert confirm(api, upload_id).json()["flow_run_id"] == run_id
    [event] = _announcements(upload_id)
    assert event["payload"]["flow_run_id"] == run_id


def _requested_version(api: Api, user: str, monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """(version id, upload id) of a confirmed version whose run was never created (the
    orchestrator refused it): the request a dispatcher's poll takes over."""

    def refuse(version_id: str) -> str:
        raise OrchestratorUnavailableError("the orchestrator (Prefect) cannot be reached")

    upload_id = upload(api, user=user)
    with monkeypatch.context() as patched:
        patched.setattr(run_dispatch, "start_ingestion", refuse)
        assert error_of(confirm(api, upload_id, user=user)) == (503, "orchestrator_unavailable")
    with catalog_for(api.settings.catalog_url).session() as session:
        [version] = session.query(DatasetVersion).filter_by(upload_id=upload_id).all()
        return version.id, upload_id


def _slow_run_creation(monkeypatch: pytest.MonkeyPatch) -> tuple[threading.Event, threading.Event]:
    """Run creation held until the test releases it: (busy, release). `busy` is set once a
    creation has begun."""
    busy, release = threading.Event(), threading.Event()

    def slow_start(version_id: str) -> str:
        busy.set()
        release.wait(30)
        return start_ingestion(version_id)

    monkeypatch.setattr(run_dispatch, "start_ingestion", slow_start)
    return busy, release


def test_two_dispatchers_never_create_two_runs_for_one_version(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two API processes (a dispatcher each) asked for the same version at the same moment, as
    when both poll one stale request: one run, recorded once, announced once."""

    version_id, upload_id = _requested_version(api, "alice", monkeypatch)
    catalog = catalog_for(api.settings.catalog_url)
    dispatchers = [RunDispatcher(catalog), RunDispatcher(catalog)]
    barrier = threading.Barrier(2)

    def ask(dispatcher: RunDispatcher) -> str | None:
        barrier.wait()
        return dispatcher.request(version_id).wait(30)

    with ThreadPoolExecutor(max_workers=2) as pool:
        run_ids = list(pool.map(ask, dispatchers))
    [run_id] = set(run_ids)
    assert run_id is not None
    assert _recorded_run(api, version_id) == run_id
    assert _run_ids([version_id]) == {version_id: [run_id]}
    [event] = _announcements(upload_id)
    assert event["payload"]["flow_run_id"] == run_id


def test_a_confirm_queued_behind_a_slow_run_answers_at_once_and_a_later_one_names_the_run(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the dispatcher is busy creating another run, a confirm answers after its short
    wait with `flow_run_id` null (docs/spec.md §3.2); the run is created all the same, and a
    later confirm or the version's GET names it."""
    busy, release = _slow_run_creation(monkeypatch)
    first_upload, second_upload = upload(api, user="first"), upload(api, user="second")
    with ThreadPoolExecutor(max_workers=1) as pool:
        first = pool.submit(confirm, api, first_upload, "first")
        assert busy.wait(30)
        queued = confirm(api, second_upload, user="second")
        release.set()
        assert first.result().status_code == 202
    assert queued.status_code == 202, queued.text
    body = queued.json()
    assert body["flow_run_id"] is None and body["status"] == "pending"
    run_id = _recorded_run(api, body["version_id"])
    assert _run_ids([body["version_id"]]) == {body["version_id"]: [run_id]}
    assert confirm(api, second_upload, user="second").json()["flow_run_id"] == run_id
    version = api.client.get(
        f"/api/datasets/{body['dataset_id']}/versions/{body['version_id']}",
        headers=api.token("second"),
    ).json()
    assert version["flow_run_id"] == run_id


def test_a_stopped_dispatcher_records_the_run_it_was_creating_and_answers_the_rest_without_one(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An API shutting down: the run being created is created and recorded; a request queued
    behind it, and any later one, is answered at once without a run (its version stays
    requested, for another dispatcher's poll or the cleanup flow)."""
    # The app's own dispatcher, still polling after the refused confirms, must not take them over.
    monkeypatch.setattr(run_dispatch, "STALE_AFTER", timedelta(hours=1))
    (first, _), (queued_version, _) = (_requested_version(api, u, monkeypatch) for u in "ab")
    busy, release = _slow_run_creation(monkeypatch)
    dispatcher = RunDispatcher(catalog_for(api.settings.catalog_url))
    creating = dispatcher.request(first)
    assert busy.wait(30)
    queued = dispatcher.request(queued_version)
    stopping = threading.Thread(target=dispatcher.stop)
    stopping.start()
    while not dispatcher.stopping:  # before the first run ends, or the thread takes the next
        time.sleep(0.01)
    release.set()
    stopping.join(30)
    assert not stopping.is_alive()
    assert creating.done.is_set() and creating.flow_run_id == _recorded_run(api, first)
    assert queued.done.is_set() and (queued.flow_run_id, queued.error) == (None, None)
    later = dispatcher.request(queued_version)
    assert later.done.is_set() and later.flow_run_id is None


def test_an_api_that_shuts_down_leaves_no_dispatcher_running(
    api_store: Store, ingest_deployment: str
) -> None:
    """Its dispatcher would otherwise poll the catalog for a minute after the API is gone."""
    before = _dispatcher_threads()
    with contextmanager(make_api)(api_store) as api:
        answer = confirm(api, upload(api))
        assert answer.status_code == 202 and answer.json()["flow_run_id"] is not None
        mine = _dispatcher_threads() - before
        assert mine  # the confirm started one
        catalog = api.client.app.state.automl.catalog  # type: ignore[attr-defined]
    assert not any(thread.is_alive() for thread in mine)
    # A confirm still arriving is answered without a run, and starts no thread.
    late = run_dispatch.run_dispatcher(catalog).request("a-version")
    assert late.done.is_set() and late.flow_run_id is None
    assert _dispatcher_threads() - before == set()


def _dispatcher_threads() -> set[threading.Thread]:
    return {thread for thread in threading.enumerate() if thread.name == "run-dispatcher"}
