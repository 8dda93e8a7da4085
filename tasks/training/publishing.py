"""What a run publishes: `model.joblib` (the pipeline, written atomically) and its
`ModelMetadata`, which names the libraries and the module the pickle needs to load."""

from __future__ import annotations

import math
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pyarrow as pa
import sklearn
from sklearn.pipeline import Pipeline

from tasks.conversion import file_sha256
from tasks.training.metadata import ModelMetadata
from tasks.training.train import TrainingResult
from tasks.training.transformers import CUSTOM_TRANSFORMERS

# Where the custom transformers live: the module a fresh process must import for joblib to
# unpickle the pipeline (scikit-learn's own classes name their own modules in the pickle).
CUSTOM_CODE_MODULE = CUSTOM_TRANSFORMERS[0].__module__


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
    job_id: str,
    dataset_id: str,
    version_id: str,
    dataset_sha256: str,
    model_sha256: str,
    model_size_bytes: int,
    flow_run_id: str | None,
    created_at: datetime | None = None,
) -> ModelMetadata:
    """The content of `metadata.json` published beside `model.joblib` (`to_json` writes it)."""
    moment = created_at or datetime.now(UTC)
    if moment.tzinfo is None:
        raise ValueError("created_at must be timezone-aware")
    return ModelMetadata.model_validate(
        {
            "framework": "scikit-learn",
            "model_format": "joblib",
            "model_class": f"{type(result.pipeline).__module__}.{type(result.pipeline).__name__}",
            "custom_code_module": CUSTOM_CODE_MODULE,
            "library_versions": library_versions(),
            "python_version": platform.python_version(),
            "created_at": moment.astimezone(UTC),
            "flow_run_id": flow_run_id,
            "job_id": job_id,
            "dataset": {
                "dataset_id": dataset_id,
                "version_id": version_id,
                "sha256": dataset_sha256,
            },
            "model_file": {"sha256": model_sha256, "size_bytes": model_size_bytes},
            "target": result.target,
            "task_type": result.task_type,
            "selection_metric": result.selection_metric,
            "metrics": _json_safe(result.metrics),
            "features": result.features,
            "dropped_columns": result.dropped_columns,
            "candidates": result.candidates,
            "chosen": result.chosen,
            "rows": result.rows,
            "seed": result.seed,
            "time_budget_seconds": result.time_budget_seconds,
            "training_seconds": round(result.training_seconds, 3),
            "evaluation": _json_safe(result.evaluation),
            "notes": list(result.notes),
        }
    )


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
