"""Rendering a job's plots to PNG files: which plots apply, valid images, partial inputs."""

from __future__ import annotations

import copy
import logging
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from PIL import Image

from core.keys import check_key_part, plot_key
from tasks import plots
from tasks.plots import PLOT_NAMES, render_plots
from tasks.profiling import profile_parquet
from tasks.training.metadata import ModelMetadata

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
PROFILE_PLOTS = {
    plots.COLUMN_TYPES,
    plots.NULL_COUNTS,
    plots.TARGET_DISTRIBUTION,
    plots.NUMERIC_DISTRIBUTIONS,
}
MODEL_PLOTS = {plots.FEATURE_IMPORTANCE, plots.CANDIDATE_SCORES}

# The fields of a published metadata.json that no plot reads.
NOT_PLOTTED: dict[str, Any] = {
    "schema_version": 1,
    "framework": "scikit-learn",
    "model_format": "joblib",
    "model_class": "sklearn.pipeline.Pipeline",
    "custom_code_module": "tasks.training.transformers",
    "library_versions": {"scikit-learn": "1.9.1"},
    "python_version": "3.11.9",
    "created_at": "2026-01-02T03:04:05+00:00",
    "flow_run_id": None,
    "job_id": "job-1",
    "dataset": {"dataset_id": "ds-1", "version_id": "v-1", "sha256": "0" * 64},
    "model_file": {"sha256": "0" * 64, "size_bytes": 1},
    "features": [],
    "dropped_columns": [],
    "rows": {
        "file": 100,
        "missing_target": 0,
        "train": 80,
        "test": 20,
        "search": 80,
        "final_fit": 80,
    },
    "seed": 0,
    "time_budget_seconds": 60.0,
    "training_seconds": 1.0,
    "notes": [],
}


def candidate(
    name: str, family: str, status: str, score: float | None, seconds: float
) -> dict[str, Any]:
    return {
        "name": name,
        "family": family,
        "params": {},
        "status": status,
        "cv_score": score,
        "cv_fold_scores": [] if score is None else [score] * 3,
        "fit_seconds": seconds,
        "error": None,
    }


def importance(scoring: str, features: list[tuple[str, float, float]]) -> dict[str, Any]:
    return {
        "method": "permutation",
        "scoring": scoring,
        "n_repeats": 3,
        "rows": 20,
        "features": [
            {"name": name, "importance_mean": mean, "importance_std": std}
            for name, mean, std in features
        ],
    }


def nothing_to_plot(target: str) -> dict[str, Any]:
    """A classification's metadata with no candidate and an empty evaluation."""
    return {
        "target": target,
        "task_type": "classification",
        "selection_metric": "f1_macro",
        "metrics": {},
        "candidates": [],
        "chosen": candidate("logistic_regression_1", "logistic_regression", "completed", 0.5, 0.1),
        "evaluation": {
            "kind": "classification",
            "labels": [],
            "confusion_matrix": [],
            "feature_importance": importance("f1_macro", []),
        },
    }


def render(
    profile: dict[str, Any], metadata: dict[str, Any], out_dir: Path, **options: Any
) -> dict[str, Path]:
    """`render_plots` on the metadata as `train-model` publishes it (read back typed)."""
    published = ModelMetadata.from_document(NOT_PLOTTED | metadata)
    return render_plots(profile, published, out_dir, **options)


def numeric_column(name: str, nulls: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "type": "Float64",
        "kind": "numeric",
        "null_count": nulls,
        "distinct_count": 90,
        "distinct_is_approximate": False,
        "min": 1.5,
        "max": 98.0,
        "mean": 40.2,
        "std": 12.7,
        "top_values": [],
    }


def text_column(name: str, counts: dict[str, int], nulls: int = 0) -> dict[str, Any]:
    return {
        "name": name,
        "type": "String",
        "kind": "string",
        "null_count": nulls,
        "distinct_count": len(counts),
        "distinct_is_approximate": False,
        "min": None,
        "max": None,
        "mean": None,
        "std": None,
        "top_values": [{"value": v, "count": c} for v, c in counts.items()],
    }


@pytest.fixture
def classification() -> tuple[dict[str, Any], dict[str, Any]]:
    """A churn profile and metadata spelled as `tasks.training.build_metadata` writes it."""
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
    """A price profile and a regression's metadata."""
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


def test_classification_renders_profile_and_classifier_plots(classification, tmp_path):
    written = render(classification[0], classification[1], tmp_path)
    assert set(written) == PROFILE_PLOTS | MODEL_PLOTS | {plots.CONFUSION_MATRIX}


def test_regression_renders_profile_and_regressor_plots(regression, tmp_path):
    written = render(regression[0], regression[1], tmp_path)
    assert set(written) == PROFILE_PLOTS | MODEL_PLOTS | {
        plots.PREDICTED_VS_ACTUAL,
        plots.RESIDUALS,
    }


def test_plots_are_returned_in_plot_names_order(regression, tmp_path):
    written = render(regression[0], regression[1], tmp_path)
    assert list(written) == [name for name in PLOT_NAMES if name in written]


@pytest.mark.parametrize("case", ["classification", "regression"])
def test_every_plot_is_a_readable_png_named_after_its_plot(case, request, tmp_path):
    profile, metadata = request.getfixturevalue(case)
    written = render(profile, metadata, tmp_path / "out")
    for name, path in written.items():
        assert path == tmp_path / "out" / f"{name}.png"
        assert path.read_bytes()[:8] == PNG_MAGIC
        with Image.open(path) as image:
            image.load()
            assert image.format == "PNG"
            assert image.width > 300 and image.height > 200


