"""Start LocalStack's S3 on 127.0.0.1 for tests that need a signature-checking store.

LocalStack runs from its own Python 3.13 venv, installed by
``scripts/install-localstack.sh`` (``AUTOML_LOCALSTACK_VENV``, default
``~/.cache/automl/localstack-venv``). It checks the SigV4 signature, expiry and
signed headers of presigned URLs against access key ``test`` / secret key
``test`` (requests signed in headers by an SDK are not checked).

Environment knobs: ``AUTOML_LOCALSTACK_VENV`` (where the venv is) and
``AUTOML_LOCALSTACK_GATEWAY_SERVER`` (``twisted``, the default, or ``hypercorn``).

Everything it writes (state, temp files, its log) stays under the ``data_dir``
given to :func:`run_localstack`; it binds only ``127.0.0.1:<free port>``, and its
analytics, DNS server and certificate download are switched off.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from core.process_group import stop_process_group
from tests.support.ports import free_port

__all__ = [
    "ACCESS_KEY",
    "REGION",
    "SECRET_KEY",
    "localstack_process",
    "localstack_python",
    "localstack_venv",
    "run_localstack",
]

ACCESS_KEY = "test"
SECRET_KEY = "test"
REGION = "us-east-1"

#: Written by scripts/install-localstack.sh once the venv is complete.
_MARKER = ".automl-localstack-installed"
_LOG_NAME = "localstack.log"
_STARTUP_TIMEOUT = 90.0
_STOP_TIMEOUT = 15.0
_PORT_ATTEMPTS = 3
# Run in LocalStack's interpreter before its main(), to keep it on the loopback:
# - its twisted gateway listens on 0.0.0.0 whatever GATEWAY_LISTEN says (its own
#   "TODO: interface = host?"), so IPv4 listeners get the loopback interface;
# - it resolves "s3.<LOCALSTACK_HOST>" (s3.127.0.0.1) through the system DNS
#   server to pick a hostname for internal clients; the answer is fixed to "no";
# - S3 keeps object bodies under a fixed /tmp/localstack-s3-storage (shared by all
#   instances, left behind on exit); it is moved into data_dir.
_LAUNCHER = """
import os

from twisted.internet import endpoints

_tcp4 = endpoints.TCP4ServerEndpoint


def _loopback_tcp4(reactor, port, backlog=50, interface=""):
    return _tcp4(reactor, port, backlog, interface or "127.0.0.1")


endpoints.TCP4ServerEndpoint = _loopback_tcp4

from localstack.utils.aws import aws_stack

aws_stack.CACHE_S3_HOSTNAME_DNS_STATUS = False

from localstack.services.s3 import provider

provider.DEFAULT_S3_TMP_DIR = os.environ["AUTOML_LOCALSTACK_S3_DIR"]

from localstack.runtime.main import main

main()
"""
# Loopback only: never go through an http_proxy from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def localstack_venv() -> Path:
    """Return where ``scripts/install-localstack.sh`` puts (or put) the LocalStack venv."""
    configured = os.environ.get("AUTOML_LOCALSTACK_VENV", "").strip()
    if configured:
        return Path(configured).expanduser()
    return Path.home() / ".cache" / "automl" / "localstack-venv"


def localstack_python() -> Path | None:
    """Return the LocalStack venv's python, or ``None`` if the install is missing or partial."""
    venv = localstack_venv()
    python = venv / "bin" / "python"
    if (venv / _MARKER).is_file() and python.exists() and os.access(python, os.X_OK):
        return python
    return None


def _gateway_server() -> str:
    """Return LocalStack's HTTP server: twisted unless ``AUTOML_LOCALSTACK_GATEWAY_SERVER`` says.

    twisted rather than hypercorn: with hypercorn, (1) shutdown hangs until killed
    while a client (a pooled boto3 connection) still holds a keep-alive connection,
    and (2) a refused request with a body over ~5 MiB gets its 403 without the body
    being read, so clients that send the whole body first (httpx, urllib, botocore)
    stall until their write timeout. S3 behaves the same on both.
    """
    return os.environ.get("AUTOML_LOCALSTACK_GATEWAY_SERVER", "").strip() or "twisted"


