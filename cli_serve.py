"""`automl serve`: one machine's runner of the project's deployments, its flow runs forked from a
warm process, against the Prefect server of PREFECT_API_URL (docs/operations.md, "Serving
deployments warm")."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from cli_errors import fail, load_settings_or_fail
from core.errors import AutomlError
from core.settings import Settings

if TYPE_CHECKING:
    from deployments.local import LocalDeployment

console = Console()

SERVING = "serving"  # the start of the line printed once runs can start (tests wait for it)


def default_runner_name() -> str:
    """Names the machine and process in the Prefect UI's runs (`/` and `%` are not allowed)."""
    host = socket.gethostname().replace("/", "-").replace("%", "-")
    return f"automl-serve-{host}-{os.getpid()}"


def serve(
    poll_seconds: Annotated[
        int | None,
        typer.Option(
            "--poll-seconds",
            min=1,
            help="How often to ask the Prefect server for runs to start "
            "(default: AUTOML_RUNNER_POLL_SECONDS)",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit",
            min=1,
            help="Flow runs this machine runs at once (default: PREFECT_RUNNER_PROCESS_LIMIT, 5)",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Runner name (default: automl-serve-HOST-PID)"),
    ] = None,
    only: Annotated[
        list[str] | None,
        typer.Option(
            "--deployment",
            help="Serve only this deployment (repeatable; default: all six), e.g. to leave "
            "train-model to a pool's workers",
        ),
    ] = None,
) -> None:
    """Serve the deployments on this machine from a warm process (no server, API or store
    started): flow runs start in about a second instead of a new interpreter's 3-6 s. Runs on
    any number of machines at once; each run executes on one. SIGTERM: no new runs, the running
    ones finish; a second signal cancels them."""
    settings = load_settings_or_fail()
    from prefect.settings import PREFECT_API_URL

    if not PREFECT_API_URL.value():
        fail("`automl serve` needs PREFECT_API_URL: the Prefect server the deployments are on")
    if name is not None and ("/" in name or "%" in name):
        fail("--name may not contain '/' or '%'")

    from deployments.local import LOCAL_DEPLOYMENTS

    known = [d.name for d in LOCAL_DEPLOYMENTS]
    unknown = sorted(set(only or ()) - set(known))
    if unknown:
        fail(f"no deployment named {', '.join(unknown)}; the deployments: {', '.join(known)}")
    chosen = [d for d in LOCAL_DEPLOYMENTS if not only or d.name in only]
    try:
        serve_until_stopped(settings, poll_seconds, limit, name, chosen)
    except KeyboardInterrupt:
        pass
    except AutomlError as exc:
        fail(exc.message)
    except Exception as exc:  # a Prefect server that cannot be reached, a flow that fails to load
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"serve stopped: {first_line}", code=1)
    console.print("stopped", highlight=False)


def serve_until_stopped(
    settings: Settings,
    poll_seconds: int | None,
    limit: int | None,
    name: str | None,
    deployments: Sequence[LocalDeployment] | None = None,
) -> None:
    """What `automl serve` does once its options are checked, with the deployments of
    deployments/local.py (a test passes its own)."""
    from prefect.runner import Runner
    from prefect.settings import PREFECT_API_URL, get_current_settings

    from deployments.local import LOCAL_DEPLOYMENTS, served_flow_modules
    from deployments.serving import DrainOnStop, serve_shared_deployments
    from deployments.warm_start import warm_flow_processes

    deployments = LOCAL_DEPLOYMENTS if deployments is None else deployments
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    runner = Runner(
        name=name or default_runner_name(),
        query_seconds=poll_seconds or settings.runner_poll_seconds,
        limit=limit or get_current_settings().runner.process_limit,
        # Other machines serve the same deployments: stopping this one must not pause them.
        pause_on_shutdown=False,
    )
    DrainOnStop(runner).install()
    # Ready once a run can start warm (deployments/warm_start.py), then registered.
    with warm_flow_processes(served_flow_modules(deployments)):
        served = serve_shared_deployments(runner, deployments)
        for deployment in served:
            how = "created" if deployment.created else "as defined on the server"
            console.print(f"  {deployment.full_name} ({how})", highlight=False)
        console.print(
            f"{SERVING} {len(served)} deployments as {runner.name} on "
            f"{PREFECT_API_URL.value()}, polling every {runner.query_seconds:g} s",
            highlight=False,
        )
        asyncio.run(runner.start())
