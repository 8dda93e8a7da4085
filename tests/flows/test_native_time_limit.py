"""An ingestion whose file work is one long native call (polars streaming a CSV into Parquet)
still ends at its time limit: the work runs in a child process that is killed at the deadline
(tasks/file_work_process.py). Prefect's own limit stops Python only between bytecodes."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from flows.ingest_dataset import ingest_dataset
from tests.support.child_processes import file_work_children
from tests.support.consistency import assert_consistent
from tests.support.ingestions import MakeIngestion, assert_stopped_at_time_limit
from tests.support.stores import default_store_only

LIMIT_SECONDS = 2
# What the run may take past its limit: the flow's start and the failure hook's records (the
# run ends about 4 s after it starts on the shared 2-core machine). The file's work alone takes
# about 26 s there, in three streaming passes of about 7 s, each one native call.
GRACE_SECONDS = 5
ROWS = 8_000_000  # ~150 MB of CSV


def _late_type_change_csv(path: Path) -> bytes:
    """Integers until the last row says `n/a`: the guessed types fail at the end of a full
    streaming pass, a second pass fits them, a third converts (each one native call)."""
    block = "".join(f"{i},{i % 997},{i % 89}.25,x{i % 13}\n" for i in range(100_000))
    with path.open("w") as file:
        file.write("id,count,ratio,label\n")
        for _ in range(ROWS // 100_000):
            file.write(block)
        file.write("1,n/a,2.5,late\n")
    return path.read_bytes()


@pytest.mark.e2e  # a 150 MB upload
@default_store_only
def test_an_ingestion_in_a_long_native_call_ends_failed_at_its_time_limit(
    confirmed: MakeIngestion, tmp_path: Path
) -> None:
    ingestion = confirmed(_late_type_change_csv(tmp_path / "late.csv"), filename="late.csv")
    limited = ingest_dataset.with_options(timeout_seconds=LIMIT_SECONDS)
    started = time.monotonic()
    state = limited(ingestion.version_id, return_state=True)
    elapsed = time.monotonic() - started
    print(f"ended {state.name} after {elapsed:.1f} s")
    assert state.is_failed() and state.name == "TimedOut"
    assert elapsed < LIMIT_SECONDS + GRACE_SECONDS, elapsed
    assert file_work_children() == []  # killed, and reaped
    assert_stopped_at_time_limit(ingestion, 2)
    assert_consistent(ingestion.store.block)
