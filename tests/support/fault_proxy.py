"""An HTTP proxy in front of a real S3 server (or any HTTP server, such as Prefect's API) that
answers chosen requests with an error, drops their connection, loses the server's answer, or
holds them until the test lets them through.

Used only for faults a real server cannot be made to produce on demand (a 503 burst, a dropped
connection, a MinIO-like `NotImplemented`, a request in flight when a process is killed), and
for a store profile (tests/support/store_profiles.py): what a store we cannot run here (R2,
MinIO) refuses. Every other request reaches the real server unchanged.
"""

from __future__ import annotations

import http.client
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from enum import StrEnum
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from tests.support.store_profiles import Refusal, StoreProfile
from tests.support.stores import Store, StoreSpec

Matcher = Callable[[str, str], bool]  # (method, path with query) -> applies

HOLD_LIMIT_SECONDS = 120.0  # a held request is let through after this, whatever the test does


class Action(StrEnum):
    """What the proxy does to a request a fault matches."""

    ANSWER = "answer"  # answers the fault's status and error code; the server never sees it
    DROP = "drop"  # closes the connection without an answer; the server never sees it
    # Forwards it, then closes the connection without passing the answer on: the server acted,
    # the client cannot know (a timeout or a reset after the request was sent).
    LOSE_ANSWER = "lose-answer"
    HOLD = "hold"  # waits until `release()` (or HOLD_LIMIT_SECONDS), then forwards it


@dataclass
class Fault:
    matches: Matcher
    status: int
    code: str
    times: int  # how many matching requests fail; then they pass through
    hits: int = 0
    action: Action = Action.ANSWER
    reached: threading.Event = field(default_factory=threading.Event)  # a request matched
    released: threading.Event = field(default_factory=threading.Event)  # HOLD: let it through
    done: threading.Event = field(default_factory=threading.Event)  # the proxy is through with it

    def release(self) -> None:
        self.released.set()


@dataclass
class FaultProxy:
    endpoint_url: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    profile: StoreProfile | None = None
    refused: list[tuple[str, str, Refusal]] = field(default_factory=list)  # by the profile

    def fail(self, matches: Matcher, status: int, code: str, times: int = 1_000_000) -> Fault:
        return self.add(Fault(matches, status, code, times))

    def drop(self, matches: Matcher, times: int = 1_000_000) -> Fault:
        """Matching requests get no answer: their connection is closed before they reach the
        server."""
        return self.add(Fault(matches, 0, "", times, action=Action.DROP))

    def lose_answer(self, matches: Matcher, times: int = 1) -> Fault:
        """Matching requests reach the server, but its answer is lost (connection closed)."""
        return self.add(Fault(matches, 0, "", times, action=Action.LOSE_ANSWER))

    def hold(self, matches: Matcher) -> Fault:
        """The first matching request waits at the proxy until `release()`; `reached` is set
        when it arrives. Then it reaches the server, whether or not its client still waits."""
        return self.add(Fault(matches, 0, "", 1, action=Action.HOLD))

    def add(self, fault: Fault) -> Fault:
        with self.lock:
            self.faults.append(fault)
        return fault


def _error_body(code: str, message: str = "injected by the test proxy") -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
        f"<Message>{escape(message)}</Message></Error>"
    ).encode()


@contextmanager
def fault_proxy(upstream: str, profile: StoreProfile | None = None) -> Iterator[FaultProxy]:
    """Starts the proxy on a free 127.0.0.1 port for the duration of the block; with a
    `profile`, every request it refuses is answered as that store answers it."""
    target = urlsplit(upstream)
    state = FaultProxy(endpoint_url="", profile=profile)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _refuse(self, status: int, payload: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def _handle(self) -> None:
            refusal = (
                state.profile.refusal(self.command, self.path, dict(self.headers.items()))
                if state.profile is not None
                else None
            )
            if refusal is not None:
                with state.lock:
                    state.requests.append((self.command, self.path))
                    state.refused.append((self.command, self.path, refusal))
                self.close_connection = True  # the body (maybe aws-chunked) is left unread
                self._refuse(refusal.status, _error_body(refusal.code, refusal.message))
                return
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            with state.lock:
                state.requests.append((self.command, self.path))
                fault = next(
                    (
                        f
                        for f in state.faults
                        if f.hits < f.times and f.matches(self.command, self.path)
                    ),
                    None,
                )
                if fault is not None:
                    fault.hits += 1
            if fault is None:
                self._forward(body, None)
                return
            fault.reached.set()
            try:
                if fault.action == Action.ANSWER:
                    self._refuse(fault.status, _error_body(fault.code))
                elif fault.action == Action.DROP:
                    self._hang_up()
                else:
                    if fault.action == Action.HOLD:
                        fault.released.wait(HOLD_LIMIT_SECONDS)
                    self._forward(body, fault.action)
            finally:
                fault.done.set()

        def _forward(self, body: bytes, action: Action | None) -> None:
            connection = http.client.HTTPConnection(str(target.hostname), target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = self.headers.get("Host", "")
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            connection.close()
            if action == Action.LOSE_ANSWER:
                self._hang_up()
                return
            try:
                self._pass_on(response, payload)
            except OSError:  # the client went away while the request was held (killed)
                self.close_connection = True

        def _hang_up(self) -> None:
            """Closes the connection without a byte of answer, as a reset or a crash does."""
            self.close_connection = True
            with suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)

        def _pass_on(self, response: http.client.HTTPResponse, payload: bytes) -> None:
            self.send_response(response.status, response.reason)
            head_length = response.getheader("Content-Length") if self.command == "HEAD" else None
            for name, value in response.getheaders():
                if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", head_length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.endpoint_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        for fault in state.faults:
            fault.release()  # a held request must not keep a handler thread waiting
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Profiled:
    """A test's store reached through the proxy with one profile, and the store behind it."""

    store: Store
    proxy: FaultProxy
    upstream: StoreSpec
