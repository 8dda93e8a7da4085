"""Trains a model on one dataset version file: a small, time-boxed AutoML search over
scikit-learn, published as ONE `sklearn.pipeline.Pipeline` plus its typed metadata.

The pipeline takes the raw feature columns as a pandas DataFrame exactly as
`train.read_dataset_frame` returns them (polars `read_parquet` then `to_pandas`: strings, dates,
booleans with missing values, integers with nulls as floats) and does all of its own
preprocessing, so whoever loads `model.joblib` needs no other code than
`tasks.training.transformers` (named in the metadata's `custom_code_module`). Extra columns in
the frame (the target, dropped columns) are ignored at prediction time.

Modules, each one job: `rules` (the task, row and column rules, plain Python: the API states a
job's task with them), `columns` (the rules applied to a polars table), `transformers` (the
custom scikit-learn steps), `pipelines` (preprocessing and candidate models), `search` (the
budgeted search and refit), `evaluation` (held-out metrics and importance), `sampling` (the
rows and columns a run can afford, read lazily), `train` (one run,
file to evaluated pipeline), `metadata` (the published `metadata.json`, pydantic only) and
`publishing` (writing `model.joblib` and building its metadata).

Importing this package imports none of them, so the API and the plots can read the rules and
the metadata without loading scikit-learn or pandas.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Models published before this package existed pickled their transformers as
# `tasks.training.<ClassName>`: unpickling looks each name up here and finds it in its module.
_MOVED_FOR_OLD_MODELS = {
    "NumericColumns": "tasks.training.transformers",
    "BooleanColumns": "tasks.training.transformers",
    "DateParts": "tasks.training.transformers",
    "TextColumns": "tasks.training.transformers",
    "HashedText": "tasks.training.transformers",
}


if not TYPE_CHECKING:  # for unpickling only: the type checker sends code to the modules

    def __getattr__(name: str) -> Any:
        """PEP 562: resolves the old names lazily, so only loading an old model imports
        scikit-learn through this package."""
        module = _MOVED_FOR_OLD_MODELS.get(name)
        if module is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return getattr(importlib.import_module(module), name)
