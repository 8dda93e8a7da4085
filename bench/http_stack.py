"""The local pieces the HTTP benchmark (bench/http_load.py) runs against, each in a process of
its own on 127.0.0.1: the embedded S3 server (moto), a Prefect server with the `ingest-dataset`
deployment applied (not served), and the API under uvicorn with one worker, as `automl up`
serves it, over a SQLite or PostgreSQL catalog. bench/api.py runs against the same pieces."""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from pathlib import Path
from typing import Any

import httpx

from bench.cpus import pin_served_api
from bench.ports import HOST, free_port

BUCKET = "automl-bench-http"
START_TIMEOUT_SECONDS = 60.0
# A small, valid CSV: what one confirm's upload holds (~1 KB).
CSV_BODY = (
    "id,city,amount\n" + "".join(f"{i},city-{i % 7},{i * 1.5}\n" for i in range(60))
).encode()


def run_s3(port: int) -> None:
    """Child process: the embedded S3 server (moto) until terminated."""
    from blocks.embedded_s3 import EmbeddedS3Server

    server = EmbeddedS3Server(host=HOST, port=port)
    server.start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it (SIGTERM) after Ctrl-C
    try:
        while True:
            time.sleep(3600)
    finally:
        server.stop()


def run_api(port: int, errors: Queue[str]) -> None:
    """Child process: the API as `app_from_environment` builds it, served by uvicorn as
    `automl up` serves it (one worker, no access log, no lifespan)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pin_served_api()
    try:
        import uvicorn

        from api.app import app_from_environment

        app = app_from_environment()  # the storage block is loaded from the Prefect server
        config = uvicorn.Config(
            app, host=HOST, port=port, log_level="warning", access_log=False, lifespan="off"
        )
        uvicorn.Server(config).run()
    except BaseException as exc:
        errors.put(f"{type(exc).__name__}: {exc}")
        raise


def wait_http(url: str, process: BaseProcess, what: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if not process.is_alive():
            raise RuntimeError(f"the {what} exited ({process.exitcode}) before it answered")
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the {what} did not answer {url} in {START_TIMEOUT_SECONDS:.0f} s")


def stop_process(process: BaseProcess | None) -> None:
    if process is None or not process.is_alive():
        return
    process.terminate()
    process.join(10)
    if process.is_alive():
        process.kill()
        process.join(5)


def configure_environment(
    workdir: Path, s3_port: int, prefect_port: int, bucket: str = BUCKET
) -> None:
    """The variables the API process inherits: this store, this Prefect server, and tiers whose
    limits the benchmark never reaches (nothing ingests here, so the enterprise tier's limit of
    ingestions in flight would turn the measured confirms into 429s, and its limit of uploads in
    flight the upload-url rows, which confirm none); the Prefect server inherits them too."""
    from core.settings import DEFAULT_TIERS

    unlimited = {
        **DEFAULT_TIERS["enterprise"].model_dump(),
        "max_ingestions_in_flight": 10_000,
        "max_uploads_in_flight": 1_000_000,
    }
    os.environ.update(
        {
            "AUTOML_DATA_DIR": str(workdir),
            "R2_ENDPOINT": f"http://{HOST}:{s3_port}",
            "R2_BUCKET_NAME": bucket,
            "PREFECT_API_URL": f"http://{HOST}:{prefect_port}/api",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            # Nothing executes the runs confirm creates here, so Prefect's late-runs service
            # would mark them Late in bursts of 0.25-0.5 s of CPU every 5 s, on the cores of
            # wrk: load that no production API shares a machine with.
            "PREFECT_SERVER_SERVICES_LATE_RUNS_ENABLED": "false",
            "AUTOML_TIERS": json.dumps({"enterprise": unlimited}),
        }
    )
    os.environ.pop("AUTOML_DATABASE_URL", None)


@dataclass(frozen=True)
class Services:
    """The store and the Prefect server every catalog's API shares."""

    s3_url: str
    s3_pid: int
    prefect_api_url: str
    prefect_pgid: int  # the Prefect server's process group: it and the processes it starts
    prefect_log: Path


@contextmanager
def shared_services(
    workdir: Path, bucket: str = BUCKET, prefect_database_url: str | None = None
) -> Iterator[Services]:
    """The S3 server and the Prefect server (with the storage block and the `ingest-dataset`
    deployment), for the whole run; `prefect_database_url` puts the Prefect server on that
    database instead of SQLite (as AUTOML_PREFECT_DATABASE_URL does for `automl up`)."""
    from stack import PrefectServerProcess

    s3_port, prefect_port = free_port(), free_port()
    configure_environment(workdir, s3_port, prefect_port, bucket)
    spawn = multiprocessing.get_context("spawn")
    s3: BaseProcess | None = None
    prefect = PrefectServerProcess(workdir, prefect_port, prefect_database_url)
    try:
        s3 = spawn.Process(target=run_s3, args=(s3_port,), name="bench-s3", daemon=True)
        s3.start()
        wait_http(f"http://{HOST}:{s3_port}/", s3, "S3 server")
        prefect.start()
        from prefect.settings import PREFECT_API_URL, temporary_settings

        with temporary_settings(updates={PREFECT_API_URL: prefect.api_url}):
            from blocks.storage import save_storage_block
            from core.settings import get_settings
            from flows.ingest_dataset import ingest_dataset
            from flows.setup_storage import setup_storage

            settings = get_settings()
            save_storage_block(settings)
            setup_storage()
            deployment: Any = ingest_dataset.to_deployment(name="ingest-dataset")
            deployment.apply()
        assert s3.pid is not None
        yield Services(
            f"http://{HOST}:{s3_port}",
            s3.pid,
            prefect.api_url,
            _process_group(prefect),
            prefect.log_path,
        )
    finally:
        prefect.stop()
        stop_process(s3)


