"""`GET /healthz`: can the API reach its storage and its database, and which one fails."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import CatalogDep, StorageDep
from api.schemas import HealthResponse
from blocks.storage import s3_client

router = APIRouter(tags=["health"])
logger = logging.getLogger("api.health")


def _failing(check: str, exc: Exception) -> str:
    """The body is unauthenticated: it names the kind of failure only; details go to the log."""
    logger.warning("health check %s failing: %s", check, exc)
    return f"failing: {type(exc).__name__}"


@router.get("/healthz", response_model=HealthResponse, responses={503: {"model": HealthResponse}})
def healthz(catalog: CatalogDep, storage: StorageDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        s3_client(storage).head_bucket(Bucket=storage.bucket_name)
        checks["storage"] = "ok"
    except Exception as exc:
        checks["storage"] = _failing("storage", exc)
    try:
        with catalog.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = _failing("database", exc)
    healthy = all(value == "ok" for value in checks.values())
    body = HealthResponse(status="ok" if healthy else "failing", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if healthy else 503)
