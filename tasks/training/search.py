"""The budgeted search: cross-validates candidates cheapest-first until the search share of the
budget is spent, then refits the best on as many training rows as the rest affords.

- Search: linear (logistic regression / ridge), histogram gradient boosting and random forest,
  three candidates each, tried cheapest-first and interleaved so every family is tried early.
  Each candidate is scored by `CV_FOLDS`-fold cross-validation on the training split:
  F1-macro for classification (fair to minority classes and defined for any number of
  classes, unlike ROC-AUC), R² for regression (scale-free). Highest mean wins; a tie keeps the
  cheaper candidate.
- Budget: the clock covers everything from reading the file. The search gets `SEARCH_SHARE` of
  the budget and runs on at most `SEARCH_ROWS_PER_SECOND` x budget training rows (at least
  `MIN_SEARCH_ROWS`). No candidate is started once the search share is spent, or when its
  family's (or failing that, the fastest) earlier candidate says it would overrun; a
  candidate is abandoned between folds when its first folds say it would. The first candidate
  always completes, so a run always has a model. The best candidate is refitted on all
  training rows when its measured cost fits what is left of the budget, otherwise on as many
  rows as fit. Every such fallback is written in `notes`. The budget bounds how much work is
  started, not a hard deadline: the overrun is at most one fold of one candidate, the refit
  (estimated linearly from the fold fits) and the evaluation.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.metrics import f1_score, r2_score
from sklearn.model_selection import KFold, StratifiedKFold
from sklearn.pipeline import Pipeline

from core.errors import UntrainableDatasetError
from core.excerpts import quoted_name
from tasks.training.metadata import CandidateResult, CandidateStatus, DroppedColumn, FeatureInfo
from tasks.training.pipelines import WIDE_FEATURES, Candidate, candidates_for, pipeline_for
from tasks.training.rules import TaskType

CV_FOLDS = 3
SEARCH_SHARE = 0.6
SEARCH_ROWS_PER_SECOND = 500
MIN_SEARCH_ROWS = 1_000
MAX_SEARCH_ROWS = 100_000


@dataclass(frozen=True)
class Clock:
    """The run's budget, counted from when the run started reading its file."""

    start: float
    budget: float

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        return self.budget - self.elapsed()

    def search_remaining(self) -> float:
        return SEARCH_SHARE * self.budget - self.elapsed()


@dataclass(frozen=True)
class Problem:
    """What a run learns from: the feature frame and target (indexed by row position in the
    file; a sample of its rows when the file is over the cell budget), the task, and the
    column choices already made."""

    frame: pd.DataFrame
    y: pd.Series
    task_type: TaskType
    target: str
    features: list[FeatureInfo]
    dropped: list[DroppedColumn]
    seed: int
    file_rows: int
    missing_target: int


def search_sample(
    x: pd.DataFrame, y: pd.Series, clock: Clock, seed: int, notes: list[str]
) -> tuple[pd.DataFrame, pd.Series]:
    cap = int(min(MAX_SEARCH_ROWS, max(MIN_SEARCH_ROWS, SEARCH_ROWS_PER_SECOND * clock.budget)))
    if len(x) <= cap:
        return x, y
    notes.append(
        f"The search ran on a random {cap:,} of the {len(x):,} training rows to fit the "
        f"{clock.budget:g} s budget."
    )
    picked = np.random.default_rng(seed).choice(len(x), size=cap, replace=False)
    picked.sort()
    return x.iloc[picked], y.iloc[picked]


def _folds(task_type: TaskType, y: pd.Series, seed: int) -> Iterator[tuple[Any, Any]]:
    splitter: KFold | StratifiedKFold
    if task_type == "classification" and y.value_counts().iloc[-1] >= CV_FOLDS:
        splitter = StratifiedKFold(CV_FOLDS, shuffle=True, random_state=seed)
    else:
        splitter = KFold(CV_FOLDS, shuffle=True, random_state=seed)
    return iter(splitter.split(np.zeros(len(y)), y))


def run_search(
    problem: Problem, x: pd.DataFrame, y: pd.Series, clock: Clock, notes: list[str]
) -> list[CandidateResult]:
    """Cross-validates candidates in order until the search share of the budget is spent."""
    results: list[CandidateResult] = []
    seconds_by_family: dict[str, float] = {}
    candidates = candidates_for(problem.task_type, problem.seed, len(problem.features))
    if len(candidates) < len(candidates_for(problem.task_type, problem.seed)):
        notes.append(
            f"With {len(problem.features):,} feature columns (more than {WIDE_FEATURES:,}), "
            f"gradient boosting and the forest that splits on half the columns were not tried: "
            f"their cost grows with the number of columns."
        )
    for candidate in candidates:
        completed = [r for r in results if r.status == "completed"]
        expected = seconds_by_family.get(
            candidate.family, min((r.fit_seconds for r in completed), default=0.0)
        )
        if completed and expected >= clock.search_remaining():
            results.append(_result(candidate, "skipped"))
            continue
        result = _cross_validate(problem, candidate, x, y, clock, may_stop=bool(completed))
        if result.status in ("completed", "stopped"):
            seconds_by_family[candidate.family] = max(
                seconds_by_family.get(candidate.family, 0.0), _full_cv_seconds(result)
            )
        results.append(result)
    if not any(r.status == "completed" for r in results):
        errors = "; ".join(f"{r.name}: {r.error}" for r in results if r.error)
        raise UntrainableDatasetError(
            f"No model could be fitted on this dataset to predict "
            f"{quoted_name(problem.target)} ({errors})."
        )
    skipped = [r.name for r in results if r.status in ("skipped", "stopped")]
    if skipped:
        notes.append(
            f"The time budget ran out before {len(skipped)} of {len(results)} candidates "
            f"could be cross-validated: {', '.join(skipped)}."
        )
    return results


