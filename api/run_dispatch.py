"""The run dispatcher: one thread per API process (and Prefect server) creates the ingestion runs
of confirmed versions, one after another, over one long-lived Prefect client.

A confirm commits its version with no run recorded (`flow_run_id` NULL): that row is the run
request, written in the confirm's own transaction (a transactional outbox). The confirm then
hands the version to the dispatcher and waits a short while for its run. Why a single writer:
the Prefect server on SQLite refuses concurrent inserts (`database is locked`, answered 503, then
retried by its client after seconds of back-off), which made 32 concurrent confirms collapse to
under 1 req/s (docs/benchmarks.md *Confirm*); one dispatcher never competes with itself.

Exactly once: each run is created with the version id as its idempotency key, so dispatchers in
several API processes, a retried confirm and the cleanup flow all get the same run. A run whose
creation failed (orchestrator down) stays requested in the catalog: the dispatcher retries the
requests older than `STALE_AFTER` every `POLL_SECONDS`, and the cleanup flow restarts whatever
is left (flows/cleanup_stale_uploads.py). An app's dispatchers stop when it shuts down
(`stop_run_dispatchers`, from its lifespan), so none outlives its API polling a catalog.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
import weakref
from dataclasses import dataclass, field
from datetime import timedelta

from prefect.settings import PREFECT_API_URL

from catalog.confirmations import claim_version_announcement, record_flow_run
from catalog.database import Catalog
from catalog.lifecycle import versions_awaiting_run
from catalog.tables import utcnow
from core.errors import OrchestratorUnavailableError
from orchestrator.events import announce_upload_confirmed
from orchestrator.runs import reused_client, start_ingestion

logger = logging.getLogger("api.run_dispatch")

# A request older than this, still without a run, is one its confirm did not get through (or
# another API process's): the poll takes it over.
STALE_AFTER = timedelta(seconds=10)
POLL_SECONDS = 5.0
# A dispatcher with nothing to do (no confirm, no run created) this long ends its thread; the
# next confirm starts another. Its poll then catches up with what an outage left.
IDLE_SECONDS = 60.0
POLL_BATCH = 100
# A confirm first in line (the dispatcher had nothing else to do) waits for its run's outcome
# this long at most (a Prefect client that cannot connect gives up after ~1.5 s): it is answered
# with the run's id or the orchestrator's error (503), as when confirm created the run itself.
FIRST_IN_LINE_WAIT_SECONDS = 30.0
# How long a shutdown waits for a dispatcher to finish the run it is creating.
STOP_WAIT_SECONDS = 10.0


@dataclass
class RunRequest:
    """One version's request, as its confirm waits on it."""

    version_id: str
    done: threading.Event = field(default_factory=threading.Event)
    # Queued behind other requests: its run is at least one creation away, so its confirm waits
    # only AUTOML_CONFIRM_RUN_WAIT_SECONDS (0: not at all) for it.
    behind: bool = False
    flow_run_id: str | None = None
    error: Exception | None = None

    def finish(self, flow_run_id: str | None = None, error: Exception | None = None) -> None:
        self.flow_run_id, self.error = flow_run_id, error
        self.done.set()

    def wait(self, behind_seconds: float) -> str | None:
        """The run's id, or None if it is queued behind others and was not created within
        `behind_seconds` (it will be); raises the dispatcher's error (e.g. the orchestrator is
        down)."""
        self.done.wait(behind_seconds if self.behind else FIRST_IN_LINE_WAIT_SECONDS)
        if self.error is not None:
            raise self.error
        return self.flow_run_id


