"""Which cores a benchmark's processes run on: `--api-cpu N` gives the served APIs (ours and the
bare anchor) core N and leaves every other process (wrk, PostgreSQL, the Prefect and S3
servers, the benchmark itself) the other cores, so that the load generator and the services
do not take the CPU the API is measured on; and how much of that core other processes took
during a row (`core_busy_seconds`): this machine is shared, and a row whose API core others used
measures them too."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from bench.process_cpu import cpu_seconds

# /proc/stat's columns of a core that count as busy: user, nice, system, irq, softirq, steal (a
# hypervisor's other guests); idle and iowait do not.
_BUSY_COLUMNS = (0, 1, 2, 5, 6, 7)

# Set by `give_api_its_own_cpu` in the benchmark's process; read by each served API at its start.
API_CPU_VARIABLE = "AUTOML_BENCH_API_CPU"


def give_api_its_own_cpu(cpu: int) -> None:
    """This process, and every process it starts from now on, to the cores other than `cpu`;
    an API process it starts then moves itself to `cpu` (`pin_served_api`)."""
    cpus = os.sched_getaffinity(0)
    if cpu not in cpus or len(cpus) < 2:
        raise SystemExit(f"--api-cpu {cpu}: this process may run on cores {sorted(cpus)}")
    os.environ[API_CPU_VARIABLE] = str(cpu)
    os.sched_setaffinity(0, cpus - {cpu})


def pin_served_api() -> None:
    """In a served API's process, before it starts any thread: to the core the benchmark gave
    the APIs, if it gave one. Threads started afterwards (uvicorn's pool) inherit it."""
    cpu = api_cpu()
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def cpu_note() -> str:
    """How the run placed its processes, for the table's heading."""
    cpu = api_cpu()
    if cpu is None:
        return "every process on every core"
    others = ",".join(map(str, sorted(os.sched_getaffinity(0))))
    return f"both APIs on core {cpu}, everything else on core(s) {others}"


def api_cpu() -> int | None:
    """The core the benchmark gave the APIs (`--api-cpu`), or None."""
    cpu = os.environ.get(API_CPU_VARIABLE)
    return None if cpu is None else int(cpu)


def core_busy_seconds(cpu: int, stat: Path = Path("/proc/stat")) -> float:
    """Seconds core `cpu` has been busy since boot, whichever process (or guest) used it."""
    for line in stat.read_text().splitlines():
        name, *columns = line.split()
        if name == f"cpu{cpu}":
            ticks = sum(int(columns[i]) for i in _BUSY_COLUMNS if i < len(columns))
            return ticks / os.sysconf("SC_CLK_TCK")
    raise ValueError(f"{stat} has no line for core {cpu}")


@dataclass(frozen=True)
class CoreUse:
    """How the cores were used over a row, with `--api-cpu`."""

    others_on_api_core: float  # share of the APIs' core that processes other than them used
    wrk_cores_busy: float  # mean busy share of the other cores (wrk, the database, servers)


class CoreWatch:
    """Measures `CoreUse` between `start` and `stop`; without `--api-cpu` it measures nothing
    (every process then shares every core, and no share is anyone's in particular)."""

    def __init__(self, served_pids: tuple[int, ...]) -> None:
        self._served_pids = served_pids
        self._api_cpu = api_cpu()
        self._other_cpus = sorted(os.sched_getaffinity(0))  # the benchmark's: wrk's
        self._started: tuple[float, float, float, float] | None = None

    def _now(self) -> tuple[float, float, float, float]:
        assert self._api_cpu is not None
        served = sum(cpu_seconds(pid, tree=False) for pid in self._served_pids)
        others = sum(core_busy_seconds(cpu) for cpu in self._other_cpus)
        return time.perf_counter(), core_busy_seconds(self._api_cpu), served, others

    def start(self) -> None:
        self._started = self._now() if self._api_cpu is not None else None

    def stop(self) -> CoreUse | None:
        if self._started is None:
            return None
        wall, api_core, served, others = (
            end - start for end, start in zip(self._now(), self._started, strict=True)
        )
        return CoreUse(
            others_on_api_core=max(api_core - served, 0.0) / wall,
            wrk_cores_busy=others / len(self._other_cpus) / wall,
        )
