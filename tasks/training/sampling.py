"""Reads what a training run can afford of a Parquet file: its rows with a target value, as a
polars table of at most `max_cells` values (rows x columns), before anything becomes pandas.

The file is scanned lazily and never read whole when it is over the budget. When its labelled
rows times its columns exceed `max_cells`, a seeded random sample of the labelled rows is read;
when even `MIN_SAMPLE_ROWS` rows of every column would exceed it (thousands of columns), a
seeded random sample of the feature columns is kept first, so that enough rows remain to learn
from. Every such reduction is written in the run's notes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import polars as pl

from tasks.training.columns import check_target_column

ROW = "__row__"
MIN_SAMPLE_ROWS = 1_000
# As `core.settings.Settings.training_max_cells` (the flows pass the setting): about 80 MB per
# copy of the frame in float64, and the search makes a few copies.
DEFAULT_MAX_CELLS = 10_000_000


@dataclass(frozen=True)
class TrainingRows:
    """The labelled rows read, with `ROW` (their 0-based position in the file) first."""

    table: pl.DataFrame
    file_rows: int
    missing_target: int
    notes: list[str] = field(default_factory=list)


def read_training_rows(path: Path, target: str, *, max_cells: int, seed: int) -> TrainingRows:
    """NaN and infinities in a float target count as missing, like nulls."""
    scan = pl.scan_parquet(path)
    schema = scan.collect_schema()
    if target not in schema:
        check_target_column(scan.head(0).collect(), target)  # raises, naming the columns
    if schema[target].is_float():
        finite = pl.when(pl.col(target).is_finite()).then(pl.col(target))
        scan = scan.with_columns(finite.alias(target))
    file_rows, labelled = (
        scan.select(pl.len(), pl.col(target).count()).collect(engine="streaming").row(0)
    )
    notes: list[str] = []
    features = _affordable_features(
        [name for name in schema if name != target], labelled, max_cells, seed, notes
    )
    kept = {target, *features}
    columns = [name for name in schema if name in kept]  # in file order
    rows = scan.with_row_index(ROW).filter(pl.col(target).is_not_null()).select([ROW, *columns])
    affordable = max(1, max_cells // len(columns))
    if labelled > affordable:
        picked = np.sort(np.random.default_rng(seed).choice(labelled, affordable, replace=False))
        rows = (
            rows.with_row_index("__labelled__")
            .filter(pl.col("__labelled__").is_in(pl.Series(picked).cast(pl.get_index_type())))
            .drop("__labelled__")
        )
        notes.append(
            f"Training read a random {affordable:,} of the {labelled:,} rows with a target "
            f"value: all of them ({labelled:,} x {len(columns):,} columns) would exceed the "
            f"budget of {max_cells:,} values (AUTOML_TRAINING_MAX_CELLS)."
        )
    return TrainingRows(rows.collect(engine="streaming"), file_rows, file_rows - labelled, notes)


def _affordable_features(
    features: list[str], labelled: int, max_cells: int, seed: int, notes: list[str]
) -> list[str]:
    """All features when `MIN_SAMPLE_ROWS` rows of them fit the budget, else a seeded random
    sample of them in file order."""
    least_rows = max(1, min(labelled, MIN_SAMPLE_ROWS))
    allowed = max(1, max_cells // least_rows - 1)  # one column is the target
    if len(features) <= allowed:
        return features
    picked = np.sort(np.random.default_rng(seed).choice(len(features), allowed, replace=False))
    notes.append(
        f"Training used a random {allowed:,} of the {len(features):,} feature columns: "
        f"{least_rows:,} rows of all of them would exceed the budget of {max_cells:,} values "
        f"(AUTOML_TRAINING_MAX_CELLS)."
    )
    return [features[i] for i in picked]
