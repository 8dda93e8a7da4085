"""Headless Chromium driven over the DevTools protocol: a real page a person would use, with its
file chooser, screenshots, and requests that can be cut or counted on their way out.

    with devtools_browser(tmp_path) as browser:
        browser.navigate(url)
        browser.set_files("#file", [path])              # as if the user picked the file
        browser.wait_for("document.querySelector('.ready')")
        browser.screenshot(tmp_path / "ready.png")

Only what `websockets` (already locked) offers is needed: no driver, no npm package.
"""

from __future__ import annotations

import base64
import json
import queue
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect
from websockets.sync.connection import Connection

from tests.support.browser import CHROMIUM, CHROMIUM_FLAGS
from tests.support.processes import stop_process_tree

STARTUP_SECONDS = 30.0
CALL_SECONDS = 30.0

# Decides a paused request: True lets it go on, False fails it as a cut connection.
RequestPolicy = Callable[[dict[str, Any]], bool]


class DevtoolsError(RuntimeError):
    """A DevTools call failed, or the page never reached the state waited for."""


class DevtoolsBrowser:
    """One page of one headless Chromium, and the requests it was seen to send."""

    def __init__(self, socket: Connection) -> None:
        self._socket = socket
        self._send_lock = threading.Lock()
        self._next_id = 0
        self._answers: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._policy: RequestPolicy = lambda request: True
        self.paused_requests: list[dict[str, Any]] = []  # every request intercepted, in order
        self._reader = threading.Thread(target=self._read, name="devtools", daemon=True)
        self._reader.start()

    def _send(self, method: str, params: dict[str, Any]) -> queue.Queue[dict[str, Any]]:
        with self._send_lock:
            self._next_id += 1
            answer: queue.Queue[dict[str, Any]] = queue.Queue(1)
            self._answers[self._next_id] = answer
            self._socket.send(json.dumps({"id": self._next_id, "method": method, "params": params}))
        return answer

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        try:
            message = self._send(method, params).get(timeout=CALL_SECONDS)
        except queue.Empty:
            raise DevtoolsError(f"{method} had no answer within {CALL_SECONDS} s") from None
        if "error" in message:
            raise DevtoolsError(f"{method}: {message['error']}")
        result: dict[str, Any] = message.get("result", {})
        return result

    def _read(self) -> None:
        try:
            for raw in self._socket:
                message = json.loads(raw)
                if "id" in message:
                    answer = self._answers.pop(message["id"], None)
                    if answer is not None:
                        answer.put(message)
                elif message.get("method") == "Fetch.requestPaused":
                    self._decide(message["params"])
        except ConnectionClosed:
            pass

    def _decide(self, paused: dict[str, Any]) -> None:
        request = paused["request"]
        self.paused_requests.append(request)
        if self._policy(request):
            self._send("Fetch.continueRequest", {"requestId": paused["requestId"]})
        else:
            self._send(
                "Fetch.failRequest",
                {"requestId": paused["requestId"], "errorReason": "ConnectionReset"},
            )

    def intercept(self, url_pattern: str | list[str], policy: RequestPolicy | None = None) -> None:
        """Pauses the requests whose URL matches (`*` wildcards; one pattern or several),
        records them, and lets `policy` cut some; by default all go on."""
        self._policy = policy or (lambda request: True)
        patterns = [url_pattern] if isinstance(url_pattern, str) else url_pattern
        self.call(
            "Fetch.enable",
            patterns=[{"urlPattern": pattern, "requestStage": "Request"} for pattern in patterns],
        )

    def navigate(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def reload(self) -> None:
        self.call("Page.reload", ignoreCache=True)
        time.sleep(0.2)  # the old document may still say "complete" for a moment
        self.wait_for("document.readyState === 'complete'")

    def evaluate(self, expression: str) -> Any:
        result = self.call(
            "Runtime.evaluate", expression=expression, awaitPromise=True, returnByValue=True
        )
        if "exceptionDetails" in result:
            raise DevtoolsError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60.0) -> Any:
        """Polls `expression` until it is truthy and returns its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                text = self.evaluate("document.body ? document.body.innerText : ''")
                raise DevtoolsError(f"never true within {timeout} s: {expression}\npage:\n{text}")
            time.sleep(0.1)

    def text(self, selector: str) -> str:
        return str(self.evaluate(f"document.querySelector({json.dumps(selector)}).innerText"))

    def set_files(self, selector: str, paths: list[Path]) -> None:
        """Picks files in an `<input type=file>` as the file chooser does (it fires `change`)."""
        root = self.call("DOM.getDocument")["root"]["nodeId"]
        node = self.call("DOM.querySelector", nodeId=root, selector=selector)["nodeId"]
        self.call("DOM.setFileInputFiles", nodeId=node, files=[str(p) for p in paths])

    def width(self, pixels: int, height: int = 900) -> None:
        """Renders the page at this width (`375`: a phone's)."""
        self.call(
            "Emulation.setDeviceMetricsOverride",
            width=pixels,
            height=height,
            deviceScaleFactor=1,
            mobile=pixels < 600,
        )

    def save_downloads_to(self, directory: Path) -> None:
        """Saves what the page downloads under `directory`, by the name the server gives
        (headless Chromium refuses downloads otherwise)."""
        directory.mkdir(parents=True, exist_ok=True)
        self.call("Browser.setDownloadBehavior", behavior="allow", downloadPath=str(directory))

    def downloaded_file(self, directory: Path, timeout: float = 60.0) -> Path:
        """The one file downloaded into `directory`, once Chromium has finished writing it
        (until then it is a `.crdownload`)."""
        deadline = time.monotonic() + timeout
        while True:
            files = list(directory.iterdir())
            if len(files) == 1 and not files[0].name.endswith(".crdownload"):
                return files[0]
            if time.monotonic() > deadline:
                raise DevtoolsError(f"no finished download in {directory} within {timeout} s")
            time.sleep(0.1)

    def screenshot(self, path: Path) -> Path:
        """The whole page, not only the viewport."""
        data = self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data["data"]))
        print(f"screenshot: {path}")
        return path


def _debugger_url(profile: Path, process: subprocess.Popen[bytes]) -> str:
    deadline = time.monotonic() + STARTUP_SECONDS
    port_file = profile / "DevToolsActivePort"
    while not port_file.exists() or not port_file.read_text().strip():
        if process.poll() is not None or time.monotonic() > deadline:
            raise DevtoolsError("chromium did not open its DevTools port")
        time.sleep(0.05)
    port = port_file.read_text().split()[0]
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as answer:
        targets = json.load(answer)
    return str(next(t for t in targets if t["type"] == "page")["webSocketDebuggerUrl"])


@contextmanager
def devtools_browser(workdir: Path) -> Iterator[DevtoolsBrowser]:
    """A fresh Chromium (profile under `workdir`) on about:blank; stopped as a whole after."""
    profile = workdir / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=True)
    with (workdir / "chromium.stderr").open("wb") as stderr:
        process = subprocess.Popen(
            [
                CHROMIUM,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile}",
                "--remote-debugging-port=0",
                "--window-size=1000,900",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=stderr,
            stderr=stderr,
            start_new_session=True,
        )
    try:
        with connect(_debugger_url(profile, process), max_size=None) as socket:
            browser = DevtoolsBrowser(socket)
            browser.call("Page.enable")
            browser.call("Runtime.enable")
            yield browser
    finally:
        stop_process_tree(process, signal.SIGKILL)
