"""The upload page: `/` and its script and style, served from the API's own origin."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

PAGE_DIR = Path(__file__).resolve().parent.parent / "page"
# The page's files and their types: nothing else under api/page/ is served.
# The script is ES modules (app.js imports the others), each with one job.
SCRIPT_MODULES = (
    "account.js",
    "api.js",
    "app.js",
    "datasets.js",
    "dom.js",
    "explain.js",
    "format.js",
    "resume.js",
    "transfer.js",
    "version.js",
)
ASSETS = {
    **dict.fromkeys(SCRIPT_MODULES, "text/javascript; charset=utf-8"),
    "style.css": "text/css; charset=utf-8",
}
# The page sends its token to this origin only; no other site may frame or script it.
PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' http: https:; img-src 'self' data:; "
        "frame-ancestors 'none'"
    ),
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def upload_page() -> FileResponse:
    """The browser upload page (plain HTML, no build step)."""
    return FileResponse(
        PAGE_DIR / "index.html", media_type="text/html; charset=utf-8", headers=PAGE_HEADERS
    )


@router.get("/page/{name}")
def page_asset(name: str) -> FileResponse:
    media_type = ASSETS.get(name)
    if media_type is None:
        raise HTTPException(status_code=404)
    return FileResponse(PAGE_DIR / name, media_type=media_type, headers=PAGE_HEADERS)
