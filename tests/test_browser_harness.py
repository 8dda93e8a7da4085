"""The headless-Chromium harness itself: results come back, and the browser enforces CORS."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.support.browser import browser_page

pytestmark = [pytest.mark.e2e, pytest.mark.usefixtures("chromium_required")]  # headless Chromium


@contextmanager
def tiny_server(allow_origin: str | None) -> Iterator[tuple[str, list[str]]]:
    """A 127.0.0.1 server answering GET with "pong", with `Access-Control-Allow-Origin` if given.

    Yields its origin and the Origin header of every request it received.
    """
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            seen.append(self.headers.get("Origin", ""))
            body = b"pong"
            self.send_response(200)
            if allow_origin is not None:
                self.send_header("Access-Control-Allow-Origin", allow_origin)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def fetch_text(url: str) -> str:
    return f"const r = await fetch({json.dumps(url)}); return [r.status, await r.text()];"


def test_a_page_result_round_trips() -> None:
    with browser_page() as page:
        assert page.origin.startswith("http://127.0.0.1:")
        outcome = page.run_script("return {answer: 6 * 7, origin: location.origin};", timeout=60)
    assert outcome == {"ok": True, "value": {"answer": 42, "origin": page.origin}}


def test_the_browser_enforces_cors_across_origins() -> None:
    with browser_page() as page, browser_page() as other:
        assert page.origin != other.origin
        with (
            tiny_server(page.origin) as (allowing, allowing_seen),
            tiny_server(None) as (
                silent,
                silent_seen,
            ),
        ):
            allowed = page.run_script(fetch_text(f"{allowing}/ping"), timeout=60)
            refused = page.run_script(fetch_text(f"{silent}/ping"), timeout=60)
            wrong_origin = other.run_script(fetch_text(f"{allowing}/ping"), timeout=60)

    assert allowed == {"ok": True, "value": [200, "pong"]}
    # The requests reached the servers: the browser, not the network, refused the responses.
    assert refused == {"ok": False, "error": "TypeError: Failed to fetch"}
    assert wrong_origin == {"ok": False, "error": "TypeError: Failed to fetch"}
    assert silent_seen == [page.origin]
    assert allowing_seen == [page.origin, other.origin]
