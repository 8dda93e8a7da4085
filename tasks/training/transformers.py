"""The custom scikit-learn transformers a published pipeline is made of: each turns one kind of
raw pandas column (numbers, booleans, dates, text) into what the standard steps accept.

A model file names these classes by module, so they move only with a way for old files to find
them (`tasks.training.__getattr__`)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from pandas.api.types import is_numeric_dtype
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction import FeatureHasher

from tasks.training.rules import HASH_FEATURES

MISSING_TEXT = "(missing)"
DATE_PARTS = ("days_since_1970", "year", "month", "day", "weekday", "hour")
_EPOCH = pd.Timestamp("1970-01-01", tz="UTC")


class NumericColumns(TransformerMixin, BaseEstimator):  # type: ignore[misc]
    """Casts numbers (ints with nulls arrive as floats, decimals as objects) to float64 and
    infinities to NaN, which the imputer then fills: scalers and linear models refuse inf."""

    def fit(self, frame: pd.DataFrame, y: object = None) -> NumericColumns:
        self.feature_names_in_ = np.asarray(frame.columns, dtype=object)
        return self

    def transform(self, frame: pd.DataFrame) -> pd.DataFrame:
        # Only columns not numeric already go through `to_numeric`, one Python call each: for
        # thousands of float columns that per-column call was seconds per prediction.
        others = [n for n, dtype in frame.dtypes.items() if not is_numeric_dtype(dtype)]
        if others:
            frame = frame.copy()
            frame[others] = frame[others].apply(pd.to_numeric, errors="coerce")
        numbers = frame.astype("float64")
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


CUSTOM_TRANSFORMERS: tuple[type[Any], ...] = (
    NumericColumns,
    BooleanColumns,
    DateParts,
    TextColumns,
    HashedText,
)
