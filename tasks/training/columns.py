"""Applies the rules (`tasks.training.rules`) to a polars table: checks the target, decides the
task from its values, and chooses the feature columns, saying why each other one is dropped."""

from __future__ import annotations

import polars as pl

from core.errors import TrainingInputError, UntrainableDatasetError
from core.excerpts import NAME_MAX_CHARS, excerpt, quoted_name
from tasks.training.metadata import DroppedColumn, FeatureInfo
from tasks.training.rules import (
    MIN_ROWS,
    FeatureKind,
    TaskType,
    column_decision,
    whole_numbers_are_classes,
)


def check_target_column(table: pl.DataFrame, target: str) -> None:
    if target not in table.columns:
        shown = ", ".join(quoted_name(c) for c in table.columns[:20])
        more = f" and {len(table.columns) - 20} more" if len(table.columns) > 20 else ""
        raise TrainingInputError(
            f"The target {quoted_name(target)} is not a column of this dataset. Its columns are: "
            f"{shown}{more}."
        )
    if table.height == 0 or table[target].null_count() == table.height:
        raise UntrainableDatasetError(
            f"The target column {quoted_name(target)} has no values: every row is empty, so "
            f"there is nothing to learn."
        )


def prepare_target(values: pl.Series, target: str) -> tuple[TaskType, pl.Series]:
    """Decides the task (rule in `tasks.training.rules`) and checks the rows suffice for it."""
    rows = values.len()
    if rows < MIN_ROWS:
        raise UntrainableDatasetError(
            f"Training needs at least {MIN_ROWS} rows with a value in {quoted_name(target)} "
            f"(to hold some out for testing and cross-validate the rest); this dataset has "
            f"{rows}."
        )
    distinct = values.n_unique()
    if distinct < 2:
        raise UntrainableDatasetError(
            f"The target {quoted_name(target)} has a single value "
            f"({excerpt(repr(values[0]), NAME_MAX_CHARS)}) in every "
            f"row, so there is nothing to predict. A target needs at least two classes or values."
        )
    task_type = infer_task_type(values)
    if task_type == "regression":
        return task_type, values.cast(pl.Float64)
    if values.dtype == pl.Boolean:
        labels = values
    elif values.dtype.is_numeric():
        labels = values.cast(pl.Float64).cast(pl.Int64)
    else:
        labels = values.cast(pl.String)
    return task_type, _checked_classes(labels, target)


def infer_task_type(values: pl.Series) -> TaskType:
    """The task a target's non-missing values call for: classification for text, categorical
    or boolean values, or for whole numbers with at most `MAX_INTEGER_CLASSES` distinct values
    and at least two rows per distinct value on average; regression for other numbers."""
    dtype = values.dtype
    if dtype == pl.Boolean or dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "classification"
    if not dtype.is_numeric():
        raise UntrainableDatasetError(
            f"The target {values.name!r} has type {dtype}; a target must be numbers "
            f"(regression) or labels such as text or booleans (classification)."
        )
    as_float = values.cast(pl.Float64)
    whole = dtype.is_integer() or bool((as_float.round(0) == as_float).all())
    if whole and whole_numbers_are_classes(values.n_unique(), values.len()):
        return "classification"
    return "regression"


def _checked_classes(labels: pl.Series, target: str) -> pl.Series:
    counts = labels.value_counts()
    learnable = counts.filter(pl.col("count") >= 2).height
    if learnable < 2:
        raise UntrainableDatasetError(
            f"The target {quoted_name(target)} needs at least two classes with two or more rows "
            f"each (one to train on, one to test); its classes and row counts are "
            f"{dict(counts.sort('count', descending=True).head(10).rows())}."
        )
    return labels


def choose_features(
    table: pl.DataFrame, target: str
) -> tuple[list[FeatureInfo], list[DroppedColumn]]:
    """Keeps the columns a pipeline can use and says why each other one was dropped."""
    candidates = [name for name in table.columns if name != target]
    # Column by column, not one select of every aggregate: such a plan grows with the square
    # of the width (minutes for 20,000 columns).
    null_counts = table.null_count().row(0, named=True)
    schema = table.schema  # built anew on each access
    kept: list[FeatureInfo] = []
    dropped: list[DroppedColumn] = []
    for name in candidates:
        dtype = schema[name]
        nulls, distinct = int(null_counts[name]), int(table[name].drop_nulls().n_unique())
        decision = column_decision(_feature_kind(dtype), str(dtype), table.height - nulls, distinct)
        if isinstance(decision, str):
            dropped.append(DroppedColumn(name=name, dtype=str(dtype), reason=decision))
        else:
            kind, encoding = decision
            kept.append(
                FeatureInfo(
                    name=name,
                    dtype=str(dtype),
                    pandas_dtype="",
                    kind=kind,
                    encoding=encoding,
                    missing=nulls,
                    distinct=distinct,
                )
            )
    if not kept:
        reasons = (
            "; ".join(f"{quoted_name(d.name)}: {d.reason}" for d in dropped) or "there are none"
        )
        raise UntrainableDatasetError(
            f"No column can be used to predict {quoted_name(target)} (every column other than the "
            f"target was unusable: {reasons})."
        )
    return kept, dropped


def _feature_kind(dtype: pl.DataType) -> FeatureKind | None:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if dtype == pl.Date or isinstance(dtype, pl.Datetime):
        return "datetime"
    if dtype == pl.String or isinstance(dtype, pl.Categorical | pl.Enum):
        return "categorical"
    return None
