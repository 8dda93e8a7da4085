"""Task fixtures: local files to convert and profile (test_conversion, test_profiling), and the
profiles and metadata the plots render (test_plots)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tests.support.plot_inputs import candidate, importance, numeric_column, text_column


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """`write(content, name)`: the bytes as a local file in the test's directory (an upload as
    the conversion reads it)."""

    def write_file(content: bytes, name: str = "upload.bin") -> Path:
        path = tmp_path / name
        path.write_bytes(content)
        return path

    return write_file


@pytest.fixture
def destination(tmp_path: Path) -> Path:
    """Where a conversion writes its Parquet file; its directory does not exist yet."""
    return tmp_path / "out" / "dataset.parquet"


@pytest.fixture
def known_table(tmp_path: Path) -> Path:
    """A Parquet file of every column kind, with missing values, whose profile is known."""
    path = tmp_path / "known.parquet"
    pl.DataFrame(
        {
            "age": [30, 40, None, 50, 30],
            "score": [1.0, 2.0, 3.0, None, 4.0],
            "city": ["Oslo", "Lima", "Oslo", None, "Lima"],
            "member": [True, False, True, True, None],
            "joined": [date(2024, 1, 2), None, date(2023, 6, 1), date(2025, 3, 4), None],
            "tags": [[1], [2], None, [3], [4]],
        }
    ).write_parquet(path)
    return path


@pytest.fixture
def classification() -> tuple[dict[str, Any], dict[str, Any]]:
    """A churn profile and metadata spelled as `tasks.training.build_metadata` writes it (the
    plots' inputs)."""
    profile = {
        "row_count": 100,
        "column_count": 4,
        "columns": [
            numeric_column("tenure_months", nulls=4),
            numeric_column("monthly_charges_eur"),
            text_column("contract", {"monthly": 60, "yearly": 40}),
            text_column("churn", {"stayed": 80, "churned": 20}),
        ],
    }
    metadata = {
        "target": "churn",
        "task_type": "classification",
        "selection_metric": "f1_macro",
        "metrics": {"accuracy": 0.85, "f1_macro": 0.74, "roc_auc": None},
        "candidates": [
            candidate("logistic_regression_1", "logistic_regression", "completed", 0.71, 0.3),
            candidate("random_forest_1", "random_forest", "completed", 0.74, 1.9),
            candidate("random_forest_2", "random_forest", "skipped", None, 0.0),
        ],
        "chosen": candidate("random_forest_1", "random_forest", "completed", 0.74, 1.9),
        "evaluation": {
            "kind": "classification",
            "labels": ["churned", "stayed"],
            "confusion_matrix": [[3, 1], [2, 14]],
            "feature_importance": importance(
                "f1_macro",
                [
                    ("contract", 0.12, 0.02),
                    ("tenure_months", 0.08, 0.01),
                    ("monthly_charges_eur", -0.01, 0.01),
                ],
            ),
        },
    }
    return profile, metadata


@pytest.fixture
def regression() -> tuple[dict[str, Any], dict[str, Any]]:
    """A price profile and a regression's metadata (the plots' inputs)."""
    profile = {
        "row_count": 50,
        "column_count": 3,
        "columns": [
            numeric_column("area_m2"),
            text_column("district", {"north": 30, "south": 20}),
            numeric_column("price_eur"),
        ],
    }
    metadata = {
        "target": "price_eur",
        "task_type": "regression",
        "selection_metric": "r2",
        "metrics": {"r2": 0.81, "rmse": 10.5, "mae": 8.2},
        "candidates": [candidate("ridge_1", "ridge", "completed", 0.79, 0.1)],
        "chosen": candidate("ridge_1", "ridge", "completed", 0.79, 0.1),
        "evaluation": {
            "kind": "regression",
            "actual_vs_predicted": [[float(i), i * 1.1 - 3.0] for i in range(1, 30)],
            "feature_importance": importance(
                "r2", [("area_m2", 0.6, 0.05), ("district", 0.1, 0.02)]
            ),
        },
    }
    return profile, metadata
