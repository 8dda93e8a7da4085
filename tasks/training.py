"""Trains a model on one dataset version file: a small, time-boxed AutoML search over scikit-learn.

The published model is ONE `sklearn.pipeline.Pipeline` that takes the raw feature columns as a
pandas DataFrame exactly as `read_dataset_frame` returns them (polars `read_parquet` then
`to_pandas`: strings, dates, booleans with missing values, integers with nulls as floats) and
does all of its own preprocessing, so whoever loads `model.joblib` needs no other code than
this module (the custom transformers below live here so joblib finds them in a fresh process).
Extra columns in the frame (the target, dropped columns) are ignored at prediction time.

Rules, each chosen so a run is predictable and cheap to explain:

- Task: the target is a classification target when it is text, categorical or boolean, or
  integer-valued (integer dtype, or floats that are all whole numbers) with at most
  `MAX_INTEGER_CLASSES` distinct values and at most half as many distinct values as rows (a
  class needs on average two examples to be learned); any other numeric target is
  regression. Other target types (dates, lists) are refused. Rows with a missing target are left
  out (noted).
- Rows: at least `MIN_ROWS` rows with a target value (an 80/20 split then leaves 4 held-out rows
  and 3-fold cross-validation still trains on about 10); classification also needs two
  classes with at least two rows each, so both sides of the split can hold them.
- Split: `TEST_FRACTION` held out with the seed, stratified for classification (classes with a
  single row are stratified with the most frequent class, so they always land somewhere).
- Columns: numbers are imputed (median, with missing indicators) and scaled; booleans become
  0/1 (most frequent value imputed, with an indicator); dates and datetimes become six numbers
  (days since 1970, year, month, day, weekday, hour; all in UTC) then as numbers; text and
  categorical columns are one-hot encoded with at most `ONE_HOT_MAX_CATEGORIES` columns each
  (rarer values share one column, unseen values encode as zeros). A text column with more
  than `ONE_HOT_MAX_CATEGORIES` distinct values of which at least `ID_LIKE_UNIQUE_RATIO` of its
  non-missing values are distinct is id-like (names, ids, free text) and dropped: one value per
  row carries no pattern that generalises. A text column with more than `ONE_HOT_MAX_DISTINCT`
  distinct values that is not id-like (post codes, product codes) is hashed into
  `HASH_FEATURES` columns, so neither the pipeline's width nor the model file grows with its
  vocabulary. Columns with no value or a single value, and unsupported types (time of day,
  durations, lists, structs, binary), are dropped. Every drop is recorded with its reason.
- Search: linear (logistic regression / ridge), histogram gradient boosting and random forest,
  three candidates each, tried cheapest-first and interleaved so every family is tried early.
  Each candidate is scored by `CV_FOLDS`-fold cross-validation on the training split:
  F1-macro for classification (fair to minority classes and defined for any number of
  classes, unlike ROC-AUC), R² for regression (scale-free). Highest mean wins; a tie keeps the
  cheaper candidate.
- Budget: the clock covers everything from reading the file. The search gets `SEARCH_SHARE` of
  the budget and runs on at most `SEARCH_ROWS_PER_SECOND` x budget training rows (at least
  `MIN_SEARCH_ROWS`). No candidate is started once the search share is spent, or when its
  family's (or failing that, the fastest) earlier candidate says it would overrun; a
  candidate is abandoned between folds when its first folds say it would. The first candidate
  always completes, so a run always has a model. The best candidate is refitted on all
  training rows when its measured cost fits what is left of the budget, otherwise on as many
  rows as fit. Every such fallback is written in `notes`. The budget bounds how much work is
  started, not a hard deadline: the overrun is at most one fold of one candidate, the refit
  (estimated linearly from the fold fits) and the evaluation.
- Evaluation: metrics on the whole held-out split; permutation importance of the raw feature
  columns on at most `IMPORTANCE_MAX_ROWS` held-out rows with as many repeats (1 to 5) as the
  remaining budget affords.
"""

from __future__ import annotations

import math
import os
import platform
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import joblib
import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pyarrow as pa
import sklearn
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction import FeatureHasher
from sklearn.impute import SimpleImputer
from sklearn.inspection import permutation_importance
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)
from sklearn.model_selection import KFold, StratifiedKFold, train_test_split
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from core.errors import ContentRejectedError, InvalidInputError
from tasks.conversion import file_sha256

TaskType = Literal["classification", "regression"]
FeatureKind = Literal["numeric", "boolean", "datetime", "categorical"]
Encoding = Literal["scaled", "binary", "date_parts", "one_hot", "hashed"]

