"""The local stack of `automl up`: embedded S3 (unless R2_* is set), a Prefect server (unless
PREFECT_API_URL is set), the catalog, `setup-storage`, the HTTP API, and the served
deployments."""

from __future__ import annotations

import contextvars
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx

from core.errors import ConfigurationError
from core.process_group import stop_process_group
from core.settings import Settings

logger = logging.getLogger(__name__)

ENDPOINTS_FILE = "endpoints.json"
PREFECT_READY_TIMEOUT_SECONDS = 180.0  # a busy 2-core machine took 70-120 s
PREFECT_STOP_GRACE_SECONDS = 20.0
LOCAL_HOST = "127.0.0.1"


@dataclass(frozen=True)
class Endpoints:
    """What the stack prints and writes to `$AUTOML_DATA_DIR/endpoints.json` (never a secret)."""

    api_url: str | None
    prefect_ui_url: str
    prefect_api_url: str
    s3_endpoint: str
    bucket: str

    def write(self, data_dir: Path) -> Path:
        path = data_dir / ENDPOINTS_FILE
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, data_dir: Path) -> Endpoints:
        """What a stack of `data_dir` wrote; OSError if there is no file, ValueError or
        TypeError if it is not one `write` made."""
        return cls(**json.loads((data_dir / ENDPOINTS_FILE).read_text()))


def ensure_port_free(host: str, port: int, variable: str) -> None:
    """Fails in one line, naming the variable that moves the port, if the port is taken."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As servers do: a port left in TIME_WAIT by a stack just stopped is free to reuse.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise ConfigurationError(
                f"port {port} on {host} is already in use; set {variable} to a free port"
            ) from None


class PrefectServerProcess:
    """`prefect server start` as a child process group with its own SQLite database, or on the
    database of `database_url` (AUTOML_PREFECT_DATABASE_URL, e.g. PostgreSQL)."""

    def __init__(self, data_dir: Path, port: int, database_url: str | None = None) -> None:
        self.port = port
        self.database_url = database_url  # None: SQLite in PREFECT_HOME
        self.home = (data_dir / "prefect").resolve()
        self.log_path = data_dir / "prefect-server.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}/api"

    @property
    def ui_url(self) -> str:
        return f"http://{LOCAL_HOST}:{self.port}"

    def start(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        env = {
            **os.environ,
            "PREFECT_HOME": str(self.home),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_API_HOST": LOCAL_HOST,
            "PREFECT_SERVER_API_PORT": str(self.port),
            "PREFECT_UI_API_URL": self.api_url,
        }
        env.pop("PREFECT_API_URL", None)
        if self.database_url:
            env["PREFECT_SERVER_DATABASE_CONNECTION_URL"] = self.database_url
        log = self.log_path.open("ab")
        prefect = Path(sys.executable).parent / "prefect"
        self._process = subprocess.Popen(
            [str(prefect), "server", "start", "--host", LOCAL_HOST, "--port", str(self.port)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own group: stopped as a whole, never orphaned
        )
        log.close()
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + PREFECT_READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(
                    f"the Prefect server exited ({self._process.returncode}); "
                    f"see {self.log_path}:\n{self._log_tail()}"
                )
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"the Prefect server did not start in time; see {self.log_path}")

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        # SIGKILL also reaches the workers the group may still hold once the server exited.
        stop_process_group(process, signal.SIGTERM, PREFECT_STOP_GRACE_SECONDS)


def ensure_stack_ports_free(settings: Settings) -> None:
    """Checked before anything starts (or is imported): a taken port is a one-line error."""
    ensure_port_free(settings.api_host, settings.api_port, "AUTOML_API_PORT")
    if not os.environ.get("PREFECT_API_URL"):
        ensure_port_free(LOCAL_HOST, settings.prefect_port, "AUTOML_PREFECT_PORT")


@contextmanager
def object_store(settings: Settings) -> Iterator[str]:
    """The configured S3 endpoint, or the embedded server started for as long as the stack runs."""
    if settings.endpoint_url is not None:
        yield settings.endpoint_url
        return
    from blocks.embedded_s3 import EmbeddedS3Server  # moto: imported only when it is needed

    with EmbeddedS3Server(host=LOCAL_HOST) as server:
        yield server.endpoint_url


@contextmanager
def prefect_server(settings: Settings) -> Iterator[tuple[str, str]]:
    """(api_url, ui_url): the server of PREFECT_API_URL, or a local one started for the stack."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        yield configured, configured.removesuffix("/api")
        return
    ensure_port_free(LOCAL_HOST, settings.prefect_port, "AUTOML_PREFECT_PORT")
    server = PrefectServerProcess(
        settings.data_dir, settings.prefect_port, settings.prefect_database_url
    )
    try:
        server.start()
        yield server.api_url, server.ui_url
    finally:
        server.stop()


