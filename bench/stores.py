"""The S3 servers bench/ingest.py runs the flow against, each in its own process it can measure.

- `embedded`: moto's server as `automl up` holds it (blocks/embedded_s3.py), in a child process
  of its own here, so its memory and CPU are what the store adds to the `automl up` process;
- `localstack`: LocalStack's S3 (scripts/install-localstack.sh), objects on disk;
- `s3rver`: the npm package s3rver (Node, objects on disk), given by `--s3rver` as the path of
  its `bin/s3rver.js` (`npm install s3rver@3.7.1` in any scratch directory).

Each store's peak resident memory is measured per job: its `VmHWM` is reset (`clear_refs` 5)
before the job and read after it.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil

from bench.ports import HOST, free_port
from core.process_group import stop_process_group

STORES = ("embedded", "localstack", "s3rver")
READY_TIMEOUT_SECONDS = 60.0

# The child holding the embedded store: exactly what `automl up` starts (stack.object_store).
EMBEDDED_CHILD = """
import sys
from blocks.embedded_s3 import EmbeddedS3Server
server = EmbeddedS3Server(host="127.0.0.1")
print(server.start(), flush=True)
sys.stdin.read()  # until the benchmark closes it
server.stop()
"""


@dataclass
class StoreProcess:
    """A running S3 server: where to reach it, with what, and the process to measure."""

    kind: str
    endpoint: str
    access_key: str
    secret_key: str
    region: str
    pid: int
    started_seconds: float  # from the command to the first answered request
    lifecycle_rules: bool = True  # s3rver answers NotImplemented to lifecycle configuration

    @property
    def title(self) -> str:
        return {"embedded": "embedded moto", "localstack": "LocalStack"}.get(self.kind, self.kind)

    def rss_mb(self) -> float:
        return float(psutil.Process(self.pid).memory_info().rss) / 2**20

    def reset_peak(self) -> None:
        """Starts a new peak: Linux's VmHWM restarts from the current RSS (proc(5), clear_refs)."""
        Path(f"/proc/{self.pid}/clear_refs").write_text("5")

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError(f"no VmHWM for process {self.pid}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the store's process and its children."""
        total = 0.0
        process = psutil.Process(self.pid)
        for member in [process, *process.children(recursive=True)]:
            with contextlib.suppress(psutil.NoSuchProcess):
                times = member.cpu_times()
                total += times.user + times.system
        return total


def _wait_answering(endpoint: str, process: subprocess.Popen[bytes], deadline: float) -> None:
    import httpx

    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the S3 server at {endpoint} exited ({process.returncode})")
        try:
            httpx.get(endpoint, timeout=2)
            return
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"the S3 server at {endpoint} did not answer in time")


@contextlib.contextmanager
def _embedded() -> Iterator[StoreProcess]:
    from core.settings import EMBEDDED_ACCESS_KEY, EMBEDDED_SECRET_KEY

    start = time.monotonic()
    child = subprocess.Popen(
        [sys.executable, "-c", EMBEDDED_CHILD],
        cwd=Path(__file__).resolve().parents[1],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        assert child.stdout is not None
        endpoint = child.stdout.readline().decode().strip()
        _wait_answering(endpoint, child, start + READY_TIMEOUT_SECONDS)
        yield StoreProcess(
            "embedded",
            endpoint,
            EMBEDDED_ACCESS_KEY,
            EMBEDDED_SECRET_KEY,
            "us-east-1",
            child.pid,
            time.monotonic() - start,
        )
    finally:
        stop_process_group(child, signal.SIGTERM, 10)


@contextlib.contextmanager
def _localstack(workdir: Path) -> Iterator[StoreProcess]:
    from tests.support.localstack import ACCESS_KEY, REGION, SECRET_KEY, localstack_process

    start = time.monotonic()
    with localstack_process(workdir / "localstack") as (process, endpoint):
        started = time.monotonic() - start
        yield StoreProcess(
            "localstack", endpoint, ACCESS_KEY, SECRET_KEY, REGION, process.pid, started
        )


@contextlib.contextmanager
def _s3rver(script: Path, workdir: Path) -> Iterator[StoreProcess]:
    directory = workdir / "s3rver"
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    start = time.monotonic()
    child = subprocess.Popen(
        ["node", str(script), "-d", str(directory), "-a", HOST, "-p", str(port), "--silent"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        endpoint = f"http://{HOST}:{port}"
        _wait_answering(endpoint, child, start + READY_TIMEOUT_SECONDS)
        yield StoreProcess(
            "s3rver",
            endpoint,
            "S3RVER",  # s3rver's fixed credentials; it checks signatures against them
            "S3RVER",
            "us-east-1",
            child.pid,
            time.monotonic() - start,
            lifecycle_rules=False,
        )
    finally:
        stop_process_group(child, signal.SIGTERM, 10)


@contextlib.contextmanager
def run_store(kind: str, workdir: Path, s3rver_script: Path | None) -> Iterator[StoreProcess]:
    """The store `kind` running on a free 127.0.0.1 port for as long as the block lasts."""
    if kind == "embedded":
        with _embedded() as store:
            yield store
    elif kind == "localstack":
        with _localstack(workdir) as store:
            yield store
    elif kind == "s3rver":
        if s3rver_script is None:
            raise ValueError("--stores s3rver needs --s3rver .../node_modules/s3rver/bin/s3rver.js")
        with _s3rver(s3rver_script, workdir) as store:
            yield store
    else:
        raise ValueError(f"unknown store {kind!r} (known: {', '.join(STORES)})")
