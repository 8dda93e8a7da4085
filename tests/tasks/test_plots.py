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
from tests.support.plot_inputs import candidate, importance, numeric_column

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
