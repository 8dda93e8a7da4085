"""Profiling wide files (issue 15): up to 20,000 columns in bounded memory, in column batches
whose results equal one query's, with frequent values skipped past a width and said so."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks import profiling
from tasks.profiling import profile_parquet
from tests.support.wide_tables import nci60_frame, write_random_floats

REPOSITORY = Path(__file__).resolve().parents[2]
PEAK_LIMIT_BYTES = 1024**3


def measured_profile(path: Path) -> dict[str, Any]:
    """The profile's counts and peak memory, from a process of its own."""
    done = subprocess.run(
        [sys.executable, "-m", "tests.support.measure_profile", str(path)],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.e2e  # a fresh interpreter as a subprocess: the e2e marker's rule (pyproject.toml)
def test_a_64_by_20000_float_file_is_profiled_under_1_gb(tmp_path):
    path = write_random_floats(tmp_path / "wide.parquet", rows=64, columns=20_000)
    measured = measured_profile(path)
    assert (measured["row_count"], measured["column_count"]) == (64, 20_000)
    assert measured["profiled_columns"] == measured["numeric_with_mean"] == 20_000
    assert measured["notes"] == []
    assert measured["peak_bytes"] < PEAK_LIMIT_BYTES, measured


@pytest.mark.e2e  # a fresh interpreter as a subprocess: the e2e marker's rule (pyproject.toml)
def test_the_nci60_gene_expression_file_is_profiled_under_1_gb(tmp_path):
    """The real file of the issue: 64 rows x 6,831 columns, past 12 GB before batching."""
    path = tmp_path / "nci60.parquet"
    nci60_frame().write_parquet(path)
    measured = measured_profile(path)
    assert (measured["row_count"], measured["column_count"]) == (64, 6_831)
    assert measured["numeric_with_mean"] == 6_830
    assert measured["peak_bytes"] < PEAK_LIMIT_BYTES, measured


def test_batched_profile_equals_the_single_query_profile(tmp_path, monkeypatch):
    path = tmp_path / "mixed.parquet"
    pl.DataFrame(
        {
            "a": [1, 2, None, 4, 4],
            "b": ["x", "y", "x", None, "x"],
            "c": [0.5, 1.5, 2.5, 3.5, None],
            "d": [True, False, True, True, None],
            "e": ["p", "p", "q", "r", "r"],
        }
    ).write_parquet(path)
    whole = profile_parquet(path)
    monkeypatch.setattr(profiling, "BATCH_MAX_COLUMNS", 2)
    assert profiling._batches(5, 5) == [(0, 2), (2, 4), (4, 5)]
    assert profile_parquet(path) == whole


def test_batches_hold_at_most_the_cell_limit_unless_one_column_is_taller(monkeypatch):
    monkeypatch.setattr(profiling, "BATCH_MAX_CELLS", 100)
    assert profiling._batches(7, 30) == [(0, 3), (3, 6), (6, 7)]
    assert profiling._batches(2, 1_000) == [(0, 1), (1, 2)]
    assert profiling._batches(0, 1_000) == []


def test_top_values_past_the_width_are_skipped_and_noted(tmp_path, monkeypatch):
    monkeypatch.setattr(profiling, "TOP_VALUES_MAX_COLUMNS", 2)
    path = tmp_path / "text.parquet"
    pl.DataFrame({f"t{i}": ["a", "a", "b"] for i in range(5)} | {"n": [1, 2, 3]}).write_parquet(
        path
    )
    profile = profile_parquet(path)
    tops = {c["name"]: c["top_values"] for c in profile["columns"]}
    assert tops["t0"] == tops["t1"] == [{"value": "a", "count": 2}, {"value": "b", "count": 1}]
    assert tops["t2"] == tops["t3"] == tops["t4"] == tops["n"] == []
    assert profile["notes"] == [
        "Frequent values were computed for the first 2 of the 5 text and boolean columns "
        "only; the other 3 have no top values."
    ]
    # Every other statistic is still there for the skipped columns.
    assert [c["distinct_count"] for c in profile["columns"]] == [2, 2, 2, 2, 2, 3]


def test_a_narrow_profile_notes_nothing(known_table):
    assert profile_parquet(known_table)["notes"] == []
