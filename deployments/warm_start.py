"""Flow runs forked from a warm process instead of started in a new interpreter.

Prefect's runner starts each flow run of a served deployment with
`prefect.flow_engine.run_flow_in_subprocess`: a multiprocessing "spawn" child, a new Python
that imports Prefect and the flow's module before the run can go Running. For these flows that
is 3-5 s of CPU per run on 2 cores, most of the wait between a confirm and its ingestion
(docs/benchmarks.md, *Latency*). Here the runner's children come from a multiprocessing
forkserver instead: one process, started once, that has imported Prefect's flow engine and the
served flows' modules, and forks a child per run. The child is the same as before in every
other way: Prefect's wrapper still applies the runner's environment and settings in it, runs
the flow with its own client and event loop, and the runner still watches, cancels and reaps
it as a `multiprocessing` process. The forkserver imports modules only: no event loop, no
connection, no Python thread (Prefect avoids forking the runner itself because its threads and
event loop do not survive a fork). The only threads in it are native ones that Polars starts
on import (its allocator's background threads, its spill-file cleaner), idle when it forks;
jemalloc supports fork, and the forked runs convert, train and plot (tests/test_stack.py; a
317 MB CSV ingested by hand). The forkserver imports those modules after it has started, so
`warm_flow_processes` returns only once a child forked from it has them all: the caller reports
ready after that, and its first run is as warm as the others.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.context
import multiprocessing.forkserver
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

import prefect.flow_engine

# What every flow run imports before it can start, whatever its flow.
ENGINE_MODULES = ("prefect.flow_engine",)
# How long the forkserver may take to import them: seconds warm, but a fresh clone compiles
# every module's bytecode first (docs/benchmarks.md, "The first run after start").
WARM_UP_TIMEOUT_SECONDS = 300.0


class WarmStartError(RuntimeError):
    """The warm process did not import the flows: its runs would start cold, or not at all."""


class _ForkserverContexts(ModuleType):
    """Stands in for the `multiprocessing` module inside `prefect.flow_engine`, whose only
    use of it at run time is `multiprocessing.get_context("spawn")`."""

    def __init__(self, context: multiprocessing.context.BaseContext) -> None:
        super().__init__("multiprocessing")
        self._context = context

    def get_context(self, method: str | None = None) -> multiprocessing.context.BaseContext:
        return self._context


@contextmanager
def warm_flow_processes(flow_modules: Iterable[str]) -> Iterator[None]:
    """Starts the forkserver with `flow_modules` imported, has the runner's flow runs forked
    from it until exit, then stops it."""
    context = multiprocessing.get_context("forkserver")
    preload = [*ENGINE_MODULES, *flow_modules]
    context.set_forkserver_preload(preload)
    multiprocessing.forkserver.ensure_running()
    try:
        wait_until_warm(context, preload)
    except BaseException:
        _stop_forkserver()
        raise
    engine_globals = vars(prefect.flow_engine)
    if engine_globals.get("multiprocessing") is not multiprocessing:
        raise RuntimeError("prefect.flow_engine no longer starts runs with multiprocessing")
    engine_globals["multiprocessing"] = _ForkserverContexts(context)
    try:
        yield
    finally:
        engine_globals["multiprocessing"] = multiprocessing
        _stop_forkserver()


def wait_until_warm(
    context: multiprocessing.context.BaseContext,
    modules: Sequence[str],
    timeout: float = WARM_UP_TIMEOUT_SECONDS,
) -> None:
    """Returns once a child forked from the forkserver has `modules` imported: the first run
    then starts as warm as the others. `ensure_running` only launches the forkserver, which
    imports its preload list before it forks anything, so without this wait the first run
    queues behind those imports (16 s on a fresh clone, where they compile bytecode too).
    The forkserver ignores a preload module that fails to import: every run would then import
    it itself, cold; that is an error here."""
    probe = context.Process(  # type: ignore[attr-defined]  # BaseContext lacks Process in typeshed
        target=exit_with_missing_modules,
        args=(list(modules),),
        name="automl-warm-probe",
        daemon=True,
    )
    probe.start()
    probe.join(timeout)
    if probe.exitcode is None:
        probe.kill()
        probe.join()
        raise WarmStartError(f"the warm process did not import the flows within {timeout:.0f} s")
    if probe.exitcode != 0:
        raise WarmStartError(
            f"the warm process could not import every flow module of {list(modules)} "
            f"(exit {probe.exitcode}; the probe's error output names them)"
        )


def exit_with_missing_modules(modules: list[str]) -> None:
    """In a child forked from the forkserver: exits 1 naming the modules the forkserver has not
    imported, 0 if it has them all."""
    missing = [name for name in modules if name not in sys.modules]
    if missing:
        print(f"not imported by the warm process: {', '.join(missing)}", file=sys.stderr)
        sys.exit(1)


def _stop_forkserver() -> None:
    """Stops the forkserver and waits for it, so that nothing outlives the caller. It would exit
    by itself once this process has (it watches a pipe from us), but only after its own Python
    shutdown, a second or more later. multiprocessing has no public way to stop it; its
    `ForkServer._stop` closes that pipe and reaps the process (CPython 3.8 and later)."""
    server = vars(multiprocessing.forkserver).get("_forkserver")
    stop = getattr(server, "_stop", None)
    if callable(stop):
        stop()
