"""`automl serve`'s code serving the probe deployment of tests/support/serve_probe.py, polling every
second; run as a subprocess (`python -m tests.support.serve_probe_runner NAME`) by
tests/deployments/test_serve.py, several at once."""

from __future__ import annotations

import contextlib
import os
import sys

from cli_serve import serve_until_stopped
from core.settings import get_settings
from tests.support.serve_probe import PROBE, SERVE_NAME_VARIABLE

if __name__ == "__main__":
    name = sys.argv[1]
    os.environ[SERVE_NAME_VARIABLE] = name
    with contextlib.suppress(KeyboardInterrupt):
        serve_until_stopped(get_settings(), poll_seconds=1, limit=4, name=name, deployments=[PROBE])
    print("stopped", flush=True)