MIN_ROWS = 20
TEST_FRACTION = 0.2
CV_FOLDS = 3
MAX_INTEGER_CLASSES = 20
ONE_HOT_MAX_CATEGORIES = 20
ONE_HOT_MAX_DISTINCT = 1_000
ID_LIKE_UNIQUE_RATIO = 0.9
HASH_FEATURES = 32
SEARCH_SHARE = 0.6
SEARCH_ROWS_PER_SECOND = 500
MIN_SEARCH_ROWS = 1_000
MAX_SEARCH_ROWS = 100_000
# Bounds each forest's trees whatever the row count: 100 trees stay in the tens of MB.
FOREST_MAX_LEAF_NODES = 4_096
IMPORTANCE_MAX_ROWS = 1_000
IMPORTANCE_MIN_ROWS = 200
IMPORTANCE_MAX_REPEATS = 5
IMPORTANCE_TOP = 20
EVALUATION_MAX_POINTS = 2_000
MISSING_TEXT = "(missing)"


class TrainingInputError(InvalidInputError):
    """The request cannot be trained as asked (the target is not a column, a bad budget)."""

    code = "invalid_training_input"


class UntrainableDatasetError(ContentRejectedError):
    """The dataset's content cannot give a model (too few rows, one class, no usable feature)."""

    code = "untrainable_dataset"


# --- Transformers the published pipeline is made of (importable for joblib) ---------------


class NumericColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Casts numbers (ints with nulls arrive as floats, decimals as objects) to float64 and
    infinities to NaN, which the imputer then fills: scalers and linear models refuse inf."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> NumericColumns:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        numbers = frame.apply(pd.to_numeric, errors="coerce").astype("float64")
        return numbers.replace([np.inf, -np.inf], np.nan)

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        return np.asarray(self.feature_names_in_, dtype=object)


class BooleanColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Maps True/False to 1/0 and anything else (None, NaN, pd.NA) to NaN: a boolean column
    with missing values reaches pandas as objects, which no scikit-learn step accepts."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> BooleanColumns:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        return frame.apply(lambda column: column.map({True: 1.0, False: 0.0})).astype("float64")

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        return np.asarray(self.feature_names_in_, dtype=object)


DATE_PARTS = ("days_since_1970", "year", "month", "day", "weekday", "hour")
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