def _environment(port: int, data_dir: Path) -> dict[str, str]:
    """Build LocalStack's environment from scratch (the caller's is not inherited).

    A minimal environment keeps generic variables LocalStack also reads (``DEBUG``,
    ``DATA_DIR``, ``PERSISTENCE``, ``CI``, ``AWS_*`` ...) from leaking in.
    """
    tmp = data_dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    env = {
        key: os.environ[key]
        for key in ("PATH", "HOME", "LANG", "LC_ALL", "TZ")
        if key in os.environ
    }
    env.update(
        {
            "GATEWAY_LISTEN": f"127.0.0.1:{port}",
            "GATEWAY_SERVER": _gateway_server(),
            "LOCALSTACK_HOST": f"127.0.0.1:{port}",
            "SERVICES": "s3",
            "EAGER_SERVICE_LOADING": "1",
            # Check SigV4 signatures, presigned URLs included.
            "S3_SKIP_SIGNATURE_VALIDATION": "0",
            # No network: analytics, certificate download and DNS server off.
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "DNS_ADDRESS": "0",
            # Every write under data_dir, nothing persisted between runs.
            "PERSISTENCE": "0",
            "FILESYSTEM_ROOT": str(data_dir / "filesystem"),
            "AUTOML_LOCALSTACK_S3_DIR": str(data_dir / "s3-storage"),
            "LOCALSTACK_VOLUME_DIR": str(data_dir / "volume"),
            "CONFIG_DIR": str(data_dir / "config"),
            "XDG_CACHE_HOME": str(data_dir / "cache"),
            # Also where S3 object bodies spill to disk (LocalStack logs that TMPDIR
            # is deprecated as its own setting; Python's tempfile still uses it).
            "TMPDIR": str(tmp),
            "PYTHONDONTWRITEBYTECODE": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def _log_tail(log_path: Path, lines: int = 40) -> str:
    """Return the last ``lines`` lines of LocalStack's log, for error messages."""
    try:
        text = log_path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        return f"(no log at {log_path}: {exc})"
    return "\n".join(text.splitlines()[-lines:])


def _get_json(url: str) -> object:
    """GET ``url`` and decode its JSON body; ``None`` on any failure."""
    try:
        with _OPENER.open(url, timeout=2) as response:
            return json.loads(response.read().decode("utf-8"))
    except (OSError, ValueError):
        return None


def _ready(endpoint: str) -> bool:
    """Tell whether LocalStack has finished starting and S3 is available or running.

    ``/_localstack/health`` answers before the runtime is fully up; stopping it in
    that window makes its shutdown hang ~15 s, so the READY init stage is awaited too.
    """
    health = _get_json(f"{endpoint}/_localstack/health")
    services = health.get("services") if isinstance(health, dict) else None
    if not (isinstance(services, dict) and services.get("s3") in ("available", "running")):
        return False
    stage = _get_json(f"{endpoint}/_localstack/init/ready")
    return isinstance(stage, dict) and stage.get("completed") is True


def _start(
    python: Path, data_dir: Path, log_path: Path, timeout: float
) -> tuple[subprocess.Popen[bytes], str]:
    """Start LocalStack and wait until S3 is ready; raise RuntimeError otherwise.

    Retries on another port if the chosen one was taken in the meantime.
    """
    deadline = time.monotonic() + timeout
    for attempt in range(1, _PORT_ATTEMPTS + 1):
        port = free_port()
        endpoint = f"http://127.0.0.1:{port}"
        with log_path.open("ab") as log:
            log.write(f"--- automl: starting LocalStack on {endpoint}\n".encode())
            log.flush()
            process = subprocess.Popen(
                [str(python), "-c", _LAUNCHER],
                cwd=data_dir,
                env=_environment(port, data_dir),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            while True:
                if _ready(endpoint):
                    return process, endpoint
                code = process.poll()
                if code is not None:
                    tail = _log_tail(log_path)
                    if "address already in use" in tail.lower() and attempt < _PORT_ATTEMPTS:
                        break  # port race: try another one
                    raise RuntimeError(
                        f"LocalStack exited with code {code} before S3 was ready "
                        f"(log {log_path}):\n{tail}"
                    )
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"LocalStack S3 not ready on {endpoint} after {timeout:g} s "
                        f"(log {log_path}):\n{_log_tail(log_path)}"
                    )
                time.sleep(0.2)
        except BaseException:
            stop_process_group(process, signal.SIGTERM, _STOP_TIMEOUT)
            raise
        stop_process_group(process, signal.SIGTERM, _STOP_TIMEOUT)
    raise AssertionError("unreachable")  # pragma: no cover


@contextlib.contextmanager
def run_localstack(data_dir: Path, *, startup_timeout: float = _STARTUP_TIMEOUT) -> Iterator[str]:
    """Run LocalStack's S3 (see :func:`localstack_process`) and yield its endpoint URL."""
    with localstack_process(data_dir, startup_timeout=startup_timeout) as (_, endpoint):
        yield endpoint


@contextlib.contextmanager
def localstack_process(
    data_dir: Path, *, startup_timeout: float = _STARTUP_TIMEOUT
) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """Run LocalStack's S3 on a free 127.0.0.1 port; yield its process and endpoint URL (the
    process is what bench/ingest.py measures the memory and CPU of).

    The endpoint is ``http://127.0.0.1:<port>``; use access key ``test``, secret
    key ``test`` and region ``us-east-1``. LocalStack's output goes to
    ``data_dir/localstack.log``. On exit the whole process group is terminated
    and waited for.

    Raises:
        RuntimeError: LocalStack is not installed (run scripts/install-localstack.sh),
            exits early, or S3 is not ready within ``startup_timeout`` seconds;
            the message carries the tail of the log.
    """
    python = localstack_python()
    if python is None:
        raise RuntimeError(
            f"LocalStack is not installed in {localstack_venv()}: run scripts/install-localstack.sh"
        )
    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir / _LOG_NAME
    process, endpoint = _start(python, data_dir, log_path, startup_timeout)
    try:
        yield process, endpoint
    finally:
        stop_process_group(process, signal.SIGTERM, _STOP_TIMEOUT)
