"""Request ids and access logs that never carry a token, a signature or a query string."""

from __future__ import annotations

import logging
import re
import time
import unicodedata
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import unexpected_error_response

logger = logging.getLogger("api.access")

REQUEST_ID_HEADER = "x-request-id"
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# What a path may not put raw into a log line: controls (newline, CR, ESC, NUL...), invisible
# formatting characters and the Unicode line and paragraph separators.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
MAX_LOGGED_PATH_CHARACTERS = 1024


def loggable_path(path: str) -> str:
    r"""The decoded path as one unambiguous log field: a `%0A` in the URL cannot start a forged
    line. The escaped characters are written as Python writes them (`\n`, `\x1b`, `\u2028`) and
    a backslash as `\\`, so an escape in the log always means an escaped character; a path
    past 1024 characters is cut, saying how long it was."""
    escaped = []
    for char in path[:MAX_LOGGED_PATH_CHARACTERS]:
        if char == "\\":
            escaped.append("\\\\")
        elif unicodedata.category(char) in _ESCAPED_CATEGORIES:
            escaped.append(char.encode("unicode_escape").decode("ascii"))
        else:
            escaped.append(char)
    if len(path) > MAX_LOGGED_PATH_CHARACTERS:
        escaped.append(f"...[{len(path)} characters]")
    return "".join(escaped)


class RequestLogMiddleware:
    """Gives every request an id (the caller's `X-Request-ID` if it is safe, else a new one),
    returns it in the response, and logs method, path, status and duration with it. Headers
    and query strings are never logged: they are where tokens and signatures travel."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = (
            dict(scope.get("headers", [])).get(REQUEST_ID_HEADER.encode(), b"").decode("latin-1")
        )
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        status_sent = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, status_sent
            if message["type"] == "http.response.start":
                status, status_sent = message["status"], True
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (REQUEST_ID_HEADER.encode(), request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # Answered here, inside the CORS middleware, so even a 500 carries the request id
            # and the CORS headers a browser needs to read it.
            logger.exception("request %s failed", request_id)
            if status_sent:
                raise
            response = unexpected_error_response(request_id)
            await response(scope, receive, send_with_id)
        finally:
            logger.info(
                "%s %s %s %d %.1fms",
                request_id,
                scope["method"],
                loggable_path(scope["path"]),
                status,
                (time.perf_counter() - started) * 1000,
            )
