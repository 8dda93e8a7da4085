"""An HTTP proxy in front of a real S3 server that answers chosen requests with an error.

Used only for faults a real store cannot be made to produce on demand (a 503 burst, a MinIO-like
`NotImplemented`), and for a store profile (tests/support/store_profiles.py): what a store we
cannot run here (R2, MinIO) refuses. Every other request reaches the real server unchanged.
"""

from __future__ import annotations

import http.client
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

from tests.support.store_profiles import Refusal, StoreProfile
from tests.support.stores import Store, StoreSpec

Matcher = Callable[[str, str], bool]  # (method, path with query) -> applies


@dataclass
class Fault:
    matches: Matcher
    status: int
    code: str
    times: int  # how many matching requests fail; then they pass through
    hits: int = 0


@dataclass
class FaultProxy:
    endpoint_url: str
    faults: list[Fault] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    profile: StoreProfile | None = None
    refused: list[tuple[str, str, Refusal]] = field(default_factory=list)  # by the profile

    def fail(self, matches: Matcher, status: int, code: str, times: int = 1_000_000) -> Fault:
        fault = Fault(matches, status, code, times)
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
            if fault is not None:
                self._refuse(fault.status, _error_body(fault.code))
                return
            connection = http.client.HTTPConnection(str(target.hostname), target.port, timeout=60)
            headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
            headers["Host"] = self.headers.get("Host", "")
            connection.request(self.command, self.path, body=body, headers=headers)
            response = connection.getresponse()
            payload = response.read()
            self.send_response(response.status, response.reason)
            head_length = response.getheader("Content-Length") if self.command == "HEAD" else None
            for name, value in response.getheaders():
                if name.lower() not in {"transfer-encoding", "connection", "content-length"}:
                    self.send_header(name, value)
            self.send_header("Content-Length", head_length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
            connection.close()

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_OPTIONS = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.endpoint_url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Profiled:
    """A test's store reached through the proxy with one profile, and the store behind it."""

    store: Store
    proxy: FaultProxy
    upstream: StoreSpec
