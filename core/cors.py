"""The CORS rules browsers need: `docker/minio-cors.json`, its origins replaced by
AUTOML_CORS_ORIGINS when set. Configuration read by the API (allowed origins) and by the
`setup-storage` flow (the bucket's rules), so one list serves both."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CORS_RULES_FILE = Path(__file__).resolve().parent.parent / "docker" / "minio-cors.json"


def load_cors_rules(origins: list[str] | None = None) -> list[dict[str, Any]]:
    """The rules of `docker/minio-cors.json`; `origins` (AUTOML_CORS_ORIGINS) replaces theirs."""
    rules: list[dict[str, Any]] = json.loads(CORS_RULES_FILE.read_text())["CORSRules"]
    if origins:
        rules = [{**rule, "AllowedOrigins": list(origins)} for rule in rules]
    return rules
