"""Judges the refitted model on the held-out split: its metrics, the confusion matrix or a
sample of (actual, predicted) pairs, and the permutation importance of the raw columns on at
most `IMPORTANCE_MAX_ROWS` held-out rows with as many repeats (1 to 5) as the remaining budget
affords. Each repeat predicts once per column permuted, so a file wider than
`IMPORTANCE_MAX_COLUMNS` columns has a seeded random sample of them permuted, as many as the
remaining budget affords predictions for (`IMPORTANCE_MIN_COLUMNS` to `IMPORTANCE_MAX_COLUMNS`,
noted): all 20,000, at ~0.4 s per prediction of that width, would take hours."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.inspection import permutation_importance
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.pipeline import Pipeline

from tasks.training.rules import TaskType
from tasks.training.search import Clock, Problem

IMPORTANCE_MAX_ROWS = 1_000
IMPORTANCE_MIN_ROWS = 200
IMPORTANCE_MAX_REPEATS = 5
IMPORTANCE_TOP = 20
EVALUATION_MAX_POINTS = 2_000
IMPORTANCE_MAX_COLUMNS = 100
IMPORTANCE_MIN_COLUMNS = 10


def selection_metric(task_type: TaskType) -> str:
    """The scorer the search ranks candidates by (and importance is measured in)."""
    return "f1_macro" if task_type == "classification" else "r2"


def held_out_metrics(
    task_type: TaskType,
    pipeline: Pipeline,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    predicted: npt.NDArray[Any],
) -> dict[str, float | None]:
    """Held-out metrics; `roc_auc` only for two classes both present in the held-out rows."""
    if task_type == "regression":
        return {
            "r2": float(r2_score(y_test, predicted)),
            "rmse": float(math.sqrt(mean_squared_error(y_test, predicted))),
            "mae": float(mean_absolute_error(y_test, predicted)),
        }
    metrics: dict[str, float | None] = {
        "accuracy": float(accuracy_score(y_test, predicted)),
        "f1_macro": float(f1_score(y_test, predicted, average="macro", zero_division=0)),
    }
    classes = list(pipeline.classes_)
    if len(classes) == 2:
        present = y_test.nunique() == 2
        positive = pipeline.predict_proba(x_test)[:, 1]
        metrics["roc_auc"] = (
            float(roc_auc_score(y_test == classes[1], positive)) if present else None
        )
    return metrics


def evaluation_block(
    problem: Problem,
    pipeline: Pipeline,
    held_out: tuple[pd.DataFrame, pd.Series, npt.NDArray[Any]],
    clock: Clock,
    notes: list[str],
) -> dict[str, Any]:
    """The `evaluation` of the metadata, as plain Python values."""
    x_test, y_test, predicted = held_out
    block: dict[str, Any]
    if problem.task_type == "classification":
        labels = sorted(set(pipeline.classes_.tolist()) | set(y_test.tolist()))
        matrix = confusion_matrix(y_test, predicted, labels=labels)
        block = {
            "kind": "classification",
            "labels": labels,
            "confusion_matrix": matrix.tolist(),
        }
    else:
        rng = np.random.default_rng(problem.seed)
        count = min(EVALUATION_MAX_POINTS, len(y_test))
        picked = np.sort(rng.choice(len(y_test), size=count, replace=False))
        block = {
            "kind": "regression",
            "actual_vs_predicted": [
                [float(a), float(p)]
                for a, p in zip(y_test.to_numpy()[picked], predicted[picked], strict=True)
            ],
        }
    block["feature_importance"] = _importance(problem, pipeline, x_test, y_test, clock, notes)
    return block


def _importance(
    problem: Problem,
    pipeline: Pipeline,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    clock: Clock,
    notes: list[str],
) -> dict[str, Any]:
    """Permutation importance of raw columns on held-out rows, sized to the remaining budget:
    each repeat costs one prediction per feature."""
    rows = min(IMPORTANCE_MAX_ROWS, len(x_test))
    rng = np.random.default_rng(problem.seed)
    picked = np.sort(rng.choice(len(x_test), size=rows, replace=False))
    x_sample, y_sample = x_test.iloc[picked], y_test.iloc[picked]
    started = time.monotonic()
    pipeline.predict(x_sample)
    predict_seconds = time.monotonic() - started
    remaining = max(clock.remaining(), 0.0)
    permuted = _permuted_columns(
        list(x_sample.columns), int(remaining // max(predict_seconds, 1e-9)), problem.seed, notes
    )
    per_repeat = predict_seconds * len(permuted)
    repeats = int(min(IMPORTANCE_MAX_REPEATS, max(1, remaining // max(per_repeat, 1e-9))))
    if per_repeat > remaining and rows > IMPORTANCE_MIN_ROWS:
        rows = max(IMPORTANCE_MIN_ROWS, int(rows * remaining / per_repeat))
        x_sample, y_sample = x_sample.iloc[:rows], y_sample.iloc[:rows]
        notes.append(
            f"Feature importance used {rows:,} held-out rows and one repeat to stay within "
            f"the time budget."
        )
    scoring = selection_metric(problem.task_type)
    wide = len(permuted) < x_sample.shape[1]
    outcome = permutation_importance(
        _OtherColumnsFixed(pipeline, x_sample) if wide else pipeline,
        x_sample[permuted] if wide else x_sample,
        y_sample,
        scoring=scoring,
        n_repeats=repeats,
        random_state=problem.seed,
        n_jobs=1,
    )
    ranked = sorted(
        zip(permuted, outcome.importances_mean, outcome.importances_std, strict=True),
        key=lambda item: -float(item[1]),
    )
    return {
        "method": "permutation",
        "scoring": scoring,
        "n_repeats": repeats,
        "rows": rows,
        "features": [
            {"name": str(name), "importance_mean": float(mean), "importance_std": float(std)}
            for name, mean, std in ranked[:IMPORTANCE_TOP]
        ],
    }


def _permuted_columns(
    columns: list[str], affordable: int, seed: int, notes: list[str]
) -> list[str]:
    """All columns up to `IMPORTANCE_MAX_COLUMNS`; past it, a seeded random sample in frame
    order of as many as the remaining budget affords predictions for (`affordable`), at most
    `IMPORTANCE_MAX_COLUMNS` and at least `IMPORTANCE_MIN_COLUMNS`."""
    if len(columns) <= IMPORTANCE_MAX_COLUMNS:
        return columns
    count = min(IMPORTANCE_MAX_COLUMNS, max(IMPORTANCE_MIN_COLUMNS, affordable))
    picked = np.sort(np.random.default_rng(seed + 2).choice(len(columns), count, replace=False))
    notes.append(
        f"Feature importance was measured on a random {count} of the {len(columns):,} feature "
        f"columns: one prediction per column and repeat would not fit the time budget."
    )
    return [columns[i] for i in picked]


class _OtherColumnsFixed:
    """The pipeline seen through some of its columns: `permutation_importance` permutes only
    the columns it is given, the others keep their held-out values."""

    def __init__(self, pipeline: Pipeline, frame: pd.DataFrame) -> None:
        self.pipeline = pipeline
        self.frame = frame
        self.classes_ = getattr(pipeline, "classes_", None)

    def __sklearn_tags__(self) -> Any:
        """The pipeline's: a scorer asks whether it is a classifier or a regressor."""
        return self.pipeline.__sklearn_tags__()

    def fit(self, x: pd.DataFrame, y: pd.Series) -> _OtherColumnsFixed:
        return self

    def _whole(self, x: pd.DataFrame) -> pd.DataFrame:
        whole = self.frame.copy()
        for name in x.columns:
            whole[name] = x[name].to_numpy()
        return whole

    def predict(self, x: pd.DataFrame) -> npt.NDArray[Any]:
        return np.asarray(self.pipeline.predict(self._whole(x)))

    def predict_proba(self, x: pd.DataFrame) -> npt.NDArray[Any]:
        return np.asarray(self.pipeline.predict_proba(self._whole(x)))