def _process_group(prefect: Any) -> int:
    process = prefect._process
    return int(process.pid) if process is not None else -1


@dataclass(frozen=True)
class ApiUnderTest:
    url: str
    pid: int
    catalog_url: str
    tokens: list[str]  # one user each, enterprise tier


@contextmanager
def api_process(catalog_url: str | None, users: int) -> Iterator[ApiUnderTest]:
    """The API over `catalog_url` (None: the default SQLite catalog of AUTOML_DATA_DIR), with
    `users` users of a token each, in a process of its own."""
    if catalog_url is None:
        os.environ.pop("AUTOML_DATABASE_URL", None)
    else:
        os.environ["AUTOML_DATABASE_URL"] = catalog_url
    from catalog.accounts import create_token
    from catalog.database import catalog_for, migrate
    from core.settings import get_settings

    get_settings.cache_clear()  # AUTOML_DATABASE_URL changed
    settings = get_settings()
    migrate(settings.catalog_url)
    catalog = catalog_for(settings.catalog_url)
    with catalog.session() as session:
        tokens = [create_token(session, settings, f"bench-{i}", "enterprise") for i in range(users)]
    catalog.dispose()  # the API process opens its own
    spawn = multiprocessing.get_context("spawn")
    errors: Queue[str] = spawn.Queue()
    port = free_port()
    api = spawn.Process(target=run_api, args=(port, errors), name="bench-api")
    api.start()
    url = f"http://{HOST}:{port}"
    try:
        try:
            wait_http(f"{url}/healthz", api, "API")
        except RuntimeError:
            if not errors.empty():
                print(f"API start-up failed: {errors.get()}", file=sys.stderr)
            raise
        assert api.pid is not None
        yield ApiUnderTest(url, api.pid, settings.catalog_url, tokens)
    finally:
        stop_process(api)


def put_uploads(api: ApiUnderTest, count: int, confirm: bool = False) -> list[tuple[str, str]]:
    """Untimed set-up: `count` uploads spread over the users, each asked for and its file PUT
    (and with `confirm`, confirmed once); (token, confirm body) of each."""
    items: list[tuple[str, str]] = []
    with httpx.Client(timeout=120) as http:
        for n in range(count):
            token = api.tokens[n % len(api.tokens)]
            headers = {"Authorization": f"Bearer {token}"}
            answer = http.post(
                f"{api.url}/api/datasets/upload-url",
                json={"filename": f"bench-{n}.csv", "size_bytes": len(CSV_BODY)},
                headers=headers,
            )
            answer.raise_for_status()
            body = answer.json()
            http.put(
                body["upload_url"], headers=body["headers"], content=CSV_BODY
            ).raise_for_status()
            request = json.dumps(
                {"upload_id": body["upload_id"], "dataset_name": f"bench {body['upload_id']}"}
            )
            if confirm:
                confirmed = http.post(
                    f"{api.url}/api/datasets/confirm",
                    content=request,
                    headers={**headers, "Content-Type": "application/json"},
                )
                if confirmed.status_code != 202:
                    raise RuntimeError(f"set-up confirm answered {confirmed.status_code}")
            items.append((token, request))
    return items


RUNS_TIMEOUT_SECONDS = 300.0


def wait_for_runs(catalog_url: str, version_ids: list[str] | None = None) -> None:
    """Until the catalog records a run for every version named (None: every version): the
    API's dispatcher creates them in the background, and a row measured while it still does
    would count its CPU as the route's."""
    from sqlalchemy import func, select

    from catalog.database import catalog_for
    from catalog.tables import DatasetVersion

    waiting_filter = [DatasetVersion.flow_run_id.is_(None)]
    if version_ids is not None:
        waiting_filter.append(DatasetVersion.id.in_(version_ids))
    deadline = time.monotonic() + RUNS_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        with catalog_for(catalog_url).session() as session:
            waiting = session.execute(select(func.count()).where(*waiting_filter)).scalar_one()
        if not waiting:
            return
        time.sleep(0.05)
    raise RuntimeError(f"runs still missing after {RUNS_TIMEOUT_SECONDS:.0f} s")
