"""The session's Prefect harness drains every events worker of the process with no time limit
when it stops; the bounded drain before it (tests/conftest.py `prefect_api`) must leave no worker
behind that is still retrying a server a test stopped, or the session's end waits for minutes."""

from __future__ import annotations

from prefect.events import emit_event
from prefect.events.clients import PrefectEventsClient
from prefect.events.worker import EventsWorker

from tests.support.ports import free_port
from tests.support.prefect_events import drain_events


def _drained_by_a_later_drain_all(worker: EventsWorker) -> bool:
    return worker in EventsWorker._instances.values()  # type: ignore[misc]


def test_a_worker_sending_to_a_stopped_server_is_out_of_later_drains(prefect_api: None) -> None:
    override = EventsWorker._client_override
    stopped_server = f"http://127.0.0.1:{free_port()}/api"  # nothing listens there
    EventsWorker.set_client_override(PrefectEventsClient, api_url=stopped_server)
    try:
        stuck = EventsWorker.instance()
        assert emit_event("automl.test.undeliverable", {"prefect.resource.id": "automl.test"})
    finally:
        EventsWorker._client_override = override
    assert _drained_by_a_later_drain_all(stuck)  # the harness's drain would wait for it
    drain_events(timeout=1.0)
    assert not _drained_by_a_later_drain_all(stuck)
