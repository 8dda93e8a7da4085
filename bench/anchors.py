"""The anchors of the load benchmark (bench/load.py): a FastAPI route that does nothing,
served the way `automl up` serves the API, and `wrk` runs against a route."""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from bench.cpus import pin_served_api
from bench.ports import HOST, free_port
from bench.wrk import WrkRow, run_wrk_requests

__all__ = ["WrkRow", "bare_api", "run_wrk"]


def _serve_bare(port: int) -> None:
    """Child process: a FastAPI route that does nothing, served as `automl up` serves the API
    (uvicorn, one worker, no access log, no lifespan); a sync route, like ours, so it runs in
    the same thread pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pin_served_api()
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.post("/bare")
    def bare(body: dict[str, Any]) -> dict[str, str]:
        return {"status": "ok"}

    config = uvicorn.Config(
        app, host=HOST, port=port, access_log=False, log_level="warning", lifespan="off"
    )
    uvicorn.Server(config).run()


@contextmanager
def bare_api() -> Iterator[tuple[str, int]]:
    """(URL, pid) of the bare app in a process of its own."""
    import httpx

    port = free_port()
    process = multiprocessing.get_context("spawn").Process(
        target=_serve_bare, args=(port,), name="load-bare", daemon=True
    )
    process.start()
    url = f"http://{HOST}:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.post(f"{url}/bare", json={}, timeout=2).status_code == 200:
                    break
            if not process.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the bare API did not start")
            time.sleep(0.2)
        assert process.pid is not None
        yield url, process.pid
    finally:
        process.terminate()
        process.join(10)


def run_wrk(
    target: str, url: str, tokens: list[str], body: str, connections: int, seconds: int
) -> WrkRow:
    """wrk POSTing the same body with each token in turn (see `bench.wrk`)."""
    return run_wrk_requests(target, url, [(t, body) for t in tokens], connections, seconds)
