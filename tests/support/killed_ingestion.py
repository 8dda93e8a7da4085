"""Run `ingest-dataset` for one version in this process and SIGKILL it after the Parquet upload.

    python -m tests.support.killed_ingestion VERSION_ID

The settings come from the environment (PREFECT_API_URL, R2_*, AUTOML_DATABASE_URL,
AUTOML_DATA_DIR), as in a flow-run process a runner or worker starts.

Why a fault injection: the window between the Parquet upload and the catalog record is a few
milliseconds, so no outside signal can be timed to land in it. `record_ready` is replaced by a
SIGKILL of this very process, sent right when the flow reaches it: the process dies as under the
OOM killer or a lost node, with no exception, `finally`, atexit hook or Prefect state change. The
flow run is left Running, the version `ingesting`, the Parquet object written, the temp object
kept and the catalog untouched.
"""

from __future__ import annotations

import os
import signal
import sys
from unittest import mock

from catalog.datasets import IngestionOutcome
from flows.ingest_dataset import ingest_dataset


def _die_before_recording(version_id: str, outcome: IngestionOutcome) -> bool:
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("SIGKILL returned")


def main(version_id: str) -> None:
    with mock.patch("flows.ingest_dataset.record_ready", _die_before_recording):
        ingest_dataset(version_id)


if __name__ == "__main__":
    main(sys.argv[1])
