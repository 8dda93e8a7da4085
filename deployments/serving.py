"""The deployments as every machine's `automl serve` serves them: shared, left as defined, never
paused by one runner's stop, and drained rather than cut off when the runner stops."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterable
from dataclasses import dataclass
from types import FrameType
from typing import Any
from uuid import UUID

from prefect.client.orchestration import get_client
from prefect.exceptions import ObjectNotFound
from prefect.runner import Runner

from deployments.local import LOCAL_DEPLOYMENTS, LocalDeployment


@dataclass(frozen=True)
class ServedDeployment:
    """A deployment this runner serves, and whether it created it (else it existed)."""

    full_name: str
    deployment_id: UUID
    created: bool


def full_name(deployment: LocalDeployment) -> str:
    return f"{deployment.flow.name}/{deployment.name}"


def _existing_deployment_id(name: str) -> UUID | None:
    with get_client(sync_client=True) as client:
        try:
            return client.read_deployment_by_name(name).id
        except ObjectNotFound:
            return None


def serve_shared_deployments(
    runner: Runner, deployments: Iterable[LocalDeployment] = LOCAL_DEPLOYMENTS
) -> list[ServedDeployment]:
    """Registers the deployments with `runner` so that it runs their flow runs forked from the
    warm process (deployments/warm_start.py), as `automl up` does.

    A deployment that exists on the server is served as it is: its schedules, triggers,
    concurrency limit and work pool stay what `prefect deploy` (or the first serve) made them.
    `Runner.add_flow` would re-apply its own definition on every start: it deletes and recreates
    the deployment's trigger automations and replaces its schedules (two machines starting at
    once could leave two of each: each event or schedule tick would then start two runs), and
    it clears the work pool, taking the deployment away from the pool's process workers. Only a
    deployment missing from the server is created, with `add_flow`, from deployments/local.py.
    """
    registry = getattr(runner, "_deployment_registry", None)
    if registry is None or not callable(getattr(registry, "register_flow", None)):
        raise RuntimeError("prefect.runner.Runner no longer keeps a deployment registry")
    served: list[ServedDeployment] = []
    for deployment in deployments:
        name = full_name(deployment)
        existing = _existing_deployment_id(name)
        if existing is None:
            created: UUID = runner.add_flow(  # type: ignore[assignment]  # sync: not a coroutine
                deployment.flow, **deployment.options()
            )
            served.append(ServedDeployment(name, created, created=True))
            continue
        # What `Runner.aadd_flow` records after applying the deployment, without applying it.
        registry.register_deployment(existing, deployment.name)
        registry.register_flow(existing, deployment.flow)
        served.append(ServedDeployment(name, existing, created=False))
    return served


class DrainOnStop:
    """SIGTERM (a service manager's stop) or SIGINT: the runner takes no new run and
    exits once its running flow runs have ended; they finish as if nothing happened. A second
    signal cancels them (Cancelled, a final state: `cleanup-stale-uploads` restarts their
    ingestions) and exits.

    Prefect's own SIGTERM handler cancels them at once; `install` replaces it on this runner
    (`Runner.start` installs `self.handle_sigterm`, looked up on the instance)."""

    def __init__(self, runner: Runner) -> None:
        self.runner = runner
        self.signals = 0
        self._cancelling: asyncio.Task[None] | None = None

    def install(self) -> None:
        self.runner.handle_sigterm = self.on_signal  # type: ignore[method-assign]
        signal.signal(signal.SIGTERM, self.on_signal)
        signal.signal(signal.SIGINT, self.on_signal)

    def on_signal(self, signum: int, frame: FrameType | None = None, *args: Any) -> None:
        loop = self.runner._loop
        # Still starting: nothing runs yet. (Once draining, the runner is no longer `started`
        # while it waits for its runs: a second signal then cancels them.)
        if self.signals == 0 and (loop is None or not self.runner.started):
            raise KeyboardInterrupt
        assert loop is not None
        self.signals += 1
        if self.signals == 1:
            loop.call_soon_threadsafe(self._stop_taking_runs)
        else:
            loop.call_soon_threadsafe(self._cancel_running)

    def _stop_taking_runs(self) -> None:
        self.runner._logger.info(
            "Stopping: no new flow runs are taken; the running ones finish first "
            "(signal again to cancel them)"
        )
        self.runner.stopping = True
        poller = getattr(self.runner, "_scheduled_run_poller", None)
        if poller is not None:
            poller.stopping = True
        # Ends `Runner.start`'s polling; leaving the runner then waits for its runs' task group.
        self.runner._loops_task_group.cancel_scope.cancel()

    def _cancel_running(self) -> None:
        self.runner._logger.info("Cancelling the running flow runs")
        self._cancelling = asyncio.ensure_future(self._cancel_in_runs_task_group())

    async def _cancel_in_runs_task_group(self) -> None:
        """The runner waits for its runs' task group before it closes its client: cancelling
        there finishes (the runs marked Cancelled) before the runner stops. A task of its own
        would be cut off as soon as the killed runs' tasks had ended. (Started from a task, not
        from the signal's loop callback, where anyio finds no running task.)"""
        self.runner._runs_task_group.start_soon(self.runner.cancel_all)
