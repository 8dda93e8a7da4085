"""The CORS rules browsers need: `docker/minio-cors.json`, its origins replaced by
AUTOML_CORS_ORIGINS when set, else joined by the API's own upload page's origin. Configuration
read by the API (allowed origins) and by the `setup-storage` flow (the bucket's rules), so one
list serves both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORS_RULES_FILE = Path(__file__).resolve().parent.parent / "docker" / "minio-cors.json"


LOOPBACK_HOSTS = ("127.0.0.1", "localhost")


def page_origins(api_host: str, api_port: int) -> list[str]:
    """Where a browser opens the API's upload page (`/`, AUTOML_API_HOST:AUTOML_API_PORT): the
    origin its PUTs to the store come from. A loopback API is opened by either name; an API
    bound to every address (0.0.0.0) has a public name only its operator knows (they list it
    in AUTOML_CORS_ORIGINS)."""
    if api_host in LOOPBACK_HOSTS:
        return [f"http://{host}:{api_port}" for host in LOOPBACK_HOSTS]
    if api_host in ("0.0.0.0", "::"):
        return []
    return [f"http://{api_host}:{api_port}"]


def load_cors_rules(
    origins: list[str] | None = None, page: list[str] | None = None
) -> list[dict[str, Any]]:
    """The rules of `docker/minio-cors.json`; `origins` (AUTOML_CORS_ORIGINS) replaces theirs,
    else the upload page's origins (`page`) join theirs."""
    rules: list[dict[str, Any]] = json.loads(CORS_RULES_FILE.read_text())["CORSRules"]
    if origins:
        return [{**rule, "AllowedOrigins": list(origins)} for rule in rules]
    extra = [origin for origin in page or [] if origin not in rules[0]["AllowedOrigins"]]
    return [{**rule, "AllowedOrigins": [*rule["AllowedOrigins"], *extra]} for rule in rules]
