"""The one place errors become the body of docs/spec.md §3: `{"error": {"code", "message"}}`."""

from __future__ import annotations

import logging

from botocore.exceptions import BotoCoreError, ClientError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.identifiers import PATH_ID_RESOURCES
from blocks.objects import is_transient_storage_error
from core.errors import (
    AutomlError,
    CatalogUnavailableError,
    StorageUnavailableError,
    TooManyInFlightError,
)
from core.excerpts import NAME_MAX_CHARS, excerpt

logger = logging.getLogger("api")

_HTTP_CODES = {
    400: "invalid_input",
    401: "unauthenticated",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "file_too_large",
    415: "unsupported_media_type",
}


def error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(
        {"error": {"code": code, "message": message}}, status_code=status, headers=headers
    )


def _describe_validation(exc: RequestValidationError) -> str:
    """One readable sentence per problem, naming the field (never echoing the value)."""
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ()) if part != "body"]
        field = ".".join(location) or "body"
        problems.append(f"{field}: {error.get('msg', 'invalid')}")
    return "; ".join(problems) or "the request is not valid"


async def _automl_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AutomlError)
    headers = None
    if isinstance(exc, TooManyInFlightError):  # when to try again (RFC 9110 §10.2.3)
        headers = {"Retry-After": str(exc.retry_after_seconds)}
    return error_response(exc.http_status, exc.code, exc.message, headers)


def _malformed_path_id(exc: RequestValidationError) -> str | None:
    """The resource whose path id is not one the API gives out, if that is what failed: it is
    answered as an unknown id is (404), never echoed (it may be 10 KB or carry control bytes)."""
    for error in exc.errors():
        location = tuple(error.get("loc", ()))
        if len(location) == 2 and location[0] == "path" and location[1] in PATH_ID_RESOURCES:
            return PATH_ID_RESOURCES[str(location[1])]
    return None


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    resource = _malformed_path_id(exc)
    if resource is not None:
        return error_response(404, "not_found", f"no {resource} with the id given")
    return error_response(400, "invalid_input", _describe_validation(exc))


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    message = exc.detail if isinstance(exc.detail, str) else "request refused"
    if exc.status_code == 404 and message == "Not Found":
        # The path is the caller's text: echoed no longer than a name (core/excerpts.py).
        message = f"no route {request.method} {excerpt(request.url.path, NAME_MAX_CHARS)}"
    return error_response(exc.status_code, code, message)


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    """A store that cannot be reached or answers 5xx is a 503 the client may retry; any other
    storage error is ours (500), reported with the request id, never the store's details."""
    request_id = getattr(request.state, "request_id", "-")
    if is_transient_storage_error(exc):
        logger.warning("request %s: storage unavailable: %s", request_id, exc)
        unavailable = StorageUnavailableError(
            "storage cannot be reached right now; nothing was changed, try again shortly "
            f"(request id {request_id})"
        )
        return error_response(unavailable.http_status, unavailable.code, unavailable.message)
    logger.error("request %s: storage error: %s", request_id, exc)
    return unexpected_error_response(request_id)


async def _catalog_error(request: Request, exc: Exception) -> JSONResponse:
    """A catalog connection lost mid-request (the database failed over or restarted) is a 503
    the client may retry: the transaction it carried was rolled back, and every step is
    idempotent (confirm gives the same ids). The pool's check on checkout (catalog/database.py)
    replaces the connection for the next request. Any other database error is ours (500)."""
    request_id = getattr(request.state, "request_id", "-")
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        logger.warning("request %s: catalog connection lost: %s", request_id, exc.orig)
        unavailable = CatalogUnavailableError(
            "the catalog database cannot be reached right now; try again shortly "
            f"(request id {request_id})"
        )
        return error_response(unavailable.http_status, unavailable.code, unavailable.message)
    logger.error("request %s: catalog error: %s", request_id, exc)
    return unexpected_error_response(request_id)


def unexpected_error_response(request_id: str) -> JSONResponse:
    return error_response(
        500, "internal_error", f"something went wrong on our side (request id {request_id})"
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AutomlError, _automl_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(ClientError, _storage_error)
    app.add_exception_handler(BotoCoreError, _storage_error)
    app.add_exception_handler(DBAPIError, _catalog_error)
