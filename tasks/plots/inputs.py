"""What the plots read: the dataset profile (untyped, read defensively: a missing or malformed
piece skips only the plots that need it) and the model's typed metadata."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tasks.training.metadata import ClassificationEvaluation, ModelMetadata, RegressionEvaluation


class PlotSkipped(Exception):
    """A plot that does not apply to this job or lacks its data; the message says which."""


@dataclass(frozen=True)
class PlotInputs:
    profile: Mapping[str, Any]
    metadata: ModelMetadata


# --- The profile ----------------------------------------------------------------------------


def profile_columns(profile: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    columns = [c for c in as_list(profile.get("columns")) if isinstance(c, Mapping)]
    if not columns:
        raise PlotSkipped("the profile lists no columns")
    return columns


def top_values(column: Mapping[str, Any]) -> list[tuple[Any, int]]:
    pairs = []
    for item in as_list(column.get("top_values")):
        count = as_int(item.get("count")) if isinstance(item, Mapping) else None
        if count is not None:
            pairs.append((item.get("value"), count))
    return pairs


def range_of(column: Mapping[str, Any]) -> tuple[float, float] | None:
    low, high = number(column.get("min")), number(column.get("max"))
    return (low, high) if low is not None and high is not None and low <= high else None


# --- The metadata ---------------------------------------------------------------------------


def confusion(metadata: ModelMetadata) -> tuple[list[Any], list[list[int]]]:
    """The held-out labels and confusion matrix, checked to be square over the labels."""
    evaluation = metadata.evaluation
    if not isinstance(evaluation, ClassificationEvaluation):
        raise PlotSkipped("the evaluation has no confusion matrix matching its labels")
    labels = list(evaluation.labels)
    rows = evaluation.confusion_matrix
    if not labels or len(rows) != len(labels):
        raise PlotSkipped("the evaluation has no confusion matrix matching its labels")
    matrix = [[_count_cell(cell) for cell in row] for row in rows]
    if any(len(row) != len(labels) for row in matrix):
        raise PlotSkipped("the confusion matrix is not square")
    return labels, matrix


def pairs(metadata: ModelMetadata) -> list[tuple[float, float]]:
    """Held-out (actual, predicted) pairs of a regression, none for a classification."""
    evaluation = metadata.evaluation
    if not isinstance(evaluation, RegressionEvaluation):
        return []
    return [
        (actual, predicted)
        for actual, predicted in evaluation.actual_vs_predicted
        if math.isfinite(actual) and math.isfinite(predicted)
    ]


def importances(metadata: ModelMetadata) -> list[tuple[str, float, float]]:
    """(name, mean, std) by decreasing importance; a column with no mean is left out."""
    features = []
    for item in metadata.evaluation.feature_importance.features:
        mean = number(item.importance_mean)
        if mean is not None:
            features.append((item.name, mean, number(item.importance_std) or 0.0))
    return sorted(features, key=lambda f: -f[1])


def importance_order(metadata: ModelMetadata) -> list[str]:
    return [name for name, _, _ in importances(metadata)]


def by_importance(
    columns: list[Mapping[str, Any]], order: Sequence[str]
) -> list[Mapping[str, Any]]:
    """Columns the model ranked first, in its order, then the rest in profile order."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(columns, key=lambda c: rank.get(str(c.get("name")), len(rank)))


# --- Values ---------------------------------------------------------------------------------


def as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def number(value: object) -> float | None:
    """A finite float, or None for anything else (booleans, text, NaN, null)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    result = float(value)
    return result if math.isfinite(result) else None


def as_int(value: object) -> int | None:
    result = number(value)
    return int(result) if result is not None else None


def _count_cell(value: object) -> int:
    count = as_int(value)
    if count is None or count < 0:
        raise ValueError(f"confusion matrix cell {value!r} is not a count")
    return count
