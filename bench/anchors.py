"""The anchors of the load benchmark (bench/load.py): a FastAPI route that does nothing,
served the way `automl up` serves the API, and `wrk` runs against a route."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from bench.ports import HOST, free_port

WRK_SCRIPT = r"""
tokens = {%(tokens)s}
body = '%(body)s'
counter = 0
statuses = {}
request = function()
  counter = counter + 1
  local headers = {}
  headers["Authorization"] = "Bearer " .. tokens[(counter %% #tokens) + 1]
  headers["Content-Type"] = "application/json"
  return wrk.format("POST", nil, headers, body)
end
response = function(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  local counts = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses")) do
      counts[status] = (counts[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(counts) do table.insert(parts, status .. "=" .. count) end
  io.write(string.format("RESULT %%d %%d %%.3f %%.3f %%d %%d %%d %%d %%s\n",
    summary.requests, summary.duration, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, summary.errors.connect, summary.errors.read,
    summary.errors.write, summary.errors.timeout, table.concat(parts, ",")))
end
"""


def _serve_bare(port: int) -> None:
    """Child process: a FastAPI route that does nothing, served as `automl up` serves the API
    (uvicorn, one worker, no access log, no lifespan); a sync route, like ours, so it runs in
    the same thread pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
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


@dataclass(frozen=True)
class WrkRow:
    target: str
    connections: int
    seconds: float
    requests: int
    p50_ms: float
    p99_ms: float
    statuses: str
    socket_errors: int
    cpu: float  # wrk's CPU over its wall time


def run_wrk(
    target: str, url: str, tokens: list[str], body: str, connections: int, seconds: int
) -> WrkRow:
    script = WRK_SCRIPT % {
        "tokens": ", ".join(json.dumps(t) for t in tokens),
        "body": body.replace("'", "\\'"),
    }
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        done = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "60s",
                "-s",
                file.name,
                url,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 120,
            check=True,
        )
    finally:
        os.unlink(file.name)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    line = next(ln for ln in done.stdout.splitlines() if ln.startswith("RESULT "))
    fields = line.split(" ", 9)
    requests, micros = int(fields[1]), int(fields[2])
    wall = micros / 1e6
    return WrkRow(
        target,
        connections,
        wall,
        requests,
        float(fields[3]),
        float(fields[4]),
        fields[9].strip() if len(fields) > 9 else "",
        sum(int(f) for f in fields[5:9]),
        cpu / wall if wall else 0.0,
    )
