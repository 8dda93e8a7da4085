"""`--api-cpu` of the HTTP benchmark (bench/cpus.py): the served APIs get the named core, and
every other process the benchmark starts (wrk, PostgreSQL, the Prefect server) the others; and
how busy a core has been, which the benchmark uses to show what other processes took of the
APIs' core."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.cpus import API_CPU_VARIABLE, CoreWatch, core_busy_seconds

ROOT = Path(__file__).resolve().parents[2]

PLACEMENT = """
import json, multiprocessing, os, subprocess, sys
from bench.cpus import cpu_note, give_api_its_own_cpu, pin_served_api

def served(queue):
    pin_served_api()
    queue.put(sorted(os.sched_getaffinity(0)))

if __name__ == "__main__":
    give_api_its_own_cpu(int(sys.argv[1]))
    spawn = multiprocessing.get_context("spawn")
    queue = spawn.Queue()
    api = spawn.Process(target=served, args=(queue,))
    api.start()
    api_cpus = queue.get(timeout=60)
    api.join()
    other = subprocess.run(
        [sys.executable, "-c", "import os; print(sorted(os.sched_getaffinity(0)))"],
        capture_output=True, text=True, check=True,
    ).stdout
    print(json.dumps({
        "bench": sorted(os.sched_getaffinity(0)),
        "api": api_cpus,
        "other": json.loads(other),
        "note": cpu_note(),
    }))
"""


def _placement(directory: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    script = directory / "placement.py"  # a file: spawn imports its main module again
    script.write_text(PLACEMENT)
    return subprocess.run(
        [sys.executable, str(script), *arguments],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_the_apis_run_on_their_core_and_every_other_process_on_the_others(
    tmp_path: Path,
) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    api_cpu = cpus[0]
    done = _placement(tmp_path, str(api_cpu))
    assert done.returncode == 0, done.stderr
    placed = json.loads(done.stdout)
    others = [cpu for cpu in cpus if cpu != api_cpu]
    assert placed["api"] == [api_cpu]
    assert placed["bench"] == others
    assert placed["other"] == others  # wrk, PostgreSQL, the Prefect server: started like this
    assert placed["note"] == f"both APIs on core {api_cpu}, everything else on core(s) " + (
        ",".join(map(str, others))
    )


def test_a_core_the_benchmark_may_not_use_is_refused_with_the_cores_it_may(
    tmp_path: Path,
) -> None:
    done = _placement(tmp_path, "4096")
    assert done.returncode != 0
    assert "--api-cpu 4096: this process may run on cores" in done.stderr


PROC_STAT = """cpu  900 10 300 5000 70 5 6 0 0 0
cpu0 100 1 20 4000 50 2 3 4 0 0
cpu1 800 9 280 1000 20 3 3 0 0 0
intr 12345
"""


def test_a_cores_busy_time_counts_user_system_interrupts_and_steal_not_idle_or_iowait(
    tmp_path: Path,
) -> None:
    stat = tmp_path / "stat"
    stat.write_text(PROC_STAT)
    ticks = os.sysconf("SC_CLK_TCK")
    assert core_busy_seconds(0, stat) == pytest.approx((100 + 1 + 20 + 2 + 3 + 4) / ticks)
    assert core_busy_seconds(1, stat) == pytest.approx((800 + 9 + 280 + 3 + 3) / ticks)
    with pytest.raises(ValueError, match="no line for core 2"):
        core_busy_seconds(2, stat)


def test_every_core_of_this_machine_has_been_busy_since_boot() -> None:
    for cpu in os.sched_getaffinity(0):  # the real /proc/stat: its lines are found and read
        assert core_busy_seconds(cpu) > 0


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two cores")
def test_the_cpu_a_process_not_served_spends_on_the_apis_core_counts_as_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    allowed = os.sched_getaffinity(0)
    api_core = sorted(allowed)[0]
    monkeypatch.setenv(API_CPU_VARIABLE, str(api_core))
    os.sched_setaffinity(0, allowed - {api_core})  # the benchmark's own cores, as in a run
    try:
        watch = CoreWatch(served_pids=())
        os.sched_setaffinity(0, {api_core})  # then burn CPU on the APIs' core, unserved
        spent_before, started = time.process_time(), time.perf_counter()
        watch.start()
        while time.process_time() - spent_before < 0.3:
            pass
        use = watch.stop()
        wall, spent = time.perf_counter() - started, time.process_time() - spent_before
    finally:
        os.sched_setaffinity(0, allowed)
    assert use is not None
    # The core counted at least what this process spent on it (ticks of 10 ms either way).
    assert use.others_on_api_core * wall >= spent - 0.05
    assert use.wrk_cores_busy >= 0


def test_without_a_core_for_the_apis_nothing_is_measured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(API_CPU_VARIABLE, raising=False)
    watch = CoreWatch(served_pids=(os.getpid(),))
    watch.start()
    assert watch.stop() is None
