"""Training within a budget of values (issue 15): rows, then columns, are sampled before anything
becomes pandas, and a wide file gets only the models feasible for its width."""

from __future__ import annotations

import re

import numpy as np
import polars as pl

from tasks.training import sampling
from tasks.training.evaluation import IMPORTANCE_MAX_COLUMNS, IMPORTANCE_MIN_COLUMNS
from tasks.training.pipelines import WIDE_FEATURES, candidates_for
from tasks.training.sampling import ROW, read_training_rows
from tasks.training.train import train_from_parquet
from tests.support.wide_tables import write_random_floats


def test_rows_over_the_budget_are_sampled_and_keep_their_file_positions(tmp_path):
    path = tmp_path / "tall.parquet"
    table = pl.DataFrame(
        {
            "x": np.arange(5_000, dtype=np.float64),
            "y": [None if i % 5 == 0 else i % 3 for i in range(5_000)],
        }
    )
    table.write_parquet(path)
    read = read_training_rows(path, "y", max_cells=2_000, seed=0)
    assert read.table.columns == [ROW, "x", "y"]
    assert read.table.height == 2_000 // 2
    assert (read.file_rows, read.missing_target) == (5_000, 1_000)
    assert read.table["y"].null_count() == 0
    # Each row read is the file's row at its recorded position.
    assert (read.table["x"] == read.table[ROW].cast(pl.Float64)).all()
    assert read.table[ROW].is_unique().all()
    assert read.notes == [
        "Training read a random 1,000 of the 4,000 rows with a target value: all of them "
        "(4,000 x 2 columns) would exceed the budget of 2,000 values "
        "(AUTOML_TRAINING_MAX_CELLS)."
    ]


def test_a_file_within_the_budget_is_read_whole(tmp_path):
    path = tmp_path / "small.parquet"
    pl.DataFrame({"x": [1.0, 2.0, None], "y": [1, None, 0]}).write_parquet(path)
    read = read_training_rows(path, "y", max_cells=1_000, seed=0)
    assert read.table[ROW].to_list() == [0, 2]
    assert read.notes == []


def test_columns_over_the_budget_are_sampled_keeping_the_target(tmp_path):
    path = write_random_floats(tmp_path / "wide.parquet", rows=30, columns=2_000)
    read = read_training_rows(path, "c1500", max_cells=20_000, seed=0)
    kept = read.table.columns[1:]
    assert "c1500" in kept
    assert len(kept) == 20_000 // 30  # target + 665 features
    assert read.table.height == 30
    order = [int(name[1:]) for name in kept]
    assert order == sorted(order)  # file order
    assert read.table.width * read.table.height <= 20_000 + 30  # + the row positions
    assert read.notes[0].startswith("Training used a random 665 of the 1,999 feature columns")


def test_a_wide_file_trains_on_a_sample_with_the_models_feasible_for_its_width(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(sampling, "MIN_SAMPLE_ROWS", 40)  # rows, not columns, give way
    path = tmp_path / "wide.parquet"
    rng = np.random.default_rng(0)
    values = rng.normal(size=(80, 1_500))
    table = pl.DataFrame(values, schema=[f"g{i}" for i in range(1_500)]).with_columns(
        label=pl.Series(np.where(values[:, 0] + values[:, 1] > 0, "up", "down"))
    )
    table.write_parquet(path)
    run = train_from_parquet(path, "label", time_budget_seconds=2, seed=0, max_cells=60_000)
    # 60,000 values: 1,500 columns x 40 rows, so 40 of the 80 rows were read.
    assert run.rows.file == 80
    assert run.rows.train + run.rows.test == 40
    assert len(run.features) == 1_499 > WIDE_FEATURES
    assert all(c.family in ("logistic_regression", "random_forest") for c in run.candidates)
    assert [c.name for c in run.candidates] == [
        c.name for c in candidates_for("classification", 0, len(run.features))
    ]
    importance = run.evaluation["feature_importance"]["features"]
    assert 0 < len(importance) <= IMPORTANCE_MAX_COLUMNS
    assert any("gradient boosting" in note for note in run.notes)
    assert any(note.startswith("Training read a random 40 of the 80") for note in run.notes)
    [permuted] = [
        re.search(r"measured on a random (\d+) of the 1,499 feature columns", note)
        for note in run.notes
        if "Feature importance was measured" in note
    ]
    assert permuted is not None
    assert IMPORTANCE_MIN_COLUMNS <= int(permuted.group(1)) <= IMPORTANCE_MAX_COLUMNS


def test_narrow_files_keep_every_candidate():
    families = {c.family for c in candidates_for("regression", 0, WIDE_FEATURES)}
    assert families == {"ridge", "hist_gradient_boosting", "random_forest"}
    wide = candidates_for("regression", 0, WIDE_FEATURES + 1)
    assert [c.name for c in wide] == [
        "ridge_1",
        "random_forest_1",
        "ridge_2",
        "ridge_3",
        "random_forest_3",
    ]