class RunDispatcher:
    """Creates the ingestion runs requested in one catalog, on one Prefect server."""

    def __init__(self, catalog: Catalog) -> None:
        self.catalog = catalog
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._queue: dict[str, RunRequest] = {}
        self._thread: threading.Thread | None = None
        self._stopping = False

    @property
    def stopping(self) -> bool:
        return self._stopping

    def request(self, version_id: str) -> RunRequest:
        """Queues the version's run (once, however many confirms ask) and wakes the thread.

        The thread runs in a copy of the caller's context, so it speaks to the Prefect server
        the caller's settings name (`temporary_settings` live in a context variable)."""
        with self._lock:
            if self._stopping:  # shutting down: the poll of the next dispatcher creates it
                unserved = RunRequest(version_id)
                unserved.finish()
                return unserved
            request = self._queue.get(version_id)
            if request is None:
                request = RunRequest(version_id, behind=bool(self._queue))
                self._queue[version_id] = request
            if self._thread is None:
                context = contextvars.copy_context()
                self._thread = threading.Thread(
                    target=context.run, args=(self._serve,), name="run-dispatcher", daemon=True
                )
                self._thread.start()
            self._wake.notify()
        return request

    def stop(self, timeout: float = STOP_WAIT_SECONDS) -> None:
        """Ends the thread once the run it is creating (if any) is recorded; for good: later
        requests are answered without a run at once."""
        with self._lock:
            self._stopping = True
            thread = self._thread
            self._wake.notify()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def _serve(self) -> None:
        try:
            with reused_client():
                self._loop()
        except Exception:  # the catalog is gone or broken: the next confirm starts a new thread
            logger.exception("the run dispatcher stopped")
            self._end()

    def _end(self) -> None:
        """The thread ends. Requests still queued are answered without a run: their versions
        stay requested in the catalog, for the next dispatcher's poll or the cleanup flow."""
        with self._lock:
            self._thread = None  # under the lock: a request now starts a new thread
            waiting, self._queue = list(self._queue.values()), {}
        for request in waiting:
            request.finish()

    def _loop(self) -> None:
        active = time.monotonic()
        next_poll = 0.0  # at start: catch up with what an outage or a stopped process left
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    now = time.monotonic()
                    if now >= next_poll:
                        break
                    if now - active > IDLE_SECONDS:
                        self._thread = None  # under the lock: a request now starts a new one
                        return
                    self._wake.wait(min(next_poll - now, IDLE_SECONDS))
                if self._stopping:
                    break
                batch = list(self._queue.values())
            if not batch:
                next_poll = time.monotonic() + POLL_SECONDS
                with self.catalog.session() as session:
                    stale = versions_awaiting_run(session, utcnow() - STALE_AFTER, POLL_BATCH)
                batch = [RunRequest(version_id) for version_id in stale]
            for request in batch:
                if self._stopping:
                    break
                if request.version_id not in self._queue and self._queue:
                    break  # a confirm waits: it comes before the rest of the poll's backlog
                try:
                    flow_run_id = self._dispatch(request.version_id)
                except OrchestratorUnavailableError as exc:
                    # Every other request would fail alike: answer them all, try again later.
                    self._forget(request)
                    request.finish(error=exc)
                    self._fail_queued(exc)
                    next_poll = time.monotonic() + POLL_SECONDS
                    break
                except Exception as exc:
                    logger.exception("no run created for version %s", request.version_id)
                    self._forget(request)
                    request.finish(error=exc)
                    continue
                # Out of the queue before it is answered: the client's next confirm must not
                # find it there and count itself behind it.
                self._forget(request)
                request.finish(flow_run_id)
                active = time.monotonic()
        self._end()  # stopped

    def _dispatch(self, version_id: str) -> str:
        """Creates (or finds) the version's run, records it, and announces the upload if no one
        did (`automl.upload.confirmed` is claimed once, whoever recorded the run)."""
        flow_run_id = start_ingestion(version_id)
        with self.catalog.session() as session:
            record_flow_run(session, version_id, flow_run_id)
            announcement = claim_version_announcement(session, version_id)
        if announcement is not None:
            announce_upload_confirmed(
                announcement.upload_id, announcement.dataset_id, version_id, flow_run_id
            )
            logger.info("upload %s confirmed as version %s", announcement.upload_id, version_id)
        return flow_run_id

    def _forget(self, request: RunRequest) -> None:
        with self._lock:
            if self._queue.get(request.version_id) is request:
                del self._queue[request.version_id]

    def _fail_queued(self, error: Exception) -> None:
        with self._lock:
            waiting, self._queue = list(self._queue.values()), {}
        for request in waiting:
            request.finish(error=error)


# Weak: a dispatcher lives while its thread runs (or a confirm holds it), so one whose thread
# ended does not keep its catalog's engine open.
_dispatchers: weakref.WeakValueDictionary[tuple[str, str | None], RunDispatcher] = (
    weakref.WeakValueDictionary()
)
_every_dispatcher: weakref.WeakSet[RunDispatcher] = weakref.WeakSet()
# The catalogs (an app's own view) whose app has shut down: a request still arriving there gets
# a stopped dispatcher, answered without a run at once, never a new thread.
_shut_down: weakref.WeakSet[Catalog] = weakref.WeakSet()
_dispatchers_lock = threading.Lock()


def run_dispatcher(catalog: Catalog) -> RunDispatcher:
    """This process's dispatcher for the catalog and the Prefect server of the current settings."""
    key = (catalog.url, PREFECT_API_URL.value())
    with _dispatchers_lock:
        if catalog in _shut_down:
            stopped = RunDispatcher(catalog)
            stopped.stop()
            return stopped
        dispatcher = _dispatchers.get(key)
        if dispatcher is None or dispatcher.catalog is not catalog or dispatcher.stopping:
            dispatcher = _dispatchers[key] = RunDispatcher(catalog)
            _every_dispatcher.add(dispatcher)
        return dispatcher


def stop_run_dispatchers(catalog: Catalog) -> None:
    """Stops the dispatchers of `catalog` (an app's own view of its catalog, so another app of
    the same process on the same database keeps its own), for its app's shutdown."""
    with _dispatchers_lock:
        _shut_down.add(catalog)
        mine = [dispatcher for dispatcher in _every_dispatcher if dispatcher.catalog is catalog]
    for dispatcher in mine:
        dispatcher.stop()
