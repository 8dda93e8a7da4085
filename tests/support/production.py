"""The production path of the README on one machine: a Prefect server, a fresh clone deployed to
it with `prefect deploy --all`, process workers and the API, each a real process on 127.0.0.1.

Every process starts in its own session and is stopped with its process group; a process
worker starts each flow run in a process group of its own, so those are found (psutil) and
killed too: nothing is left behind, even when a test fails half-way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa
from prefect.client.orchestration import SyncPrefectClient

from tests.support.ports import free_port
from tests.support.processes import stop_process_tree

REPO = Path(__file__).resolve().parents[2]
WORK_POOL = "automl-process"
STARTUP_SECONDS = 120.0
COMMAND_TIMEOUT_SECONDS = 300.0
STOP_GRACE_SECONDS = 15.0
POLL_SECONDS = 0.5


# The deployments of docs/spec.md §4, as a Prefect server should list them.
DEPLOYMENTS = frozenset(
    {
        "ingest-dataset",
        "train-model",
        "render-plots",
        "setup-storage",
        "cleanup-stale-uploads",
        "purge-deleted",
    }
)


def fresh_clone(into: Path) -> Path:
    """Copies what a clone of the working tree holds: tracked files and new files not ignored,
    none of the ignored local state (`.venv`, `.automl`, caches), so a deploy from the copy
    cannot lean on anything the repository does not carry."""
    listing = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listing.split("\0")):
        source = REPO / name
        if source.is_file():  # a tracked file deleted in the working tree is not in a clone
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


@contextmanager
def postgres_database(server_url: str, driver: str) -> Iterator[str]:
    """A new database on the PostgreSQL server of `server_url`, reached through `driver`
    (`psycopg` for the catalog, `asyncpg` for the Prefect server); dropped afterwards."""
    name = f"automl_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = sa.engine.make_url(server_url).set(drivername=f"postgresql+{driver}", database=name)
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def base_environment(prefect_home: Path, pycache: Path) -> dict[str, str]:
    """This process's environment without the project's or Prefect's settings (each process
    gets those explicitly), with a Prefect home of its own.

    Python may write bytecode to a cache of this session: with PYTHONDONTWRITEBYTECODE set and
    no bytecode in the venv, each of the ~45 interpreter start-ups (two a flow run: the worker's
    workspace supervisor, then the engine it execs) would compile prefect and the project from
    source (measured: 9.8 s instead of 3.7 s to import the ingest flow on 2 busy cores).
    """
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("R2_", "AUTOML_", "PREFECT_"))
    }
    environment.pop("PYTHONDONTWRITEBYTECODE", None)
    environment.update(
        PREFECT_HOME=str(prefect_home),
        PYTHONPYCACHEPREFIX=str(pycache),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return environment


def tail(log: Path, characters: int = 3000) -> str:
    return log.read_text(errors="replace")[-characters:] if log.exists() else ""


def run_command(
    command: Sequence[str], cwd: Path, environment: dict[str, str], what: str
) -> subprocess.CompletedProcess[str]:
    """Runs a command to its end; its output is the message if it fails."""
    done = subprocess.run(
        list(command),
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_SECONDS,
        check=False,
    )
    if done.returncode != 0:
        raise AssertionError(
            f"{what} exited with {done.returncode}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
        )
    return done


@dataclass(frozen=True)
class Background:
    """A process started by `background`, with the log its output goes to."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def check_alive(self) -> None:
        code = self.process.poll()
        if code is not None:
            raise AssertionError(f"{self.name} exited with {code}:\n{tail(self.log)}")


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the process group, SIGKILL after a grace period; then any descendant that
    moved to a group of its own (a worker's flow-run processes)."""
    left = stop_process_tree(process, signal.SIGTERM, STOP_GRACE_SECONDS)
    if left:
        raise AssertionError(f"processes left behind: {left}")


@contextmanager
def background(
    name: str, command: Sequence[str], cwd: Path, environment: dict[str, str], log: Path
) -> Iterator[Background]:
    """Runs `command` in a new session until the block ends; output to `log`."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(command),
            cwd=cwd,
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield Background(name, process, log)
    finally:
        stop(process)


def wait_until(
    condition: Callable[[], bool],
    seconds: float,
    what: str,
    watched: Sequence[Background] = (),
) -> None:
    """Polls `condition` until it holds; fails when a watched process dies or time runs out."""
    deadline = time.monotonic() + seconds
    while not condition():
        for process in watched:
            process.check_alive()
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.name}:\n{tail(p.log, 1500)}" for p in watched)
            raise AssertionError(f"timed out after {seconds:.0f} s waiting for {what}\n{logs}")
        time.sleep(POLL_SECONDS)


def prefect_server_command(port: int) -> list[str]:
    """`prefect server start` on 127.0.0.1:`port`, without the UI, scheduler or analytics (the
    tests check schedules as registered and would only have scheduled runs join theirs)."""
    return [
        sys.executable,
        "-m",
        "prefect",
        "server",
        "start",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-ui",
        "--no-scheduler",
        "--analytics-off",
    ]


def answers(url: str) -> bool:
    """Whether `url` answers 200 now."""
    try:
        return httpx.get(url, timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def prefect_server(
    environment: dict[str, str], database_url: str, log: Path, auth_string: str | None = None
) -> Iterator[str]:
    """`prefect server start` on a free port and on PostgreSQL; yields its API URL. With
    `auth_string` (`user:password`), as docs/operations.md sets up production, the server
    answers only clients that send it (`PREFECT_SERVER_API_AUTH_STRING`; health checks aside).

    PostgreSQL, as in production: on SQLite the server answers concurrent writes of a few busy
    flow runs with 503 (`database is locked`), and a worker whose submission gets one marks the
    run Crashed. Its scheduler is off: the schedules are checked as registered, and scheduled
    cleanup runs would only join the ingestions in the pool.
    """
    port = free_port()
    command = prefect_server_command(port)
    cwd = Path(environment["PREFECT_HOME"])
    cwd.mkdir(parents=True, exist_ok=True)
    environment = {**environment, "PREFECT_SERVER_DATABASE_CONNECTION_URL": database_url}
    if auth_string is not None:
        environment["PREFECT_SERVER_API_AUTH_STRING"] = auth_string
    with background("prefect server", command, cwd, environment, log) as server:
        api_url = f"http://127.0.0.1:{port}/api"
        wait_until(
            lambda: answers(f"{api_url}/health"), STARTUP_SECONDS, "the Prefect server", [server]
        )
        yield api_url


@dataclass(frozen=True)
class Deployed:
    """A Prefect server with the project's work pool and `prefect deploy --all` done from a
    fresh clone; `environment` is what every process of the project gets (PREFECT_API_URL,
    and PREFECT_API_AUTH_STRING: the server refuses clients without `auth_string`)."""

    api_url: str
    clone: Path
    environment: dict[str, str]
    auth_string: str

    def client(self) -> SyncPrefectClient:
        return SyncPrefectClient(self.api_url, auth_string=self.auth_string)

    def prefect(self, *arguments: str) -> subprocess.CompletedProcess[str]:
        """The `prefect` command, run in the clone."""
        command = [sys.executable, "-m", "prefect", *arguments]
        return run_command(command, self.clone, self.environment, f"prefect {' '.join(arguments)}")

    @contextmanager
    def worker(
        self, name: str, environment: dict[str, str], limit: int, log: Path
    ) -> Iterator[Background]:
        """`prefect worker start` on the work pool, started in the clone like on a machine."""
        command = [
            sys.executable,
            "-m",
            "prefect",
            "worker",
            "start",
            "--pool",
            WORK_POOL,
            "--name",
            name,
            "--limit",
            str(limit),
        ]
        with background(name, command, self.clone, environment, log) as worker:
            yield worker

    def api(
        self, environment: dict[str, str], log: Path
    ) -> AbstractContextManager[tuple[str, Background]]:
        """The API run from the clone, as on a machine of the deployment (`api_process`)."""
        return api_process(self.clone, environment, log)


@contextmanager
def api_process(
    cwd: Path, environment: dict[str, str], log: Path
) -> Iterator[tuple[str, Background]]:
    """The API as the README runs it in production: `uvicorn --factory
    api.app:app_from_environment`, on a free port; yields its URL once it answers."""
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:app_from_environment",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    with background("api", command, cwd, environment, log) as api:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: answers(f"{url}/healthz"), STARTUP_SECONDS, "the API", [api])
        yield url, api


@contextmanager
def deployed_clone(root: Path, postgres_url: str) -> Iterator[Deployed]:
    """A Prefect server on a new database of `postgres_url`, with server authentication on
    (docs/operations.md), then in a fresh clone:
    `prefect work-pool create automl-process --type process` and `prefect deploy --all`."""
    clone = fresh_clone(root / "clone")
    environment = base_environment(root / "prefect-home", root / "pycache")
    auth_string = f"automl:{uuid.uuid4().hex}"
    log = root / "prefect-server.log"
    with (
        postgres_database(postgres_url, "asyncpg") as database_url,
        prefect_server(environment, database_url, log, auth_string) as api_url,
    ):
        deployed = Deployed(
            api_url,
            clone,
            {**environment, "PREFECT_API_URL": api_url, "PREFECT_API_AUTH_STRING": auth_string},
            auth_string,
        )
        deployed.prefect("work-pool", "create", WORK_POOL, "--type", "process")
        deployed.prefect("--no-prompt", "deploy", "--all")
        yield deployed