def _result(
    candidate: Candidate,
    status: CandidateStatus,
    cv_score: float | None = None,
    cv_fold_scores: list[float] | None = None,
    fit_seconds: float = 0.0,
    error: str | None = None,
) -> CandidateResult:
    return CandidateResult(
        name=candidate.name,
        family=candidate.family,
        params=candidate.params,
        status=status,
        cv_score=cv_score,
        cv_fold_scores=cv_fold_scores or [],
        fit_seconds=fit_seconds,
        error=error,
    )


def _full_cv_seconds(result: CandidateResult) -> float:
    """A stopped candidate's cost extrapolated to all folds."""
    folds_done = max(1, len(result.cv_fold_scores))
    return result.fit_seconds * CV_FOLDS / folds_done


def _cross_validate(
    problem: Problem,
    candidate: Candidate,
    x: pd.DataFrame,
    y: pd.Series,
    clock: Clock,
    *,
    may_stop: bool,
) -> CandidateResult:
    scores: list[float] = []
    seconds = 0.0
    for train_index, validation_index in _folds(problem.task_type, y, problem.seed):
        if may_stop and scores and seconds / len(scores) >= clock.search_remaining():
            return _result(candidate, "stopped", None, scores, round(seconds, 4))
        pipeline = pipeline_for(problem.features, candidate)
        started = time.monotonic()
        try:
            pipeline.fit(x.iloc[train_index], y.iloc[train_index])
        except (ValueError, MemoryError) as error:
            return _result(candidate, "failed", None, scores, round(seconds, 4), str(error)[:300])
        seconds += time.monotonic() - started
        predicted = pipeline.predict(x.iloc[validation_index])
        scores.append(_score(problem.task_type, y.iloc[validation_index], predicted))
    return _result(candidate, "completed", float(np.mean(scores)), scores, round(seconds, 4))


def _score(task_type: TaskType, actual: pd.Series, predicted: npt.NDArray[Any]) -> float:
    if task_type == "classification":
        return float(f1_score(actual, predicted, average="macro", zero_division=0))
    return float(r2_score(actual, predicted))


def refit(
    problem: Problem,
    candidate: Candidate,
    chosen: CandidateResult,
    train: tuple[pd.DataFrame, pd.Series],
    search_rows: int,
    clock: Clock,
    notes: list[str],
) -> tuple[Pipeline, int]:
    """Fits the chosen candidate on all training rows, or on as many as the budget affords
    (never fewer than the search used), estimating cost linearly from its fold fits."""
    x_train, y_train = train
    fold_rows = search_rows * (CV_FOLDS - 1) / CV_FOLDS
    seconds_per_row = chosen.fit_seconds / CV_FOLDS / max(fold_rows, 1.0)
    affordable = clock.remaining() * (1 - (1 - SEARCH_SHARE) / 2)  # keep some for evaluation
    rows = len(x_train)
    if seconds_per_row * rows > affordable:
        rows = max(min(search_rows, len(x_train)), int(affordable / max(seconds_per_row, 1e-9)))
        rows = min(rows, len(x_train))
    if rows < len(x_train):
        picked = np.sort(
            np.random.default_rng(problem.seed + 1).choice(len(x_train), rows, replace=False)
        )
        x_fit, y_fit = x_train.iloc[picked], y_train.iloc[picked]
        notes.append(
            f"The chosen model was fitted on a random {rows:,} of the {len(x_train):,} "
            f"training rows: fitting on all of them would have overrun the time budget."
        )
    else:
        x_fit, y_fit = x_train, y_train
    pipeline = pipeline_for(problem.features, candidate)
    pipeline.fit(x_fit, y_fit)
    return pipeline, rows


@contextmanager
def quiet_fitting() -> Iterator[None]:
    """Silences warnings expected while searching: unconverged linear fits (the score says how
    good they are), unseen categories in a validation fold (encoded as zeros by design) and
    classes too rare for a small fold."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        warnings.filterwarnings("ignore", message=".*unknown categor.*")
        warnings.filterwarnings("ignore", message=".*least populated class.*")
        warnings.filterwarnings("ignore", message=".*number of unique classes.*")
        yield
