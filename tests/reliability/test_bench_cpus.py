"""`--api-cpu` of the HTTP benchmark (bench/cpus.py): the served APIs get the named core, and
every other process the benchmark starts (wrk, PostgreSQL, the Prefect server) the others."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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