API_READY_TIMEOUT_SECONDS = 30.0


@contextmanager
def api_server(settings: Settings) -> Iterator[str]:
    """The HTTP API served by uvicorn in a thread of this process; yields its base URL."""
    import uvicorn

    from api.app import create_app, shut_down

    # Without R2_ENDPOINT, object_store started the embedded store: the API warns about files
    # too large for it (a fact of this configuration, not of the server that answers).
    app = create_app(settings, embedded_store=settings.embedded)
    config = uvicorn.Config(
        app,
        host=settings.api_host,
        port=settings.api_port,
        access_log=False,  # the API logs requests itself, without query strings or tokens
        log_level="warning",
        lifespan="off",
    )
    server = uvicorn.Server(config)
    # The thread runs in this context, so the API's Prefect client uses the stack's server
    # (settings set by `temporary_settings` live in a context variable, not in the thread).
    context = contextvars.copy_context()
    thread = threading.Thread(
        target=context.run, args=(server.run,), name="automl-api", daemon=True
    )
    thread.start()
    deadline = time.monotonic() + API_READY_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError(f"the API did not start on {settings.api_host}:{settings.api_port}")
        time.sleep(0.05)
    try:
        yield f"http://{settings.api_host}:{settings.api_port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        shut_down(app)


@contextmanager
def local_stack(settings: Settings) -> Iterator[Endpoints]:
    """Starts everything but the served deployments; stops all of it on exit. The caller writes
    the endpoints file once the deployments are registered too: it means "ready".

    A Prefect runner the caller creates inside it polls the server for runs to start every
    `AUTOML_RUNNER_POLL_SECONDS` (Prefect's `PREFECT_RUNNER_POLL_FREQUENCY`, 10 s by default, is
    most of the wait between a confirm and its ingestion; docs/benchmarks.md)."""
    from prefect.settings import (
        PREFECT_API_URL,
        PREFECT_RUNNER_POLL_FREQUENCY,
        temporary_settings,
    )

    from blocks.storage import save_storage_block
    from catalog.database import migrate
    from flows.setup_storage import setup_storage

    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        migrate(settings.catalog_url)
        s3_endpoint = stack.enter_context(object_store(settings))
        api_url, ui_url = stack.enter_context(prefect_server(settings))
        os.environ["PREFECT_API_URL"] = api_url  # for the flow-run processes the runner starts
        stack.enter_context(
            temporary_settings(
                updates={
                    PREFECT_API_URL: api_url,
                    PREFECT_RUNNER_POLL_FREQUENCY: settings.runner_poll_seconds,
                }
            )
        )
        save_storage_block(settings, s3_endpoint)
        setup_storage()
        http_api_url = stack.enter_context(api_server(settings))
        endpoints = Endpoints(
            api_url=http_api_url,
            prefect_ui_url=ui_url,
            prefect_api_url=api_url,
            s3_endpoint=s3_endpoint,
            bucket=settings.r2_bucket_name,
        )
        # Runs first on the way out: a second Ctrl-C must not cut the shutdown short and leave
        # the Prefect server (its own process group) running.
        stack.callback(signal.signal, signal.SIGINT, signal.SIG_IGN)
        yield endpoints
