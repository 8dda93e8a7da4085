"""`automl up` as a child process, the way `automl demo`, bench/latency.py and the stack tests
run it: in a process group of its own with its own data dir, ready once it has written
`$AUTOML_DATA_DIR/endpoints.json` and its API answers, stopped with SIGINT to the group as
Ctrl-C in its terminal stops it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from core.process_group import stop_process_group
from stack import ENDPOINTS_FILE, Endpoints

AUTOML = Path(sys.executable).parent / "automl"
START_TIMEOUT_SECONDS = 180.0
STOP_TIMEOUT_SECONDS = 60.0
READY_POLL_SECONDS = 0.5


class StackStartError(RuntimeError):
    """`automl up` exited, or was not ready in time; the message names its log."""


def api_answers(api_url: str) -> bool:
    """Whether the HTTP API at `api_url` reports itself healthy."""
    try:
        return httpx.get(f"{api_url.rstrip('/')}/healthz", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def ready_endpoints(data_dir: Path) -> Endpoints | None:
    """The endpoints of the stack of `data_dir`, if one wrote them and its API answers."""
    try:
        endpoints = Endpoints.read(data_dir)
    except (OSError, ValueError, TypeError):
        return None
    if not endpoints.api_url or not api_answers(endpoints.api_url):
        return None
    return endpoints


class StackProcess:
    """One `automl up` child: `start`, `wait_ready`, `stop` (or `running_stack` for all three).

    `environment` is the child's whole environment (default: this process's); AUTOML_DATA_DIR
    is set to `data_dir` over it. Its output goes to `log_path` (default `data_dir/stack.log`).
    """

    def __init__(
        self,
        data_dir: Path,
        environment: Mapping[str, str] | None = None,
        log_path: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.log_path = log_path or data_dir / "stack.log"
        base = os.environ if environment is None else environment
        self.environment = {**base, "AUTOML_DATA_DIR": str(data_dir)}
        self.cwd = cwd
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def process(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            raise RuntimeError("the stack was not started")
        return self._process

    @property
    def endpoints_file(self) -> Path:
        return self.data_dir / ENDPOINTS_FILE

    def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.endpoints_file.unlink(missing_ok=True)  # a stopped stack's; the new one writes its own
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [str(AUTOML), "up"],
                env=self.environment,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,  # its own group: a signal reaches what it started
            )

    def check_running(self) -> None:
        """Raises StackStartError if `automl up` has exited."""
        code = self.process.poll()
        if code is not None:
            raise StackStartError(
                f"the local stack did not start (exit {code}); see {self.log_path}"
            )

    def wait_ready(
        self,
        timeout: float = START_TIMEOUT_SECONDS,
        poll_seconds: float = READY_POLL_SECONDS,
    ) -> Endpoints:
        """Its endpoints, once written and its API answers."""
        deadline = time.monotonic() + timeout
        while (endpoints := ready_endpoints(self.data_dir)) is None:
            self.check_running()
            if time.monotonic() > deadline:
                raise StackStartError(f"the local stack did not start in time; see {self.log_path}")
            time.sleep(poll_seconds)
        return endpoints

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGINT to its process group, as Ctrl-C sends it; SIGKILL to the group if it is still
        running after `timeout`. Returns its exit code (0 after a clean shutdown).

        What it started in groups of their own (its Prefect server) it stops itself on SIGINT;
        nothing is swept after it exits, so a stack that leaves something behind shows."""
        if self._process is None:
            return None
        return stop_process_group(self._process, signal.SIGINT, timeout, kill_stragglers=False)


@contextmanager
def running_stack(
    data_dir: Path,
    environment: Mapping[str, str] | None = None,
    log_path: Path | None = None,
    timeout: float = START_TIMEOUT_SECONDS,
) -> Iterator[tuple[StackProcess, Endpoints]]:
    """A started, ready stack and its endpoints; stopped as Ctrl-C stops it on the way out."""
    stack = StackProcess(data_dir, environment, log_path)
    stack.start()
    try:
        yield stack, stack.wait_ready(timeout)
    finally:
        stack.stop()