class DateParts(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Turns each date or datetime column into numbers a model can split or weigh: days since
    1970 (trend), year, month, day, weekday and hour (seasonality), all in UTC (naive values
    are taken as UTC). Missing or unparseable values become NaN for the imputer."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> DateParts:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        parts: dict[str, pd.Series] = {}
        for name in frame.columns:
            moments = pd.to_datetime(frame[name], errors="coerce", utc=True)
            parts[f"{name}__days_since_1970"] = (moments - _EPOCH) / pd.Timedelta(days=1)
            parts[f"{name}__year"] = moments.dt.year
            parts[f"{name}__month"] = moments.dt.month
            parts[f"{name}__day"] = moments.dt.day
            parts[f"{name}__weekday"] = moments.dt.dayofweek
            parts[f"{name}__hour"] = moments.dt.hour
        return pd.DataFrame(parts, index=frame.index).astype("float64")

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        names = [f"{name}__{part}" for name in self.feature_names_in_ for part in DATE_PARTS]
        return np.asarray(names, dtype=object)


class TextColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Gives text and categorical columns one representation (objects, NaN for missing), so
    the imputer and encoders see the same thing whether pandas made them `str`, `object` or
    `category`."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> TextColumns:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        as_objects = frame.astype(object)
        return as_objects.where(frame.notna(), np.nan)

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        return np.asarray(self.feature_names_in_, dtype=object)


class HashedText(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Hashes `column=value` tokens (missing values as one token) into a fixed number of
    columns: a vocabulary too large to one-hot costs neither width nor model size, at the
    price of collisions."""

    def __init__(self, n_features: int = HASH_FEATURES) -> None:
        self.n_features = n_features

    def fit(self, frame: pd.DataFrame, y: object = None) -> HashedText:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame | npt.NDArray[Any]) -> npt.NDArray[np.float64]:
        values = np.asarray(frame, dtype=object)
        values = np.where(pd.isna(values), MISSING_TEXT, values)
        names = [str(name) for name in self.feature_names_in_]
        # A generator, not a numpy string array: long texts would be padded to the longest.
        tokens = ([f"{n}={v}" for n, v in zip(names, row, strict=True)] for row in values)
        hasher = FeatureHasher(n_features=self.n_features, input_type="string")
        hashed: npt.NDArray[np.float64] = hasher.transform(tokens).toarray()
        return hashed

    def get_feature_names_out(self, input_features: object = None) -> npt.NDArray[np.object_]:
        return np.asarray([f"hashed_text_{i}" for i in range(self.n_features)], dtype=object)


# --- What a run returns ---------------------------------------------------------------------


@dataclass(frozen=True)
class FeatureInfo:
    """A raw feature column the model uses, as seen in the file and in the pandas frame."""

    name: str
    dtype: str
    pandas_dtype: str
    kind: FeatureKind
    encoding: Encoding
    missing: int
    distinct: int


@dataclass(frozen=True)
class DroppedColumn:
    name: str
    dtype: str
    reason: str


@dataclass(frozen=True)
class CandidateResult:
    """One pipeline tried: its CV scores and the seconds its fits took (summed over folds).

    `status` is `completed`, `skipped` (budget spent before it started), `stopped` (abandoned
    between folds for the budget) or `failed` (an error, in `error`)."""

    name: str
    family: str
    params: dict[str, Any]
    status: Literal["completed", "skipped", "stopped", "failed"]
    cv_score: float | None = None
    cv_fold_scores: list[float] = field(default_factory=list)
    fit_seconds: float = 0.0
    error: str | None = None


@dataclass(frozen=True)
class RowCounts:
    file: int
    missing_target: int
    train: int
    test: int
    search: int
    final_fit: int


@dataclass
class TrainingResult:
    """Everything a run found: the fitted pipeline and what `build_metadata` publishes.

    `test_row_indices` are row positions in the file (0-based) of the held-out split, so the
    metrics can be reproduced from the file alone; they are not published in the metadata."""

    pipeline: Pipeline
    task_type: TaskType
    target: str
    selection_metric: str
    metrics: dict[str, float | None]
    candidates: list[CandidateResult]
    chosen: CandidateResult
    features: list[FeatureInfo]
    dropped_columns: list[DroppedColumn]
    rows: RowCounts
    seed: int
    time_budget_seconds: float
    training_seconds: float
    evaluation: dict[str, Any]
    notes: list[str]
    test_row_indices: npt.NDArray[np.int64]


# --- Public API -----------------------------------------------------------------------------


def read_dataset_frame(path: Path) -> pd.DataFrame:
    """The raw frame a published model predicts on: the Parquet file read by polars, as pandas."""
    return pl.read_parquet(path).to_pandas()


def train_from_parquet(
    path: Path, target: str, *, time_budget_seconds: float = 60.0, seed: int = 0
) -> TrainingResult:
    """Infers the task, searches a few pipelines within the budget, refits the best and
    evaluates it on a held-out split. Bad input raises `TrainingInputError` or
    `UntrainableDatasetError` with a message meant for the person who uploaded the data."""
    if not math.isfinite(time_budget_seconds) or time_budget_seconds <= 0:
        raise TrainingInputError(
            f"The time budget must be a positive number of seconds, not {time_budget_seconds}."
        )
    clock = _Clock(time.monotonic(), time_budget_seconds)
    table = pl.read_parquet(path)
    if target in table.columns and table.schema[target].is_float():
        # NaN and infinities are no value to learn from either: count them as missing.
        finite = pl.when(pl.col(target).is_finite()).then(pl.col(target))
        table = table.with_columns(finite.alias(target))
    _check_target_column(table, target)
    labelled = table.with_row_index("__row__").filter(pl.col(target).is_not_null())
    notes: list[str] = []
    missing_target = table.height - labelled.height
    if missing_target:
        notes.append(f"{missing_target:,} rows with no value in {target!r} were left out.")
    task_type, y_series = _prepare_target(labelled[target], target)
    features, dropped = _choose_features(labelled.drop("__row__"), target)
    frame = labelled.select(["__row__", *[f.name for f in features]]).to_pandas()
    frame = frame.set_index("__row__", drop=True)
    frame.index.name = None
    features = [
        FeatureInfo(**{**asdict(f), "pandas_dtype": str(frame[f.name].dtype)}) for f in features
    ]
    y = pd.Series(y_series.to_numpy(), index=frame.index, name=target)
    return _search_and_fit(
        _Problem(frame, y, task_type, target, features, dropped, seed, table.height),
        clock,
        notes,
    )


def save_model(pipeline: Pipeline, path: Path) -> tuple[str, int]:
    """Writes the pipeline with joblib (zlib level 3: forests shrink several-fold) and returns
    the file's SHA-256 and size. The file appears complete or not at all."""
    partial = path.with_name(f".{path.name}.partial")
    try:
        joblib.dump(pipeline, partial, compress=("zlib", 3))
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return file_sha256(path), path.stat().st_size


def build_metadata(
    result: TrainingResult,
    *,
    dataset_id: str,
    version_id: str,
    dataset_sha256: str,
    model_sha256: str,
    model_size_bytes: int,
    flow_run_id: str | None,
    created_at: datetime | None = None,
) -> dict[str, Any]:
    """The JSON-serialisable content of `metadata.json` published beside `model.joblib`."""
    moment = created_at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return {
        "schema_version": 1,
        "framework": "scikit-learn",
        "model_format": "joblib",
        "model_class": f"{type(result.pipeline).__module__}.{type(result.pipeline).__name__}",
        "custom_code_module": __name__,
        "library_versions": library_versions(),
        "python_version": platform.python_version(),
        "created_at": moment.astimezone(UTC).isoformat(),
        "flow_run_id": flow_run_id,
        "dataset": {"dataset_id": dataset_id, "version_id": version_id, "sha256": dataset_sha256},
        "model_file": {"sha256": model_sha256, "size_bytes": model_size_bytes},
        "target": result.target,
        "task_type": result.task_type,
        "selection_metric": result.selection_metric,
        "metrics": _json_safe(result.metrics),
        "features": [asdict(f) for f in result.features],
        "dropped_columns": [asdict(d) for d in result.dropped_columns],
        "candidates": [_json_safe(asdict(c)) for c in result.candidates],
        "chosen": _json_safe(asdict(result.chosen)),
        "rows": asdict(result.rows),
        "seed": result.seed,
        "time_budget_seconds": result.time_budget_seconds,
        "training_seconds": round(result.training_seconds, 3),
        "evaluation": _json_safe(result.evaluation),
        "notes": list(result.notes),
    }


def library_versions() -> dict[str, str]:
    return {
        "scikit-learn": sklearn.__version__,
        "pandas": pd.__version__,
        "polars": pl.__version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "joblib": joblib.__version__,
        "python": sys.version.split()[0],
    }


# --- Target and columns ---------------------------------------------------------------------


def _check_target_column(table: pl.DataFrame, target: str) -> None:
    if target not in table.columns:
        shown = ", ".join(repr(c) for c in table.columns[:20])
        more = f" and {len(table.columns) - 20} more" if len(table.columns) > 20 else ""
        raise TrainingInputError(
            f"The target {target!r} is not a column of this dataset. Its columns are: "
            f"{shown}{more}."
        )
    if table.height == 0 or table[target].null_count() == table.height:
        raise UntrainableDatasetError(
            f"The target column {target!r} has no values: every row is empty, so there is "
            f"nothing to learn."
        )


def _prepare_target(values: pl.Series, target: str) -> tuple[TaskType, pl.Series]:
    """Decides the task (rule in the module docstring) and checks the rows suffice for it."""
    rows = values.len()
    if rows < MIN_ROWS:
        raise UntrainableDatasetError(
            f"Training needs at least {MIN_ROWS} rows with a value in {target!r} (to hold "
            f"some out for testing and cross-validate the rest); this dataset has {rows}."
        )
    distinct = values.n_unique()
    if distinct < 2:
        raise UntrainableDatasetError(
            f"The target {target!r} has a single value ({values[0]!r}) in every row, so there "
            f"is nothing to predict. A target needs at least two classes or values."
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
    distinct = values.n_unique()
    if whole and distinct <= MAX_INTEGER_CLASSES and 2 * distinct <= values.len():
        return "classification"
    return "regression"


def _checked_classes(labels: pl.Series, target: str) -> pl.Series:
    counts = labels.value_counts()
    learnable = counts.filter(pl.col("count") >= 2).height
    if learnable < 2:
        raise UntrainableDatasetError(
            f"The target {target!r} needs at least two classes with two or more rows each "
            f"(one to train on, one to test); its classes and row counts are "
            f"{dict(counts.sort('count', descending=True).head(10).rows())}."
        )
    return labels


def _choose_features(table: pl.DataFrame, target: str) -> tuple[list[FeatureInfo], list[Any]]:
    """Keeps the columns a pipeline can use and says why each other one was dropped."""
    candidates = [name for name in table.columns if name != target]
    stats = table.select(
        [pl.col(n).null_count().alias(f"{n}\0nulls") for n in candidates]
        + [pl.col(n).drop_nulls().n_unique().alias(f"{n}\0distinct") for n in candidates]
    ).row(0, named=True)
    kept: list[FeatureInfo] = []
    dropped: list[DroppedColumn] = []
    for name in candidates:
        dtype = table.schema[name]
        nulls, distinct = int(stats[f"{name}\0nulls"]), int(stats[f"{name}\0distinct"])
        decision = _column_decision(dtype, table.height - nulls, distinct)
        if isinstance(decision, str):
            dropped.append(DroppedColumn(name, str(dtype), decision))
        else:
            kind, encoding = decision
            kept.append(FeatureInfo(name, str(dtype), "", kind, encoding, nulls, distinct))
    if not kept:
        reasons = "; ".join(f"{d.name!r}: {d.reason}" for d in dropped) or "there are none"
        raise UntrainableDatasetError(
            f"No column can be used to predict {target!r} (every column other than the "
            f"target was unusable: {reasons})."
        )
    return kept, dropped


def _column_decision(
    dtype: pl.DataType, present: int, distinct: int
) -> tuple[FeatureKind, Encoding] | str:
    """(kind, encoding) for a usable column, else the reason it is dropped."""
    kind = _feature_kind(dtype)
    if kind is None:
        return f"type {dtype} is not supported as a feature"
    if present == 0:
        return "every value is missing"
    if distinct == 1:
        return "a single value in every row: it carries no information"
    if kind != "categorical":
        encodings: dict[FeatureKind, Encoding] = {
            "numeric": "scaled",
            "boolean": "binary",
            "datetime": "date_parts",
        }
        return kind, encodings[kind]
    if distinct > ONE_HOT_MAX_CATEGORIES and distinct >= ID_LIKE_UNIQUE_RATIO * present:
        return (
            f"id-like text: {distinct:,} distinct values in {present:,} non-missing rows "
            f"(at least {ID_LIKE_UNIQUE_RATIO:.0%} unique), which no model can generalise from"
        )
    if distinct > ONE_HOT_MAX_DISTINCT:
        return kind, "hashed"
    return kind, "one_hot"


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


# --- Pipelines ------------------------------------------------------------------------------


def build_preprocessor(features: Sequence[FeatureInfo]) -> ColumnTransformer:
    """One branch per encoding; dense output because gradient boosting refuses sparse input
    (one-hot width is capped per column, so dense stays small)."""

    def columns(encoding: Encoding) -> list[str]:
        return [f.name for f in features if f.encoding == encoding]

    def text_steps() -> list[tuple[str, Any]]:
        return [
            ("as_text", TextColumns()),
            ("impute", SimpleImputer(strategy="constant", fill_value=MISSING_TEXT)),
        ]

    branches: list[tuple[str, Pipeline, list[str]]] = [
        (
            "numeric",
            Pipeline(
                [
                    ("as_float", NumericColumns()),
                    ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                    ("scale", StandardScaler()),
                ]
            ),
            columns("scaled"),
        ),
        (
            "boolean",
            Pipeline(
                [
                    ("as_float", BooleanColumns()),
                    ("impute", SimpleImputer(strategy="most_frequent", add_indicator=True)),
                ]
            ),
            columns("binary"),
        ),
        (
            "datetime",
            Pipeline(
                [
                    ("parts", DateParts()),
                    ("impute", SimpleImputer(strategy="median", add_indicator=True)),
                    ("scale", StandardScaler()),
                ]
            ),
            columns("date_parts"),
        ),
        (
            "one_hot",
            Pipeline(
                [
                    *text_steps(),
                    (
                        "encode",
                        OneHotEncoder(
                            handle_unknown="ignore",
                            max_categories=ONE_HOT_MAX_CATEGORIES,
                            sparse_output=False,
                        ),
                    ),
                ]
            ),
            columns("one_hot"),
        ),
        (
            "hashed",
            Pipeline([("as_text", TextColumns()), ("hash", HashedText())]),
            columns("hashed"),
        ),
    ]
    return ColumnTransformer(
        [branch for branch in branches if branch[2]],
        remainder="drop",
        sparse_threshold=0.0,
        verbose_feature_names_out=True,
    )


@dataclass(frozen=True)
class _Candidate:
    name: str
    family: str
    params: dict[str, Any]
    make: Callable[[], BaseEstimator]


def candidates_for(task_type: TaskType, seed: int) -> list[_Candidate]:
    """Three settings per family, interleaved cheapest family first, so a short budget still
    tries every family once."""
    classify = task_type == "classification"
    linear_family = "logistic_regression" if classify else "ridge"
    linear: list[dict[str, Any]] = (
        [{"C": 1.0}, {"C": 0.1}, {"C": 10.0}]
        if classify
        else [{"alpha": 1.0}, {"alpha": 10.0}, {"alpha": 0.1}]
    )
    boosting: list[dict[str, Any]] = [
        {"learning_rate": 0.1, "max_leaf_nodes": 31, "max_iter": 200},
        {"learning_rate": 0.05, "max_leaf_nodes": 15, "max_iter": 300, "l2_regularization": 1.0},
        {"learning_rate": 0.1, "max_leaf_nodes": 63, "max_iter": 200, "min_samples_leaf": 40},
    ]
    forest: list[dict[str, Any]] = [
        {"n_estimators": 100, "min_samples_leaf": 1, "max_features": "sqrt"},
        {"n_estimators": 100, "min_samples_leaf": 5, "max_features": 0.5},
        {"n_estimators": 200, "min_samples_leaf": 2, "max_features": "sqrt"},
    ]

    def linear_model(params: dict[str, Any]) -> BaseEstimator:
        if classify:
            return LogisticRegression(max_iter=1_000, random_state=seed, **params)
        return Ridge(**params)

    def boosting_model(params: dict[str, Any]) -> BaseEstimator:
        model = HistGradientBoostingClassifier if classify else HistGradientBoostingRegressor
        return model(random_state=seed, **params)

    def forest_model(params: dict[str, Any]) -> BaseEstimator:
        model = RandomForestClassifier if classify else RandomForestRegressor
        return model(random_state=seed, n_jobs=1, max_leaf_nodes=FOREST_MAX_LEAF_NODES, **params)

    families: list[tuple[str, list[dict[str, Any]], Callable[[dict[str, Any]], BaseEstimator]]]
    families = [
        (linear_family, linear, linear_model),
        ("hist_gradient_boosting", boosting, boosting_model),
        ("random_forest", forest, forest_model),
    ]
    ordered: list[_Candidate] = []
    for round_number in range(3):
        for family, settings, make in families:
            params = settings[round_number]
            ordered.append(
                _Candidate(
                    f"{family}_{round_number + 1}",
                    family,
                    params,
                    partial(make, params),
                )
            )
    return ordered


def _pipeline(features: Sequence[FeatureInfo], candidate: _Candidate) -> Pipeline:
    return Pipeline([("preprocess", build_preprocessor(features)), ("model", candidate.make())])


# --- Search, refit, evaluation --------------------------------------------------------------


@dataclass(frozen=True)
class _Clock:
    start: float
    budget: float

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.budget - self.elapsed()

    def search_remaining(self) -> float:
        return SEARCH_SHARE * self.budget - self.elapsed()


@dataclass(frozen=True)
class _Problem:
    frame: pd.DataFrame
    y: pd.Series
    task_type: TaskType
    target: str
    features: list[FeatureInfo]
    dropped: list[DroppedColumn]
    seed: int
    file_rows: int


def _search_and_fit(problem: _Problem, clock: _Clock, notes: list[str]) -> TrainingResult:
    classify = problem.task_type == "classification"
    x_train, x_test, y_train, y_test = train_test_split(
        problem.frame,
        problem.y,
        test_size=TEST_FRACTION,
        random_state=problem.seed,
        stratify=_strata(problem.y) if classify else None,
    )
    search_x, search_y = _search_sample(x_train, y_train, clock, problem.seed, notes)
    with _quiet_fitting():
        tried = _run_search(problem, search_x, search_y, clock, notes)
        chosen = max(
            (c for c in tried if c.status == "completed"),
            key=lambda c: c.cv_score if c.cv_score is not None else -math.inf,
        )
        candidate = next(
            c for c in candidates_for(problem.task_type, problem.seed) if c.name == chosen.name
        )
        pipeline, final_rows = _refit(
            problem, candidate, chosen, (x_train, y_train), len(search_x), clock, notes
        )
        predicted = pipeline.predict(x_test)
        metrics = _metrics(problem.task_type, pipeline, x_test, y_test, predicted)
        evaluation = _evaluation(problem, pipeline, (x_test, y_test, predicted), clock, notes)
    return TrainingResult(
        pipeline=pipeline,
        task_type=problem.task_type,
        target=problem.target,
        selection_metric=_selection_metric(problem.task_type),
        metrics=metrics,
        candidates=tried,
        chosen=chosen,
        features=problem.features,
        dropped_columns=problem.dropped,
        rows=RowCounts(
            file=problem.file_rows,
            missing_target=problem.file_rows - len(problem.frame),
            train=len(x_train),
            test=len(x_test),
            search=len(search_x),
            final_fit=final_rows,
        ),
        seed=problem.seed,
        time_budget_seconds=clock.budget,
        training_seconds=clock.elapsed(),
        evaluation=evaluation,
        notes=notes,
        test_row_indices=np.asarray(x_test.index, dtype=np.int64),
    )


def _selection_metric(task_type: TaskType) -> str:
    return "f1_macro" if task_type == "classification" else "r2"


def _strata(y: pd.Series) -> pd.Series:
    """Labels to stratify on: a class with one row joins the most frequent class's stratum,
    since `train_test_split` needs two rows per stratum."""
    counts = y.value_counts()
    lonely = counts[counts < 2].index
    return y.where(~y.isin(lonely), counts.index[0]) if len(lonely) else y


def _search_sample(
    x: pd.DataFrame, y: pd.Series, clock: _Clock, seed: int, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    cap = int(min(MAX_SEARCH_ROWS, max(MIN_SEARCH_ROWS, SEARCH_ROWS_PER_SECOND * clock.budget)))
    if len(x) <= cap:
        return x, y
    notes.append(
        f"The search ran on a random {cap:,} of the {len(x):,} training rows to fit the "
        f"{clock.budget:g} s budget."
    )
    picked = np.random.default_rng(seed).choice(len(x), size=cap, replace=False)
    picked.sort()
    return x.iloc[picked], y.iloc[picked]


def _folds(task_type: TaskType, y: pd.Series, seed: int) -> Iterator[tuple[Any, Any]]:
    splitter: KFold | StratifiedKFold
    if task_type == "classification" and y.value_counts().iloc[-1] >= CV_FOLDS:
        splitter = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed)
    else:
        splitter = KFold(CV_FOLDS, shuffle=True, random_state=seed)
    return iter(splitter.split(np.zeros(len(y)), y))


def _run_search(
    problem: _Problem, x: pd.DataFrame, y: pd.Series, clock: _Clock, notes: list[str]
) -> list[CandidateResult]:
    """Cross-validates candidates in order until the search share of the budget is spent."""
    results: list[CandidateResult] = []
    seconds_by_family: dict[str, float] = {}
    for candidate in candidates_for(problem.task_type, problem.seed):
        completed = [r for r in results if r.status == "completed"]
        expected = seconds_by_family.get(
            candidate.family, min((r.fit_seconds for r in completed), default=0.0)
        )
        if completed and expected >= clock.search_remaining():
            results.append(
                CandidateResult(candidate.name, candidate.family, candidate.params, "skipped")
            )
            continue
        result = _cross_validate(problem, candidate, x, y, clock, may_stop=bool(completed))
        if result.status in ("completed", "stopped"):
            seconds_by_family[candidate.family] = max(
                seconds_by_family.get(candidate.family, 0.0), _full_cv_seconds(result)
            )
        results.append(result)
    if not any(r.status == "completed" for r in results):
        errors = "; ".join(f"{r.name}: {r.error}" for r in results if r.error)
        raise UntrainableDatasetError(
            f"No model could be fitted on this dataset to predict {problem.target!r} ({errors})."
        )
    skipped = [r.name for r in results if r.status in ("skipped", "stopped")]
    if skipped:
        notes.append(
            f"The time budget ran out before {len(skipped)} of {len(results)} candidates "
            f"could be cross-validated: {', '.join(skipped)}."
        )
    return results


def _full_cv_seconds(result: CandidateResult) -> float:
    """A stopped candidate's cost extrapolated to all folds."""
    folds_done = max(1, len(result.cv_fold_scores))
    return result.fit_seconds * CV_FOLDS / folds_done


def _cross_validate(
    problem: _Problem,
    candidate: _Candidate,
    x: pd.DataFrame,
    y: pd.Series,
    clock: _Clock,
    *,
    may_stop: bool,
) -> CandidateResult:
    scores: list[float] = []
    seconds = 0.0
    for train_index, validation_index in _folds(problem.task_type, y, problem.seed):
        if may_stop and scores and seconds / len(scores) >= clock.search_remaining():
            return CandidateResult(
                candidate.name,
                candidate.family,
                candidate.params,
                "stopped",
                None,
                scores,
                round(seconds, 4),
            )
        pipeline = _pipeline(problem.features, candidate)
        started = time.monotonic()
        try:
            pipeline.fit(x.iloc[train_index], y.iloc[train_index])
        except (ValueError, MemoryError) as error:
            return CandidateResult(
                candidate.name,
                candidate.family,
                candidate.params,
                "failed",
                None,
                scores,
                round(seconds, 4),
                str(error)[:300],
            )
        seconds += time.monotonic() - started
        predicted = pipeline.predict(x.iloc[validation_index])
        scores.append(_score(problem.task_type, y.iloc[validation_index], predicted))
    return CandidateResult(
        candidate.name,
        candidate.family,
        candidate.params,
        "completed",
        float(np.mean(scores)),
        scores,
        round(seconds, 4),
    )


def _score(task_type: TaskType, actual: pd.Series, predicted: npt.NDArray[Any]) -> float:
    if task_type == "classification":
        return float(f1_score(actual, predicted, average="macro", zero_division=0))
    return float(r2_score(actual, predicted))


def _refit(
    problem: _Problem,
    candidate: _Candidate,
    chosen: CandidateResult,
    train: tuple[pd.DataFrame, pd.Series],
    search_rows: int,
    clock: _Clock,
    notes: list[str],
) -> tuple[Pipeline, int]:
    """Fits the chosen candidate on all training rows, or on as many as the budget affords
    (never fewer than the search used), estimating cost linearly from its fold fits."""
    x_train, y_train = train
    fold_rows = search_rows * (CV_FOLDS - 1) / CV_FOLDS
    seconds_per_row = chosen.fit_seconds / CV_FOLDS / max(fold_rows, 1.0)
    affordable = clock.remaining() * (1 - (1 - SEARCH_SHARE) / 2)  # keep some for evaluation
    rows = len(x_train)
    if seconds_per_row * rows > affordable:
        rows = max(min(search_rows, len(x_train)), int(affordable / max(seconds_per_row, 1e-9)))
        rows = min(rows, len(x_train))
    if rows < len(x_train):
        picked = np.sort(
            np.random.default_rng(problem.seed + 1).choice(len(x_train), rows, replace=False)
        )
        x_fit, y_fit = x_train.iloc[picked], y_train.iloc[picked]
        notes.append(
            f"The chosen model was fitted on a random {rows:,} of the {len(x_train):,} "
            f"training rows: fitting on all of them would have overrun the time budget."
        )
    else:
        x_fit, y_fit = x_train, y_train
    pipeline = _pipeline(problem.features, candidate)
    pipeline.fit(x_fit, y_fit)
    return pipeline, rows


def _metrics(
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


def _evaluation(
    problem: _Problem,
    pipeline: Pipeline,
    held_out: tuple[pd.DataFrame, pd.Series, npt.NDArray[Any]],
    clock: _Clock,
    notes: list[str],
) -> dict[str, Any]:
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
    problem: _Problem,
    pipeline: Pipeline,
    x_test: pd.DataFrame,
    y_test: pd.Series,
    clock: _Clock,
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
    per_repeat = (time.monotonic() - started) * len(problem.features)
    remaining = max(clock.remaining(), 0.0)
    repeats = int(min(IMPORTANCE_MAX_REPEATS, max(1, remaining // max(per_repeat, 1e-9))))
    if per_repeat > remaining and rows > IMPORTANCE_MIN_ROWS:
        rows = max(IMPORTANCE_MIN_ROWS, int(rows * remaining / per_repeat))
        x_sample, y_sample = x_sample.iloc[:rows], y_sample.iloc[:rows]
        notes.append(
            f"Feature importance used {rows:,} held-out rows and one repeat to stay within "
            f"the time budget."
        )
    scoring = _selection_metric(problem.task_type)
    outcome = permutation_importance(
        pipeline,
        x_sample,
        y_sample,
        scoring=scoring,
        n_repeats=repeats,
        random_state=problem.seed,
        n_jobs=1,
    )
    ranked = sorted(
        zip(x_sample.columns, outcome.importances_mean, outcome.importances_std, strict=True),
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


@contextmanager
def _quiet_fitting() -> Iterator[None]:
    """Silences warnings expected while searching: unconverged linear fits (the score says how
    good they are), unseen categories in a validation fold (encoded as zeros by design) and
    classes too rare for a small fold."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*unknown categor.*")
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        warnings.filterwarnings("ignore", message=".*number of unique classes.*")
        yield


def _json_safe(value: Any) -> Any:
    """NaN and infinities become null; numpy scalars become Python numbers."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
