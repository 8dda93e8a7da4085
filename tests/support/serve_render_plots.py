"""Serves the `render-plots` deployment with its event trigger, as `automl up` does, polling
every second; run as a subprocess by the event-chain test (stopped with SIGTERM)."""

from __future__ import annotations

from prefect import serve

from deployments.local import local_deployments

if __name__ == "__main__":
    served = [d for d in local_deployments() if d.name == "render-plots"]
    serve(*served, print_starting_message=False)
