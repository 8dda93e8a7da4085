"""The model's `metadata.json` as one typed, versioned document: `train-model` writes it,
`render-plots` and the API read it. Pydantic only, so a reader needs no scikit-learn, pandas
or polars.

`schema_version` names the document's shape. Every `metadata.json` ever published has
`"schema_version": 1` (the single `tasks/training.py` module wrote it from the first model on),
and this model reads and writes exactly that shape. Any change to a field (added, removed,
renamed, retyped) gets a new version and a reader that still accepts the old ones; a reader
refuses a version newer than it knows with `ModelMetadataError`, rather than guess at it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    model_validator,
)

from core.errors import ModelMetadataError
from tasks.training.rules import Encoding, FeatureKind, TaskType

SCHEMA_VERSION: Final = 1

CandidateStatus = Literal["completed", "skipped", "stopped", "failed"]


class _Record(BaseModel):
    """Unknown fields are refused: a field only one side knows is a schema change, which needs
    a new schema version."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class FeatureInfo(_Record):
    """A raw feature column the model uses, as seen in the file and in the pandas frame."""

    name: str
    dtype: str
    pandas_dtype: str
    kind: FeatureKind
    encoding: Encoding
    missing: int
    distinct: int


class DroppedColumn(_Record):
    name: str
    dtype: str
    reason: str


class CandidateResult(_Record):
    """One pipeline tried: its CV scores and the seconds its fits took (summed over folds).

    `status` is `completed`, `skipped` (budget spent before it started), `stopped` (abandoned
    between folds for the budget) or `failed` (an error, in `error`)."""

    name: str
    family: str
    params: dict[str, Any]
    status: CandidateStatus
    cv_score: float | None = None
    cv_fold_scores: list[float] = Field(default_factory=list)
    fit_seconds: float = 0.0
    error: str | None = None


class RowCounts(_Record):
    file: int
    missing_target: int
    train: int
    test: int
    search: int
    final_fit: int


class DatasetReference(_Record):
    """The dataset version the model was trained on, and the SHA-256 of its Parquet file."""

    dataset_id: str
    version_id: str
    sha256: str


class ModelFile(_Record):
    """`model.joblib` as published: its SHA-256 and size in bytes."""

    sha256: str
    size_bytes: int


class ColumnImportance(_Record):
    """A raw column's permutation importance: the mean and spread of the score lost when it
    is shuffled (null when the score was not a number)."""

    name: str
    importance_mean: float | None
    importance_std: float | None


class FeatureImportance(_Record):
    """Permutation importance on `rows` held-out rows, `n_repeats` shuffles per column, most
    important column first (at most `IMPORTANCE_TOP` of them)."""

    method: Literal["permutation"]
    scoring: str
    n_repeats: int
    rows: int
    features: list[ColumnImportance]


class ClassificationEvaluation(_Record):
    """The held-out confusion matrix: rows are actual classes, columns predicted, both in
    `labels` order."""

    kind: Literal["classification"]
    labels: list[bool | int | str]
    confusion_matrix: list[list[int]]
    feature_importance: FeatureImportance


class RegressionEvaluation(_Record):
    """A sample of held-out (actual, predicted) pairs."""

    kind: Literal["regression"]
    actual_vs_predicted: list[tuple[float, float]]
    feature_importance: FeatureImportance


Evaluation = Annotated[ClassificationEvaluation | RegressionEvaluation, Field(discriminator="kind")]


class ModelMetadata(_Record):
    """Everything published about a model beside `model.joblib`: how to load it
    (`custom_code_module` is the module the pickle needs importable), what it was trained on,
    how it was chosen and how well it does on held-out rows."""

    schema_version: Literal[1] = SCHEMA_VERSION
    framework: Literal["scikit-learn"]
    model_format: Literal["joblib"]
    model_class: str
    custom_code_module: str
    library_versions: dict[str, str]
    python_version: str
    created_at: AwareDatetime
    flow_run_id: str | None
    job_id: str
    dataset: DatasetReference
    model_file: ModelFile
    target: str
    task_type: TaskType
    selection_metric: str
    metrics: dict[str, float | None]
    features: list[FeatureInfo]
    dropped_columns: list[DroppedColumn]
    candidates: list[CandidateResult]
    chosen: CandidateResult
    rows: RowCounts
    seed: int
    time_budget_seconds: float
    training_seconds: float
    evaluation: Evaluation
    notes: list[str]

    @field_serializer("created_at")
    def _isoformat(self, moment: datetime) -> str:
        """`+00:00`, as the metadata always spelled UTC (pydantic would write `Z`)."""
        return moment.isoformat()

    @model_validator(mode="after")
    def _evaluation_fits_the_task(self) -> ModelMetadata:
        if self.evaluation.kind != self.task_type:
            raise ValueError(
                f"a {self.task_type} model cannot have a {self.evaluation.kind} evaluation"
            )
        return self

    def to_json(self) -> str:
        """The published text: keys sorted, indented, strict JSON (no NaN: null instead)."""
        document = json.loads(self.model_dump_json())
        return json.dumps(document, indent=2, sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str | bytes) -> ModelMetadata:
        """Reads a published `metadata.json`; `ModelMetadataError` says why it cannot."""
        try:
            document = json.loads(text)
        except ValueError as error:
            raise ModelMetadataError(f"metadata.json is not JSON: {error}") from error
        if not isinstance(document, Mapping):
            raise ModelMetadataError("metadata.json is not a JSON object")
        return cls.from_document(document)

    @classmethod
    def from_document(cls, document: Mapping[str, Any]) -> ModelMetadata:
        """Checks the schema version before the fields, so a newer document is refused as
        such rather than as a list of field errors."""
        version = document.get("schema_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ModelMetadataError(
                f"metadata.json has no valid schema_version (found {version!r}); every "
                f"published metadata.json has a positive integer schema_version."
            )
        if version > SCHEMA_VERSION:
            raise ModelMetadataError(
                f"metadata.json has schema_version {version}, written by a newer version of "
                f"the training than this one, which reads schema_version up to "
                f"{SCHEMA_VERSION}: update this program to read it."
            )
        try:
            return cls.model_validate(document)
        except ValidationError as error:
            raise ModelMetadataError(
                f"metadata.json (schema_version {version}) does not match its schema: {error}"
            ) from error
