"""The API's HTTP server bounds what a client can make it hold before any route runs. uvicorn on
h11 refuses a request head still incomplete past 16 KiB (`h11_max_incomplete_event_size`), so
a head larger than one read of the socket (asyncio reads up to 256 KiB) gets a 400. uvicorn on
httptools, which it picks whenever httptools is installed, sets no bound and answered a 1 MiB
header (docs/benchmarks.md, round 10)."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from fastapi import FastAPI

from tests.support.api_server import serve_api


def _answer_to(base_url: str, header_bytes: int) -> bytes:
    """The first bytes of the answer; empty if the server cut the connection first."""
    url = urlsplit(base_url)
    assert url.hostname is not None and url.port is not None
    request = (
        f"GET /api/health HTTP/1.1\r\nHost: {url.netloc}\r\nX-Filler: {'a' * header_bytes}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as connection:
        try:
            connection.sendall(request)
            return connection.recv(4096)
        except (BrokenPipeError, ConnectionResetError):
            return b""


def test_a_request_head_of_a_mebibyte_is_refused_before_any_route() -> None:
    app = FastAPI()
    app.get("/api/health")(lambda: {"status": "ok"})
    with serve_api(app) as base_url:
        assert _answer_to(base_url, 8 * 1024).startswith(b"HTTP/1.1 200")
        refused = _answer_to(base_url, 1024 * 1024)
        assert refused == b"" or refused.startswith(b"HTTP/1.1 400"), refused[:200]
