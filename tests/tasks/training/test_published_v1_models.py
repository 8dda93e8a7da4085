"""Models published before training became a package (`tests/fixtures/training_v1`, pickled by
the old single module) still load, in a fresh process too, and predict what they predicted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pytest

from tests.fixtures.training_v1.make import HERE as FIXTURE

REPO_ROOT = Path(__file__).resolve().parents[3]
EXPECTED: dict[str, dict[str, Any]] = json.loads((FIXTURE / "expected.json").read_text())
ROWS = FIXTURE / "rows.parquet"


def rows_frame() -> Any:
    """The rows as a published model receives them: polars' Parquet read, as pandas."""
    import polars as pl

    return pl.read_parquet(ROWS).to_pandas()


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_a_v1_model_predicts_what_it_predicted_when_published(task: str) -> None:
    model = joblib.load(FIXTURE / task / "model.joblib")
    frame = rows_frame()
    expected = EXPECTED[task]
    predicted = model.predict(frame).tolist()
    if task == "classification":
        assert predicted == expected["predict"]
        probabilities = model.predict_proba(frame)
        assert probabilities == pytest.approx(np.array(expected["predict_proba"]), rel=1e-9)
    else:
        assert predicted == pytest.approx(expected["predict"], rel=1e-9)
    features = model[:-1].transform(frame.head(3))
    assert features == pytest.approx(np.array(expected["features"]), rel=1e-9, abs=1e-12)


def test_the_v1_models_use_every_custom_transformer() -> None:
    """The fixture covers what must keep loading: each transformer the old module defined."""
    pickled: set[str] = set()
    for task in ("classification", "regression"):
        preprocess = joblib.load(FIXTURE / task / "model.joblib").named_steps["preprocess"]
        for _, branch, _ in preprocess.transformers_:
            if hasattr(branch, "steps"):
                pickled |= {type(step).__name__ for _, step in branch.steps}
    assert {"NumericColumns", "BooleanColumns", "DateParts", "TextColumns", "HashedText"} <= (
        pickled
    )


FRESH_PROCESS_SCRIPT = """
import json, sys
import joblib, polars as pl
model = joblib.load(sys.argv[1])
print(json.dumps(model.predict(pl.read_parquet(sys.argv[2]).to_pandas()).tolist()))
"""


@pytest.mark.e2e  # a fresh interpreter as a subprocess: the e2e marker's rule (pyproject.toml)
def test_a_v1_model_loads_in_a_fresh_process_with_only_joblib_imported() -> None:
    model_path = FIXTURE / "classification" / "model.joblib"
    finished = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS_SCRIPT, str(model_path), str(ROWS)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert json.loads(finished.stdout) == EXPECTED["classification"]["predict"]
