"""Training on a dataset file: task inference, the AutoML search, the published pipeline
(loaded in a fresh process), metadata, readable refusals and bounded behaviour on large data."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from core.errors import AutomlError, TrainingInputError, UntrainableDatasetError
from tasks.training.columns import infer_task_type
from tasks.training.publishing import build_metadata, save_model
from tasks.training.rules import HASH_FEATURES, MIN_ROWS
from tasks.training.train import TrainingResult, read_dataset_frame, train_from_parquet
from tests.support.training_tables import write_parquet

REPO_ROOT = Path(__file__).resolve().parents[3]


def test_a_text_target_is_a_classification_evaluated_on_held_out_rows(classification_run):
    run = classification_run
    assert run.task_type == "classification"
    assert run.selection_metric == "f1_macro"
    assert set(run.metrics) == {"accuracy", "f1_macro", "roc_auc"}
    assert run.metrics["accuracy"] > 0.75 and run.metrics["roc_auc"] > 0.8
    assert (run.rows.train, run.rows.test) == (288, 72)
    held_out = set(run.test_row_indices.tolist())
    assert len(held_out) == 72 and held_out <= set(range(360))
    matrix = run.evaluation["confusion_matrix"]
    assert run.evaluation["labels"] == ["churned", "stayed"]
    assert sum(map(sum, matrix)) == run.rows.test
    correct = sum(matrix[i][i] for i in range(2))
    assert correct / run.rows.test == run.metrics["accuracy"]


def test_a_numeric_target_is_a_regression_with_sampled_actual_and_predicted_pairs(
    regression_run,
):
    run = regression_run
    assert run.task_type == "regression"
    assert run.selection_metric == "r2"
    assert set(run.metrics) == {"r2", "rmse", "mae"}
    assert run.metrics["r2"] > 0.7
    pairs = run.evaluation["actual_vs_predicted"]
    assert len(pairs) == run.rows.test
    assert all(len(pair) == 2 and all(isinstance(v, float) for v in pair) for pair in pairs)


def test_features_are_recorded_with_raw_types_and_the_id_column_is_dropped(classification_run):
    kinds = {
        f.name: (f.dtype, f.pandas_dtype, f.kind, f.encoding) for f in classification_run.features
    }
    assert kinds == {
        "tenure_months": ("Float64", "float64", "numeric", "scaled"),
        "plan": ("String", "str", "categorical", "one_hot"),
        "member": ("Boolean", "object", "boolean", "binary"),
        "joined": ("Date", "datetime64[ms]", "datetime", "date_parts"),
        "last_seen": (
            "Datetime(time_unit='us', time_zone='UTC')",
            "datetime64[us, UTC]",
            "datetime",
            "date_parts",
        ),
        "spend": ("Float64", "float64", "numeric", "scaled"),
    }
    [dropped] = classification_run.dropped_columns
    assert dropped.name == "customer_id"
    assert dropped.reason.startswith("id-like text: 360 distinct values in 360")


def test_the_chosen_candidate_has_the_best_cross_validated_score(regression_run):
    completed = [c for c in regression_run.candidates if c.status == "completed"]
    assert completed and len({c.family for c in regression_run.candidates}) == 3
    assert all(len(c.cv_fold_scores) == 3 and c.fit_seconds > 0 for c in completed)
    best = max(c.cv_score for c in completed if c.cv_score is not None)
    assert regression_run.chosen.cv_score == best
    assert regression_run.chosen.status == "completed"


def test_feature_importance_ranks_raw_columns_by_permutation(regression_run):
    importance = regression_run.evaluation["feature_importance"]
    assert (importance["method"], importance["scoring"]) == ("permutation", "r2")
    names = [f["name"] for f in importance["features"]]
    assert sorted(names) == sorted(f.name for f in regression_run.features)
    assert names[0] in {"tenure_months", "plan"}  # the two strongest drivers of spend


FRESH_PROCESS_SCRIPT = """
import json, sys
import joblib, polars as pl
from sklearn.metrics import accuracy_score, f1_score, mean_squared_error, r2_score
model_path, data_path, rows, target = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
frame = pl.read_parquet(data_path).to_pandas().iloc[rows]
predicted = joblib.load(model_path).predict(frame)
actual = frame[target]
if target == "churned":
    out = {"accuracy": accuracy_score(actual, predicted),
           "f1_macro": f1_score(actual, predicted, average="macro", zero_division=0)}
else:
    out = {"r2": r2_score(actual, predicted), "rmse": mean_squared_error(actual, predicted) ** 0.5}
