"""Wide tables for the wide-data tests: the real NCI60 gene expression file and generated
numeric tables of any shape, written as Parquet."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl

from tests.fixtures.wide import NCI60_CSV_GZ


def nci60_frame() -> pl.DataFrame:
    """64 rows: `cancer_type` (text, 14 classes) then 6,830 float gene columns."""
    with gzip.open(NCI60_CSV_GZ, "rb") as stream:
        return pl.read_csv(stream.read())


def write_random_floats(path: Path, rows: int, columns: int, *, seed: int = 0) -> Path:
    """`rows` x `columns` uniform floats named c0, c1, ... as Parquet."""
    values = np.random.default_rng(seed).random((rows, columns))
    pl.DataFrame(values, schema=[f"c{i}" for i in range(columns)]).write_parquet(path)
    return path
