"""The task a target's profile calls for, as the API states it before training: the same rule
the training applies to the values."""

from __future__ import annotations

from typing import Any

import polars as pl
import pytest

from core.errors import TrainingInputError
from tasks.profiling import profile_parquet
from tasks.training.columns import infer_task_type
from tasks.training.rules import MAX_INTEGER_CLASSES, column_decision, task_type_for_profile_column


def profiled(tmp_path: Any, values: pl.Series) -> tuple[dict[str, Any], int]:
    path = tmp_path / "target.parquet"
    pl.DataFrame({values.name: values}).write_parquet(path)
    profile = profile_parquet(path)
    return profile["columns"][0], int(profile["row_count"])


@pytest.mark.parametrize(
    "values",
    [
        pl.Series("y", ["a", "b"] * 10),
        pl.Series("y", [True, False] * 10),
        pl.Series("y", [0, 1, 2, 3] * 10),
        pl.Series("y", list(range(MAX_INTEGER_CLASSES)) * 2),
        pl.Series("y", list(range(MAX_INTEGER_CLASSES + 1)) * 2),
        pl.Series("y", list(range(30))),
        pl.Series("y", [0.5, 1.5] * 10),
        pl.Series("y", list(range(25)) * 4),
    ],
    ids=lambda s: f"{s.dtype}-{s.n_unique()}-of-{s.len()}",
)
def test_the_profile_rule_agrees_with_the_training_rule(tmp_path, values):
    column, rows = profiled(tmp_path, values)
    assert task_type_for_profile_column(column, rows) == infer_task_type(values)


def test_integer_targets_are_classes_up_to_the_limit_with_two_rows_each():
    column = {"name": "y", "type": "Int64", "kind": "numeric"}
    assert task_type_for_profile_column(column | {"distinct_count": 20}, 40) == "classification"
    assert task_type_for_profile_column(column | {"distinct_count": 21}, 100) == "regression"
    assert task_type_for_profile_column(column | {"distinct_count": 20}, 39) == "regression"


def test_whole_floats_are_left_to_the_values_at_training_time():
    column = {"name": "y", "type": "Float64", "kind": "numeric", "distinct_count": 2}
    assert task_type_for_profile_column(column, 20) == "regression"
    assert infer_task_type(pl.Series("y", [0.0, 1.0] * 10)) == "classification"


def test_a_date_target_is_refused_naming_its_type():
    column = {"name": "when", "type": "Date", "kind": "temporal", "distinct_count": 5}
    with pytest.raises(TrainingInputError, match="'when' has type Date; a target must be"):
        task_type_for_profile_column(column, 30)


@pytest.mark.parametrize(
    ("kind", "present", "distinct", "decision"),
    [
        (None, 10, 5, "type Duration is not supported as a feature"),
        ("numeric", 0, 0, "every value is missing"),
        ("boolean", 10, 1, "a single value in every row: it carries no information"),
        ("numeric", 10, 5, ("numeric", "scaled")),
        ("datetime", 10, 5, ("datetime", "date_parts")),
        ("categorical", 100, 20, ("categorical", "one_hot")),
        ("categorical", 5_000, 1_001, ("categorical", "hashed")),
    ],
)
def test_each_column_is_encoded_or_dropped_with_its_reason(kind, present, distinct, decision):
    assert column_decision(kind, "Duration", present, distinct) == decision


def test_an_id_like_text_column_is_dropped():
    reason = column_decision("categorical", "String", 100, 95)
    assert isinstance(reason, str) and reason.startswith("id-like text: 95 distinct values")