print(json.dumps(out))
"""


@pytest.mark.parametrize(
    ("run_name", "data_name"), [("classification_run", "customers"), ("regression_run", "spenders")]
)
@pytest.mark.e2e  # a fresh interpreter as a subprocess: the e2e marker's rule (pyproject.toml)
def test_the_saved_model_reproduces_its_metrics_in_a_fresh_process(
    run_name, data_name, request, tmp_path
):
    """The held-out rows are taken from the file as read, every raw column included."""
    run: TrainingResult = request.getfixturevalue(run_name)
    data_path: Path = request.getfixturevalue(data_name)
    model_path = tmp_path / "model.joblib"
    save_model(run.pipeline, model_path)
    finished = subprocess.run(
        [
            sys.executable,
            "-c",
            FRESH_PROCESS_SCRIPT,
            str(model_path),
            str(data_path),
            json.dumps(run.test_row_indices.tolist()),
            run.target,
        ],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    reproduced = json.loads(finished.stdout)
    assert reproduced == {name: run.metrics[name] for name in reproduced}


def test_the_pipeline_takes_the_raw_frame_with_extra_columns(classification_run, customers):
    frame = read_dataset_frame(customers).head(5)
    assert {"customer_id", "churned"} <= set(frame.columns)
    predicted = classification_run.pipeline.predict(frame)
    assert set(predicted) <= {"churned", "stayed"}


def test_save_model_returns_the_files_sha256_and_size(classification_run, tmp_path):
    path = tmp_path / "model.joblib"
    digest, size = save_model(classification_run.pipeline, path)
    content = path.read_bytes()
    assert (digest, size) == (hashlib.sha256(content).hexdigest(), len(content))
    assert [p.name for p in tmp_path.iterdir()] == ["model.joblib"]


def test_metadata_is_strict_json_naming_versions_data_and_model(classification_run, tmp_path):
    digest, size = save_model(classification_run.pipeline, tmp_path / "model.joblib")
    published = build_metadata(
        classification_run,
        job_id="job-1",
        dataset_id="ds-1",
        version_id="v-1",
        dataset_sha256="a" * 64,
        model_sha256=digest,
        model_size_bytes=size,
        flow_run_id="run-1",
        created_at=datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
    )
    metadata = json.loads(published.to_json())
    assert json.loads(json.dumps(metadata, allow_nan=False)) == metadata
    assert metadata["framework"] == "scikit-learn"
    assert metadata["custom_code_module"] == "tasks.training.transformers"
    assert set(metadata["library_versions"]) == {
        "scikit-learn",
        "pandas",
        "polars",
        "pyarrow",
        "numpy",
        "joblib",
        "python",
    }
    assert metadata["created_at"] == "2026-01-02T03:04:05+00:00"
    assert metadata["dataset"] == {"dataset_id": "ds-1", "version_id": "v-1", "sha256": "a" * 64}
    assert metadata["model_file"] == {"sha256": digest, "size_bytes": size}
    assert (metadata["target"], metadata["task_type"]) == ("churned", "classification")
    assert metadata["metrics"] == classification_run.metrics
    assert metadata["chosen"]["name"] == classification_run.chosen.name
    assert [f["name"] for f in metadata["features"]] == [
        f.name for f in classification_run.features
    ]
    assert metadata["dropped_columns"][0]["name"] == "customer_id"
    assert metadata["evaluation"]["labels"] == ["churned", "stayed"]
    assert "test_row_indices" not in metadata
    assert metadata["job_id"] == "job-1"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (pl.Series("y", ["a", "b"] * 10), "classification"),
        (pl.Series("y", [True, False] * 10), "classification"),
        (pl.Series("y", [0, 1, 2, 3] * 10), "classification"),
        (pl.Series("y", [0.0, 1.0] * 10), "classification"),
        (pl.Series("y", list(range(30))), "regression"),
        (pl.Series("y", [0.5, 1.5] * 10), "regression"),
        (pl.Series("y", list(range(25)) * 4), "regression"),
    ],
)
def test_task_type_follows_the_target_values(values, expected):
    assert infer_task_type(values) == expected


def small_table(rows: int, **columns: list[Any]) -> pl.DataFrame:
    base = {
        "x": [float(i) for i in range(rows)],
        "y": ["a", "b"] * (rows // 2) + ["a"] * (rows % 2),
    }
    return pl.DataFrame({**base, **columns})


def refusal(tmp_path: Path, table: pl.DataFrame, target: str = "y") -> AutomlError:
    path = write_parquet(table, tmp_path, "bad")
    with pytest.raises(AutomlError) as caught:
        train_from_parquet(path, target, time_budget_seconds=5, seed=0)
    return caught.value


def test_a_target_that_is_not_a_column_is_refused_naming_the_columns(tmp_path):
    error = refusal(tmp_path, small_table(30), target="label")
    assert isinstance(error, TrainingInputError) and error.code == "invalid_training_input"
    assert error.message == (
        "The target 'label' is not a column of this dataset. Its columns are: 'x', 'y'."
    )


def test_a_target_with_a_single_class_is_refused(tmp_path):
    error = refusal(tmp_path, small_table(30).with_columns(y=pl.lit("a")))
    assert isinstance(error, UntrainableDatasetError) and error.code == "untrainable_dataset"
    assert "has a single value ('a') in every row" in error.message


def test_a_target_with_no_values_is_refused(tmp_path):
    error = refusal(tmp_path, small_table(30).with_columns(y=pl.lit(None, dtype=pl.String)))
    assert isinstance(error, UntrainableDatasetError)
    assert error.message.startswith("The target column 'y' has no values")


def test_a_target_of_only_nan_is_refused_as_having_no_values(tmp_path):
    error = refusal(tmp_path, small_table(30).with_columns(y=pl.lit(float("nan"))))
    assert error.message.startswith("The target column 'y' has no values")


@pytest.mark.parametrize("rows", [1, MIN_ROWS - 1])
def test_too_few_rows_are_refused_with_the_minimum(tmp_path, rows):
    error = refusal(tmp_path, small_table(rows))
    assert isinstance(error, UntrainableDatasetError)
    assert error.message.startswith(f"Training needs at least {MIN_ROWS} rows with a value")
    assert error.message.endswith(f"this dataset has {rows}.")


def test_a_class_with_a_single_row_beside_one_other_class_is_refused(tmp_path):
    error = refusal(tmp_path, small_table(30).with_columns(y=pl.Series(["a"] * 29 + ["b"])))
    assert "needs at least two classes with two or more rows each" in error.message


def test_a_dataset_with_no_usable_feature_is_refused_with_each_reason(tmp_path):
    table = (
        small_table(30)
        .drop("x")
        .with_columns(
            code=pl.Series([f"id-{i}" for i in range(30)]),
            constant=pl.lit(3),
            empty=pl.lit(None, dtype=pl.Float64),
            spans=pl.lit(timedelta(days=1)),
        )
    )
    error = refusal(tmp_path, table)
    assert isinstance(error, UntrainableDatasetError)
    assert error.message.startswith("No column can be used to predict 'y'")
    for phrase in (
        "'code': id-like text",
        "'constant': a single value",
        "'empty': every value",
        "'spans': type Duration",
    ):
        assert phrase in error.message


def test_a_date_target_is_refused_as_neither_numbers_nor_labels(tmp_path):
    dates = [date(2024, 1, 1) + timedelta(days=i % 5) for i in range(30)]
    error = refusal(tmp_path, small_table(30).with_columns(y=pl.Series(dates)))
    assert "has type Date; a target must be numbers" in error.message


def test_a_budget_that_is_not_positive_is_refused(tmp_path):
    path = write_parquet(small_table(30), tmp_path, "ok")
    with pytest.raises(TrainingInputError, match="positive number of seconds"):
        train_from_parquet(path, "y", time_budget_seconds=0, seed=0)


@pytest.mark.timeout(120)
@pytest.mark.e2e  # a million rows trained: ~10 s of CPU, a heavy proof for the full lane
def test_a_text_column_with_a_million_distinct_values_is_dropped_not_encoded(tmp_path):
    rows = 1_000_000
    rng = np.random.default_rng(0)
    signal = rng.normal(size=rows)
    table = pl.DataFrame(
        {"signal": signal, "target": 3 * signal + rng.normal(size=rows)}
    ).with_columns(comment=pl.format("note-{}", pl.int_range(rows)))
    run = train_from_parquet(
        write_parquet(table, tmp_path, "wide"), "target", time_budget_seconds=3, seed=0
    )
    [dropped] = run.dropped_columns
    assert dropped.name == "comment"
    assert "1,000,000 distinct values in 1,000,000 non-missing rows" in dropped.reason
    assert [f.name for f in run.features] == ["signal"]
    frame = read_dataset_frame(tmp_path / "wide.parquet").head(10)
    assert run.pipeline[:-1].transform(frame).shape == (10, 1)
    assert (run.metrics["r2"] or 0.0) > 0.8


@pytest.mark.timeout(120)
def test_a_dataset_too_large_for_the_budget_falls_back_to_a_sample_and_says_so(large_run):
    assert large_run.task_type == "classification"
    assert large_run.rows.train == 160_000
    assert large_run.rows.search < large_run.rows.train
    assert any(note.startswith("The search ran on a random") for note in large_run.notes)
    assert large_run.chosen.status == "completed"
    assert large_run.metrics["accuracy"] > 0.75


@pytest.mark.timeout(120)
def test_a_code_column_of_thousands_of_values_is_hashed_into_a_fixed_width(large_run):
    encodings = {f.name: f.encoding for f in large_run.features}
    assert encodings == {"signal": "scaled", "postcode": "hashed", "channel": "one_hot"}
    assert "postcode" not in {d.name for d in large_run.dropped_columns}
    hashed = large_run.pipeline.named_steps["preprocess"].named_transformers_["hashed"]
    assert hashed[-1].n_features == HASH_FEATURES