def test_plot_names_are_unique_safe_key_parts():
    assert len(set(PLOT_NAMES)) == len(PLOT_NAMES)
    for name in PLOT_NAMES:
        assert check_key_part(name, "plot name") == name
        assert plot_key("job-1", name) == f"plots/job-1/{name}.png"


def test_profile_without_numeric_columns_still_renders_the_rest(classification, tmp_path):
    profile, metadata = classification
    profile["columns"] = [c for c in profile["columns"] if c["kind"] != "numeric"]
    written = render(profile, metadata, tmp_path)
    expected = PROFILE_PLOTS - {plots.NUMERIC_DISTRIBUTIONS}
    assert set(written) == expected | MODEL_PLOTS | {plots.CONFUSION_MATRIX}


def test_metadata_without_held_out_pairs_still_renders_the_rest(regression, tmp_path):
    profile, metadata = regression
    metadata["evaluation"]["actual_vs_predicted"] = []
    written = render(profile, metadata, tmp_path)
    # The target falls back to the profile's range; the evaluation plots are skipped.
    assert set(written) == PROFILE_PLOTS | MODEL_PLOTS


def test_classification_with_an_empty_evaluation_keeps_profile_class_counts(
    classification, tmp_path
):
    profile, metadata = classification
    metadata["evaluation"] = nothing_to_plot("churn")["evaluation"]
    written = render(profile, metadata, tmp_path)
    assert set(written) == PROFILE_PLOTS | {plots.CANDIDATE_SCORES}


def test_integer_class_target_takes_counts_from_the_confusion_matrix(classification, tmp_path):
    profile, metadata = classification
    profile["columns"][-1] = numeric_column("churn")
    written = render(profile, metadata, tmp_path)
    assert plots.TARGET_DISTRIBUTION in written


def test_malformed_field_skips_only_its_plot_and_logs_why(classification, tmp_path, caplog):
    profile, metadata = classification
    metadata["evaluation"]["confusion_matrix"] = [[3, -1], [2, 14]]
    with caplog.at_level(logging.INFO, logger="tasks.plots"):
        written = render(profile, metadata, tmp_path)
    assert plots.CONFUSION_MATRIX not in written
    assert set(written) >= PROFILE_PLOTS | MODEL_PLOTS
    assert any(plots.CONFUSION_MATRIX in r.getMessage() for r in caplog.records)


def test_skip_reasons_go_to_the_logger_passed_in(regression, tmp_path, caplog):
    logger = logging.getLogger("test.render-plots")
    with caplog.at_level(logging.INFO, logger="test.render-plots"):
        render(regression[0], regression[1], tmp_path, logger=logger)
    reasons = [r.getMessage() for r in caplog.records if r.name == "test.render-plots"]
    assert reasons == ["plot confusion-matrix skipped: not a classification model"]


def test_empty_inputs_render_nothing_and_raise_nothing(tmp_path):
    assert render({}, nothing_to_plot("y"), tmp_path) == {}


def test_profile_without_missing_values_says_so_in_its_plot(regression, tmp_path):
    written = render(regression[0], regression[1], tmp_path)
    assert written[plots.NULL_COUNTS].stat().st_size > 0


def test_odd_and_many_column_names_render(classification, tmp_path):
    profile, metadata = classification
    odd = ["price $ usd", "a$b$c", "$x^2$", "line\nbreak", "é" * 300, " spaced "]
    profile["columns"] += [numeric_column(n, nulls=i) for i, n in enumerate(odd * 10)]
    metadata["evaluation"]["feature_importance"]["features"] += [
        {"name": n, "importance_mean": 0.01 * i, "importance_std": 0.0}
        for i, n in enumerate(odd * 5)
    ]
    written = render(profile, metadata, tmp_path)
    assert set(written) == PROFILE_PLOTS | MODEL_PLOTS | {plots.CONFUSION_MATRIX}


def test_many_classes_are_capped_and_still_render(classification, tmp_path):
    profile, metadata = classification
    labels = [f"class_{i}" for i in range(30)]
    metadata["evaluation"]["labels"] = labels
    metadata["evaluation"]["confusion_matrix"] = [
        [5 if i == j else 1 for j in range(30)] for i in range(30)
    ]
    assert plots.CONFUSION_MATRIX in render(profile, metadata, tmp_path)


def test_rendering_twice_overwrites_the_same_files(regression, tmp_path):
    first = render(regression[0], regression[1], tmp_path)
    second = render(regression[0], regression[1], tmp_path)
    assert first == second
    assert sorted(tmp_path.iterdir()) == sorted(first.values())


def test_inputs_are_not_modified(classification, tmp_path):
    before = copy.deepcopy(classification)
    render(classification[0], classification[1], tmp_path)
    assert classification == before


def test_a_real_profile_renders_its_profile_plots(tmp_path):
    path = tmp_path / "small.parquet"
    pl.DataFrame(
        {
            "age": [30, 40, None, 50, 30, 61],
            "city": ["Oslo", "Lima", "Oslo", None, "Lima", "Kyoto"],
            "member": [True, False, True, True, None, False],
        }
    ).write_parquet(path)
    written = render(profile_parquet(path), nothing_to_plot("city"), tmp_path / "out")
    assert set(written) == PROFILE_PLOTS
