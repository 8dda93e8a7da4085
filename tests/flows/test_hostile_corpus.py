"""The corpus of hostile uploads (issue 15, point 4) through the real ingest-dataset flow.

Each file ends `ready` with its content intact, or `failed` with the sentence a user reads.
The fast lane ingests the small corpus in this process, under lowered limits; the `e2e` lane
ingests the full-size corpus (100 MB line, 50 MB cell, a 2^30-row Parquet bomb), each in a flow
process of its own whose peak memory is measured and must stay under 1 GB.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from prefect.settings import PREFECT_API_URL

import tasks.file_work_process
from core.settings import get_settings
from flows.ingest_dataset import ingest_dataset
from tests.support.corpus_file import CorpusFile
from tests.support.hostile_corpus import CORPUS_NAMES, SMALL_LIMITS
from tests.support.ingestions import Ingestion, MakeIngestion
from tests.support.stores import default_store_only

PEAK_RSS_LIMIT_MB = 1024
# The flow's time limit in the measured processes: each run must end within it.
CORPUS_TIME_LIMIT_SECONDS = 600
ROOT = Path(__file__).resolve().parents[2]


def _assert_outcome(entry: CorpusFile, ingestion: Ingestion, tmp_path: Path) -> None:
    version = ingestion.version()
    assert version.status == entry.outcome, version.error
    if entry.outcome == "failed":
        assert version.error is not None
        assert entry.message in version.error
        # A sentence of its own, not the generic wrapper of an unexpected exception.
        assert not version.error.startswith("ingestion failed:")
        assert ingestion.store.keys() == [ingestion.temp_key]
        assert ingestion.upload().reserved_bytes == 0
        return
    stored = tmp_path / "stored.parquet"
    ingestion.store.client.download_file(
        ingestion.store.bucket_name, ingestion.parquet_key, str(stored)
    )
    assert entry.check is not None and version.profile is not None
    entry.check(pl.read_parquet(stored), version.profile)


def test_the_corpus_is_the_listed_files(small_corpus: dict[str, CorpusFile]) -> None:
    assert list(small_corpus) == CORPUS_NAMES


@default_store_only
@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_a_hostile_upload_ends_ready_with_its_content_or_failed_with_a_sentence(
    confirmed: MakeIngestion,
    small_corpus: dict[str, CorpusFile],
    name: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    for variable, value in SMALL_LIMITS.items():
        monkeypatch.setenv(variable, value)
    get_settings.cache_clear()
    # The file's work runs in a child process: the lowered floor is set there.
    monkeypatch.setattr(
        tasks.file_work_process, "CHILD_MODULE", "tests.support.lowered_floor_file_work"
    )
    entry = small_corpus[name]
    ingestion = confirmed(entry.path.read_bytes(), filename=entry.name)
    state = ingest_dataset(ingestion.version_id, return_state=True)
    assert state.is_completed() == (entry.outcome == "ready")
    _assert_outcome(entry, ingestion, tmp_path)


def _ingest_measured(ingestion: Ingestion, tmp_path: Path) -> dict[str, object]:
    """The flow in a process of its own: its final state, peak RSS (MB), seconds and the time
    limit it ran under."""
    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "AUTOML_DATABASE_URL": get_settings().catalog_url,
        "TMPDIR": str(tmp_path),
        "AUTOML_FLOW_TIMEOUTS": json.dumps({"ingest-dataset": CORPUS_TIME_LIMIT_SECONDS}),
    }
    process = subprocess.run(
        [sys.executable, "-m", "tests.support.measured_ingestion", ingestion.version_id],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    lines = [line for line in process.stdout.splitlines() if line.startswith("MEASURED ")]
    assert process.returncode == 0 and lines, process.stderr[-3000:]
    measured: dict[str, object] = json.loads(lines[-1].removeprefix("MEASURED "))
    return measured


@pytest.mark.e2e  # full-size files (100 MB), each ingested by a flow process of its own
@default_store_only
@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_a_full_size_hostile_upload_ends_in_bounded_memory(
    confirmed: MakeIngestion, full_corpus: dict[str, CorpusFile], name: str, tmp_path: Path
) -> None:
    entry = full_corpus[name]
    ingestion = confirmed(entry.path.read_bytes(), filename=entry.name)
    measured = _ingest_measured(ingestion, tmp_path)
    print(f"{name}: {measured}")
    assert measured["state"] == ("COMPLETED" if entry.outcome == "ready" else "FAILED")
    assert float(str(measured["peak_rss_mb"])) < PEAK_RSS_LIMIT_MB
    assert measured["time_limit"] == CORPUS_TIME_LIMIT_SECONDS
    assert float(str(measured["seconds"])) < CORPUS_TIME_LIMIT_SECONDS
    _assert_outcome(entry, ingestion, tmp_path)
