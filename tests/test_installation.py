"""The project installs the documented way (an editable install of its checkout, into a clean
virtualenv) and its commands work from anywhere; building a wheel or sdist refuses, loudly.

Both run on a fresh clone (tracked and new files, none of the local state), offline from the uv
cache that `scripts/test.sh` filled with the locked packages.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.ports import free_port
from tests.support.prerequisites import require
from tests.support.production import fresh_clone

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(600)]

CHECKOUT_ONLY = "automl-storage runs from its checkout and is not built as a wheel or sdist"


def uv() -> list[str]:
    """The uv the README installs (`python3 -m pip install uv==0.13.9`)."""
    found = shutil.which("uv")
    if found:
        return [found]
    python3 = shutil.which("python3")
    if (
        python3
        and subprocess.run([python3, "-m", "uv", "--version"], capture_output=True).returncode == 0
    ):
        return [python3, "-m", "uv"]
    require("uv is not installed (scripts/test.sh installs it)")
    raise AssertionError("unreachable")


def clean_environment(**extra: str) -> dict[str, str]:
    """This process's environment without its virtualenv or import path, so nothing found
    comes from the test's own venv or checkout."""
    environment = {
        name: value
        for name, value in os.environ.items()
        if name not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "UV_PROJECT_ENVIRONMENT"}
    }
    environment.update(UV_PYTHON_DOWNLOADS="never", **extra)
    return environment


def run(
    command: list[str], cwd: Path, environment: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command,
        cwd=cwd,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


def test_the_documented_install_runs_every_command_from_anywhere(tmp_path: Path) -> None:
    checkout = fresh_clone(tmp_path / "checkout")
    venv = tmp_path / "venv"  # a clean virtualenv of its own, not the checkout's .venv
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    synced = run(
        [*uv(), "sync", "--frozen", "--no-dev", "--offline", "--python", python],
        checkout,
        clean_environment(UV_PROJECT_ENVIRONMENT=str(venv)),
    )
    assert synced.returncode == 0, synced.stderr
    assert not (checkout / ".venv").exists()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    environment = clean_environment(AUTOML_DATA_DIR=str(tmp_path / "automl-data"))
    automl = str(venv / "bin" / "automl")
    for command, usage in (
        ([], "Usage: automl [OPTIONS] COMMAND"),
        (["demo"], "Usage: automl demo [OPTIONS]"),
        (["setup-storage"], "Usage: automl setup-storage [OPTIONS]"),
    ):
        helped = run([automl, *command, "--help"], elsewhere, environment)
        assert helped.returncode == 0, helped.stderr
        assert usage in helped.stdout

    # `--help` imports little: the demo itself (demo.py, the bundled sample) and setup-storage's
    # CORS rules (docker/minio-cors.json, read by path) must be found too.
    dead_api = f"http://127.0.0.1:{free_port()}"
    demo = run(
        [automl, "demo", "--api", dead_api, "--token", "t", "--timeout", "1"],
        elsewhere,
        environment,
    )
    assert demo.returncode == 1, demo.stdout + demo.stderr
    assert "uploading customer_churn.csv" in demo.stdout
    assert f"the API at {dead_api} cannot be reached" in demo.stderr
    assert "Traceback" not in demo.stderr

    where = run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import demo, core.cors as b; "
            "print(demo.__file__); print(len(b.load_cors_rules())); print(b.CORS_RULES_FILE)",
        ],
        elsewhere,
        environment,
    )
    assert where.returncode == 0, where.stderr
    demo_file, rules, rules_file = where.stdout.split()
    assert Path(demo_file) == checkout / "demo.py"  # the checkout itself, not a copy
    assert int(rules) >= 1
    assert Path(rules_file) == checkout / "docker" / "minio-cors.json"


def test_a_wheel_or_sdist_build_refuses_with_the_reason(tmp_path: Path) -> None:
    checkout = fresh_clone(tmp_path / "checkout")
    dist = tmp_path / "dist"
    for kind in ("--wheel", "--sdist"):
        built = run(
            [*uv(), "build", kind, "--offline", "--out-dir", str(dist)],
            checkout,
            clean_environment(),
        )
        assert built.returncode != 0, built.stdout
        assert CHECKOUT_ONLY in built.stderr
        assert "use `uv sync` (or `pip install -e .`)" in built.stderr
    assert [*dist.glob("*.whl"), *dist.glob("*.tar.gz")] == []
