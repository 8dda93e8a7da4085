"""The API is served with uvicorn's C HTTP parser (httptools), as `automl up` and
`uvicorn --factory api.app:app_from_environment` both leave uvicorn to choose (`http="auto"`):
h11, the pure-Python one uvicorn falls back to, cost upload-url 10-15% of its requests per
second (docs/benchmarks.md, round 10)."""

from __future__ import annotations

from fastapi import FastAPI
from uvicorn.config import Config


def test_uvicorn_chooses_the_c_parser() -> None:
    config = Config(FastAPI(), lifespan="off")
    assert config.http == "auto"
    config.load()
    assert config.http_protocol_class.__name__ == "HttpToolsProtocol"
