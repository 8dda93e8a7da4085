"""Serves the `render-plots` deployment with its event trigger, as `automl up` does (its flow
runs forked from a warm process), polling every second; run as a subprocess by the event-chain
test (stopped with SIGTERM)."""

from __future__ import annotations

import asyncio
import contextlib

from prefect.exceptions import TerminationSignal
from prefect.runner import Runner

from deployments.local import LOCAL_DEPLOYMENTS, add_local_deployments, served_flow_modules
from deployments.warm_start import warm_flow_processes

if __name__ == "__main__":
    served = [d for d in LOCAL_DEPLOYMENTS if d.name == "render-plots"]
    runner = Runner(name="render-plots-test")
    with warm_flow_processes(served_flow_modules(served)):
        add_local_deployments(runner, served)
        with contextlib.suppress(KeyboardInterrupt, TerminationSignal):
            asyncio.run(runner.start())
