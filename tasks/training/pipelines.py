"""The pipelines the search tries: one preprocessing branch per column encoding, and the
candidate models (three settings per family) to put after it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from sklearn.base import BaseEstimator
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    HistGradientBoostingClassifier,
    HistGradientBoostingRegressor,
    RandomForestClassifier,
    RandomForestRegressor,
)
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from tasks.training.metadata import FeatureInfo
from tasks.training.rules import ONE_HOT_MAX_CATEGORIES, Encoding, TaskType
from tasks.training.transformers import (
    MISSING_TEXT,
    BooleanColumns,
    DateParts,
    HashedText,
    NumericColumns,
    TextColumns,
)

# Bounds each forest's trees whatever the row count: 100 trees stay in the tens of MB.
FOREST_MAX_LEAF_NODES = 4_096
# Past this many feature columns only the linear models and the forests that split on a square
# root of the columns are tried: gradient boosting's cost grows with columns x iterations (70 s
# for one fit on 64 rows x 6,830 columns), the forest splitting on half the columns 10x slower.
WIDE_FEATURES = 1_000


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
class Candidate:
    """A model setting the search may try: `make` builds its (unfitted) estimator."""

    name: str
    family: str
    params: dict[str, Any]
    make: Callable[[], BaseEstimator]


def candidates_for(task_type: TaskType, seed: int, feature_count: int = 0) -> list[Candidate]:
    """Three settings per family, interleaved cheapest family first, so a short budget still
    tries every family once; past `WIDE_FEATURES` feature columns, only those feasible for
    that width (`feasible_when_wide`)."""
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
    ordered: list[Candidate] = []
    for round_number in range(3):
        for family, settings, make in families:
            params = settings[round_number]
            ordered.append(
                Candidate(
                    f"{family}_{round_number + 1}",
                    family,
                    params,
                    partial(make, params),
                )
            )
    if feature_count > WIDE_FEATURES:
        return [c for c in ordered if feasible_when_wide(c)]
    return ordered


def feasible_when_wide(candidate: Candidate) -> bool:
    return (
        candidate.family != "hist_gradient_boosting"
        and candidate.params.get("max_features", "sqrt") == "sqrt"
    )


def pipeline_for(features: Sequence[FeatureInfo], candidate: Candidate) -> Pipeline:
    """The whole published shape: the raw frame in, a prediction out."""
    return Pipeline([("preprocess", build_preprocessor(features)), ("model", candidate.make())])
