"""Headless Chromium (Debian's package) running one test page served from a 127.0.0.1 origin.

    with browser_page() as page:            # page.origin is known before any HTML exists
        allow_origin(page.origin)           # e.g. put it into the API's or the bucket's CORS rules
        outcome = page.run_script("return (await fetch(url)).status;")
        assert outcome == {"ok": True, "value": 200}

The page reports its outcome itself: it POSTs a JSON body to `/result` on its own origin, and
`run` returns that JSON parsed. Every `run` starts a fresh Chromium with a fresh profile and
stops it (the whole process group) before returning. A second origin (for a "disallowed origin"
case) is a second `browser_page()`: each one listens on its own port.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.support.processes import stop_process_tree
from tests.support.stores import Store

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--enable-logging=stderr",  # console messages and uncaught page errors land in the tail
)
STDERR_TAIL_CHARS = 3000
CONSOLE_LINES = 30

_NOT_ARRIVED = object()


def chromium_available() -> bool:
    return os.access(CHROMIUM, os.X_OK)


class BrowserError(RuntimeError):
    """The page reported nothing in time, or Chromium exited first; carries Chromium's stderr."""


_REPORTER = """
<script>
window.__report = (outcome) => fetch("/result", {
  method: "POST",
  headers: {"Content-Type": "application/json"},
  body: JSON.stringify(outcome),
});
window.__reported = false;
window.__reportOnce = (outcome) => {
  if (window.__reported) return;
  window.__reported = true;
  window.__report(outcome);
};
window.addEventListener("error", (event) =>
  window.__reportOnce({ok: false, error: "uncaught: " + String(event.message)}));
window.addEventListener("unhandledrejection", (event) =>
  window.__reportOnce({ok: false, error: "unhandled rejection: " + String(event.reason)}));
</script>
"""


def script_page(body: str) -> str:
    """A page that runs `body` as the body of an async JS function and reports the outcome.

    The outcome is `{"ok": true, "value": <returned value>}` or `{"ok": false, "error":
    String(e)}` (a failed cross-origin fetch is `"TypeError: Failed to fetch"`). A syntax error
    in `body` is reported as `{"ok": false, "error": "uncaught: SyntaxError: ..."}`. The value
    must survive JSON.stringify (`undefined` becomes a missing "value").
    """
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>test page</title>"
        f"{_REPORTER}</head><body><script>\n"
        "(async () => {\n"
        f"{body}\n"
        "})().then(\n"
        "  (value) => window.__reportOnce({ok: true, value}),\n"
        "  (e) => window.__reportOnce({ok: false, error: String(e)}),\n"
        ");\n"
        "</script></body></html>"
    )


class BrowserPage:
    """One 127.0.0.1 origin serving the page; `run` loads it in a fresh headless Chromium."""

    def __init__(self, server: ThreadingHTTPServer, workdir: Path) -> None:
        self._server = server
        self._workdir = workdir
        self._lock = threading.Lock()
        self._html = b""
        self._result: Any = _NOT_ARRIVED
        self._arrived = threading.Event()
        self._runs = 0
        host, port = server.server_address[:2]
        self.origin = f"http://{host!s}:{port}"
        self.last_run_seconds: float | None = None  # launch -> result, of the last run

    # Called from the server's threads.
    def _page(self) -> bytes:
        with self._lock:
            return self._html

    def _deliver(self, result: Any) -> None:
        with self._lock:
            if self._result is _NOT_ARRIVED:
                self._result = result
        self._arrived.set()

    def run(self, html: str, timeout: float = 30.0) -> Any:
        """Loads `html` at `origin + "/"` and returns the JSON the page POSTs to `/result`."""
        with self._lock:
            self._html = html.encode()
            self._result = _NOT_ARRIVED
            self._arrived.clear()
            self._runs += 1
            run_dir = self._workdir / f"run-{self._runs}"
        profile = run_dir / "profile"
        profile.mkdir(parents=True)
        stderr_path = run_dir / "chromium.stderr"
        started = time.monotonic()
        deadline = started + timeout
        with stderr_path.open("wb") as stderr:
            process = subprocess.Popen(
                [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"{self.origin}/"],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,  # its own process group: stopped as a whole below
            )
        try:
            while not self._arrived.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
                if process.poll() is not None:
                    raise BrowserError(
                        f"chromium exited with {process.returncode} before the page reported"
                        f"\n{_tail(stderr_path)}"
                    )
                if time.monotonic() >= deadline:
                    raise BrowserError(
                        f"the page reported nothing within {timeout} s\n{_tail(stderr_path)}"
                    )
            self.last_run_seconds = time.monotonic() - started
            with self._lock:
                result = self._result
            if isinstance(result, _BadReport):
                raise BrowserError(f"the page posted a body that is not JSON: {result.body!r}")
            return result
        finally:
            stop_process_tree(process, signal.SIGKILL)  # renderers, crashpad: all of it
            shutil.rmtree(run_dir, ignore_errors=True)

    def run_script(self, body: str, timeout: float = 30.0) -> Any:
        """`run(script_page(body))`: `{"ok": True, "value": v}` or `{"ok": False, "error": e}`."""
        return self.run(script_page(body), timeout)


