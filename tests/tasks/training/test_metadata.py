"""The typed `metadata.json`: the files published before the package read back unchanged, a
newer or malformed document is refused with a reason, and reading needs no heavy library."""

from __future__ import annotations

import importlib
import json
import pickle
import pickletools
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from core.errors import ModelMetadataError
from tasks.training.metadata import SCHEMA_VERSION, FeatureInfo, ModelMetadata
from tasks.training.pipelines import build_preprocessor
from tasks.training.publishing import CUSTOM_CODE_MODULE
from tasks.training.rules import Encoding, FeatureKind
from tasks.training.transformers import CUSTOM_TRANSFORMERS
from tests.fixtures.training_v1.make import HERE as FIXTURE

REPO_ROOT = Path(__file__).resolve().parents[3]
V1_FILES = [FIXTURE / task / "metadata.json" for task in ("classification", "regression")]


def v1_document(task: str = "classification") -> dict[str, Any]:
    document: dict[str, Any] = json.loads((FIXTURE / task / "metadata.json").read_text())
    return document


@pytest.mark.parametrize("path", V1_FILES, ids=lambda p: p.parent.name)
def test_a_v1_metadata_file_reads_and_writes_back_byte_for_byte(path: Path) -> None:
    """Every field the old writer wrote has its place in the model, with its spelling."""
    text = path.read_text()
    metadata = ModelMetadata.from_json(text)
    assert metadata.schema_version == 1 == SCHEMA_VERSION
    assert metadata.to_json() == text


def test_a_v1_metadata_file_reads_as_typed_fields() -> None:
    metadata = ModelMetadata.from_json((FIXTURE / "regression" / "metadata.json").read_bytes())
    assert metadata.task_type == "regression" and metadata.target == "spend"
    assert metadata.evaluation.kind == "regression"
    assert metadata.evaluation.actual_vs_predicted
    assert all(isinstance(a, float) for a, _ in metadata.evaluation.actual_vs_predicted)
    assert metadata.chosen.name in {c.name for c in metadata.candidates}
    assert {f.encoding for f in metadata.features} >= {"hashed", "date_parts", "binary"}
    assert metadata.job_id == "fixture-regression-job"
    assert metadata.created_at.utcoffset() is not None


def test_a_v1_model_is_loadable_through_the_module_its_metadata_names() -> None:
    metadata = ModelMetadata.from_json((FIXTURE / "classification" / "metadata.json").read_text())
    assert metadata.custom_code_module == "tasks.training"
    named = importlib.import_module(metadata.custom_code_module)
    for transformer in CUSTOM_TRANSFORMERS:
        assert getattr(named, transformer.__name__) is transformer


def test_a_new_model_pickles_its_transformers_under_the_module_its_metadata_names() -> None:
    encodings: list[tuple[FeatureKind, Encoding]] = [
        ("numeric", "scaled"),
        ("boolean", "binary"),
        ("datetime", "date_parts"),
        ("categorical", "one_hot"),
        ("categorical", "hashed"),
    ]
    features = [
        FeatureInfo(
            name=f"column_{i}",
            dtype="",
            pandas_dtype="",
            kind=kind,
            encoding=encoding,
            missing=0,
            distinct=2,
        )
        for i, (kind, encoding) in enumerate(encodings)
    ]
    preprocessor = build_preprocessor(features)
    strings = [arg for _, arg, _ in pickletools.genops(pickle.dumps(preprocessor)) if arg]
    ours = {s for s in strings if isinstance(s, str) and s.startswith("tasks.")}
    assert ours == {CUSTOM_CODE_MODULE} == {"tasks.training.transformers"}


def test_a_newer_schema_version_is_refused_by_name() -> None:
    document = v1_document() | {"schema_version": SCHEMA_VERSION + 1}
    with pytest.raises(ModelMetadataError) as caught:
        ModelMetadata.from_json(json.dumps(document))
    assert caught.value.message.startswith(
        f"metadata.json has schema_version {SCHEMA_VERSION + 1}, written by a newer version"
    )
    assert f"reads schema_version up to {SCHEMA_VERSION}" in caught.value.message


@pytest.mark.parametrize("version", [None, 0, "1", True, 1.0])
def test_a_missing_or_invalid_schema_version_is_refused(version: object) -> None:
    document = v1_document()
    if version is None:
        del document["schema_version"]
    else:
        document["schema_version"] = version
    with pytest.raises(ModelMetadataError, match="no valid schema_version"):
        ModelMetadata.from_json(json.dumps(document))


@pytest.mark.parametrize(
    "change",
    [
        {"scoring": "f1_macro"},  # a spelling the writer never produced
        {"task_type": "regression"},  # a classification evaluation under another task
        {"metrics": "high"},
    ],
    ids=["unknown-field", "evaluation-of-another-task", "wrong-type"],
)
def test_a_document_that_is_not_what_the_writer_writes_is_refused(
    change: dict[str, Any],
) -> None:
    with pytest.raises(ModelMetadataError, match="does not match its schema"):
        ModelMetadata.from_json(json.dumps(v1_document() | change))


@pytest.mark.parametrize("text", ["{", "[]"])
def test_text_that_is_not_a_json_object_is_refused(text: str) -> None:
    with pytest.raises(ModelMetadataError, match=r"metadata\.json is not"):
        ModelMetadata.from_json(text)


def test_a_nan_never_reaches_the_file() -> None:
    metadata = ModelMetadata.from_json(json.dumps(v1_document()))
    candidate = metadata.candidates[0].model_copy(update={"cv_score": float("nan")})
    written = json.loads(metadata.model_copy(update={"candidates": [candidate]}).to_json())
    assert written["candidates"][0]["cv_score"] is None


LIGHT_IMPORT = """
import json, sys
from pathlib import Path
from tasks.training.metadata import ModelMetadata
from tasks.training.rules import task_type_for_profile_column
import tasks.training
ModelMetadata.from_json(Path(sys.argv[1]).read_text())
heavy = ("sklearn", "pandas", "polars", "pyarrow", "numpy", "scipy", "joblib", "matplotlib")
print(json.dumps([name for name in heavy if name in sys.modules]))
"""


@pytest.mark.e2e  # a fresh interpreter as a subprocess: the e2e marker's rule (pyproject.toml)
def test_reading_metadata_and_the_rules_imports_no_heavy_library() -> None:
    finished = subprocess.run(
        [sys.executable, "-c", LIGHT_IMPORT, str(V1_FILES[0])],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(finished.stdout) == []
