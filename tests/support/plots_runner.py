"""The `render-plots` deployment served with its event trigger by a subprocess
(tests/support/serve_render_plots.py), as `automl up` serves it: the event-chain test's runner."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
from prefect.settings import PREFECT_API_URL

from core.process_group import stop_process_group

CHAIN_DEADLINE_SECONDS = 120


@dataclass
class PlotsRunner:
    """The `render-plots` deployment served with its trigger by a subprocess, as `automl up`
    does (polling every second)."""

    process: subprocess.Popen[bytes]
    log: Path

    def tail(self) -> str:
        return self.log.read_text()[-3000:]

    def check(self, deadline: float) -> None:
        assert self.process.poll() is None, self.tail()
        assert time.monotonic() < deadline, self.tail()

    def wait_for_trigger(self) -> None:
        """Until the runner has registered the deployment and its trigger (an automation)."""
        deadline = time.monotonic() + CHAIN_DEADLINE_SECONDS
        while True:
            automations = httpx.post(f"{PREFECT_API_URL.value()}/automations/filter", json={})
            names = {a["name"] for a in automations.json()}
            if "render-plots-on-model-published" in names:
                return
            self.check(deadline)
            time.sleep(0.25)


@contextmanager
def render_plots_runner(log_path: Path) -> Iterator[PlotsRunner]:
    """The runner in the caller's environment (its catalog, its storage block) on the current
    Prefect API, its output in `log_path`; its process group stopped with SIGTERM."""
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "PREFECT_RUNNER_POLL_FREQUENCY": "1",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    }
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.support.serve_render_plots"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield PlotsRunner(process, log_path)
        finally:
            stop_process_group(process, signal.SIGTERM, 30)