class _QuietServer(ThreadingHTTPServer):
    """Chromium is killed with keep-alive connections open: those resets are not errors."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _BadReport:
    def __init__(self, body: bytes) -> None:
        self.body = body


def _tail(path: Path) -> str:
    """The page's console lines (where a CORS refusal or a script error shows), then the tail."""
    try:
        text = path.read_bytes().decode(errors="replace")
    except OSError:
        return "(no chromium stderr)"
    console = [line for line in text.splitlines() if ":CONSOLE" in line][-CONSOLE_LINES:]
    tail = text[-STDERR_TAIL_CHARS:]
    return (
        f"page console ({len(console)} lines):\n" + "\n".join(console) + "\n"
        f"chromium stderr (last {len(tail)} chars):\n{tail}"
    )


@contextmanager
def browser_page() -> Iterator[BrowserPage]:
    """A page origin on a free 127.0.0.1 port; the server and every temporary file go after."""
    if not chromium_available():
        raise RuntimeError(f"{CHROMIUM} is missing (Debian: apt-get install chromium)")
    workdir = Path(tempfile.mkdtemp(prefix="automl-browser-"))
    holder: list[BrowserPage] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes = b"", content_type: str = "") -> None:
            self.send_response(status)
            if content_type:
                self.send_header("Content-Type", content_type)
            self.send_header("Cache-Control", "no-store")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/":
                self._send(200, holder[0]._page(), "text/html; charset=utf-8")
            else:
                self._send(404)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path != "/result":
                self._send(404)
                return
            try:
                result: Any = json.loads(body)
            except ValueError:
                result = _BadReport(body)
            holder[0]._deliver(result)
            self._send(204)

    server = _QuietServer(("127.0.0.1", 0), Handler)
    holder.append(BrowserPage(server, workdir))
    thread = threading.Thread(target=server.serve_forever, name="browser-page", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)
        shutil.rmtree(workdir, ignore_errors=True)


def capture_page(url: str, screenshot: Path, wait_ms: int = 15000, timeout: float = 120.0) -> str:
    """Loads `url` (a single-page app: it gets `wait_ms` of virtual time to fetch and draw),
    saves a screenshot and returns the rendered DOM."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        common = [
            CHROMIUM,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "--window-size=1500,1000",
            f"--virtual-time-budget={wait_ms}",
        ]
        subprocess.run(
            [*common, f"--screenshot={screenshot}", url],
            capture_output=True,
            timeout=timeout,
            check=True,
        )
        dom = subprocess.run(
            [*common, "--dump-dom", url],
            capture_output=True,
            timeout=timeout,
            check=True,
            text=True,
        )
    return dom.stdout


@dataclass
class BrowserSetup:
    """Two origins, the API served for them over a store, and a token: a web app's upload as a
    browser makes it (tests/api/test_browser_upload.py)."""

    allowed: BrowserPage  # the web app's origin: in the bucket's CORS rules
    other: BrowserPage  # an origin the bucket's rules do not list
    api_url: str
    token: str
    store: Store
