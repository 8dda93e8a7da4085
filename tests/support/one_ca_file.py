"""A CA file of one certificate for the tests' Prefect clients, which never use TLS."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import certifi


def one_ca_certificate() -> str:
    """A CA file holding certifi's first certificate, written once per machine.

    The test Prefect servers are plain HTTP on 127.0.0.1, yet each Prefect client builds a TLS
    context from the CA file, certifi's ~140 certificates by default: 19 ms each, and every flow
    run, block save and dispatcher makes a client (~35 CPU-s of the fast lane; docs/benchmarks.md,
    "Test lanes"). A context that is never used needs one certificate (0.3 ms)."""
    path = Path(tempfile.gettempdir()) / "automl-tests-one-ca.pem"
    if not path.exists():
        bundle = Path(certifi.where()).read_text()
        end = "-----END CERTIFICATE-----\n"
        written = path.with_name(f"{path.name}.{os.getpid()}")
        written.write_text(bundle[: bundle.index(end) + len(end)])
        written.replace(path)  # atomic: workers starting together each write the same file
    return str(path)
