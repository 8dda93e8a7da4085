"""The FastAPI application: routes, error envelope, request ids, CORS for the web app."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from prefect_aws import S3Bucket

from api.deps import ApiState
from api.errors import install_error_handlers
from api.openapi_document import install_openapi_document
from api.request_log import REQUEST_ID_HEADER, RequestLogMiddleware
from api.routes import datasets, health, jobs, page, uploads, usage
from api.run_dispatch import stop_run_dispatchers
from blocks.storage import load_storage_block, s3_client
from catalog.database import catalog_for, migrate
from core.cors import load_cors_rules
from core.settings import Settings, get_settings


def allowed_origins(settings: Settings) -> list[str]:
    """The web app's origins: the same list the bucket's CORS rules allow."""
    origins: list[str] = []
    for rule in load_cors_rules(settings.cors_origins):
        origins.extend(rule.get("AllowedOrigins", []))
    return sorted(set(origins))


def create_app(
    settings: Settings, storage: S3Bucket | None = None, *, embedded_store: bool = False
) -> FastAPI:
    """The API over the configured catalog and storage block (loaded from Prefect if not given).

    The catalog is migrated first, so a fresh database works at the first request.
    `embedded_store`: the stack runs on the embedded store (`automl up` says so), whose large
    uploads the API warns about.
    """
    migrate(settings.catalog_url)
    catalog = catalog_for(settings.catalog_url)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield  # run by servers with a lifespan (tests' clients; `automl up` calls `shut_down`)
        await anyio.to_thread.run_sync(shut_down, app)  # may wait for a run being created

    app = FastAPI(
        title="automl storage API",
        version="1",
        summary="Presigned uploads straight to S3/R2, confirm, dataset reads and soft delete.",
        lifespan=lifespan,
    )
    storage = storage if storage is not None else load_storage_block()
    s3_client(storage)  # built now, not by the first request: part of what start-up freezes
    catalog.checkpoint_in_background()  # SQLite: no request waits for a WAL checkpoint
    catalog.open_pool()  # the same: no request waits for a connection to open
    app.state.automl = ApiState(
        settings=settings,
        catalog=catalog.serialized(),
        storage=storage,
        embedded_store=embedded_store,
    )
    install_error_handlers(app)
    app.include_router(uploads.router)
    app.include_router(datasets.router)
    app.include_router(jobs.router)
    app.include_router(usage.router)
    app.include_router(health.router)
    app.include_router(page.router)
    install_openapi_document(app)
    app.add_middleware(RequestLogMiddleware)  # inside CORS: its answers get CORS headers too
    app.add_middleware(
        CORSMiddleware,
        allow_origins=allowed_origins(settings),
        allow_methods=["GET", "POST", "DELETE"],
        allow_headers=["authorization", "content-type", REQUEST_ID_HEADER],
        expose_headers=[REQUEST_ID_HEADER],
        max_age=600,
    )
    return app


def shut_down(app: FastAPI) -> None:
    """What an app started that outlives its requests: its run dispatchers (a run being created
    is finished and recorded first) and the catalog's background checkpoints."""
    state: ApiState = app.state.automl
    stop_run_dispatchers(state.catalog)
    state.catalog.stop_background_checkpoints()


def freeze_startup_heap() -> None:
    """Put every object alive after start-up out of the garbage collector's reach; a serving
    process calls it once, its app built.

    The API's imports (Prefect, SQLAlchemy, pydantic, boto3) and its S3 client leave ~260,000
    long-lived objects. Each collection of the oldest generation walks all of them with the GIL
    held: 110 to 250 ms every few thousand requests, during which every request in flight
    waits. That pause was the upload-url p99 at 32 paced clients, 190 to 260 ms against 17 ms
    without it (docs/benchmarks.md, "Round 5: garbage collector pauses"). Frozen objects are
    never collected: what is garbage now is collected first, and what start-up built lives as
    long as the process anyway."""
    gc.collect()
    gc.freeze()


def app_from_environment() -> FastAPI:
    """For `uvicorn --factory api.app:app_from_environment` in production: settings from the
    environment, the storage block from the Prefect server of `PREFECT_API_URL`."""
    app = create_app(get_settings())
    freeze_startup_heap()
    return app
