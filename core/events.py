"""Event names and resource ids emitted to Prefect (docs/spec.md §4), defined once."""

from __future__ import annotations

from typing import Literal

UPLOAD_CONFIRMED = "automl.upload.confirmed"
DATASET_INGESTED = "automl.dataset.ingested"
DATASET_FAILED = "automl.dataset.failed"
MODEL_PUBLISHED = "automl.model.published"
PLOTS_RENDERED = "automl.plots.rendered"
STORAGE_READY = "automl.storage.ready"

ResourceKind = Literal["upload", "dataset", "version", "model", "job", "plots", "storage"]


def resource_id(kind: ResourceKind, identifier: str) -> str:
    """`automl.<kind>.<id>`, the resource id every automl event is about."""
    return f"automl.{kind}.{identifier}"
