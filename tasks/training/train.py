"""One training run, from the Parquet file to an evaluated pipeline: checks the target and
columns, holds out `TEST_FRACTION` of the rows, searches, refits the best and evaluates it.

Split: `TEST_FRACTION` held out with the seed, stratified for classification (classes with a
single row are stratified with the most frequent class, so they always land somewhere)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline

from core.errors import TrainingInputError
from core.excerpts import quoted_name
from tasks.training.columns import check_target_column, choose_features, prepare_target
from tasks.training.evaluation import evaluation_block, held_out_metrics, selection_metric
from tasks.training.metadata import CandidateResult, DroppedColumn, FeatureInfo, RowCounts
from tasks.training.pipelines import candidates_for
from tasks.training.rules import TaskType
from tasks.training.sampling import DEFAULT_MAX_CELLS, ROW, read_training_rows
from tasks.training.search import Clock, Problem, quiet_fitting, refit, run_search, search_sample

TEST_FRACTION = 0.2


@dataclass
class TrainingResult:
    """Everything a run found: the fitted pipeline and what `build_metadata` publishes.

    `test_row_indices` are row positions in the file (0-based) of the held-out split, so the
    metrics can be reproduced from the file alone; they are not published in the metadata."""

    pipeline: Pipeline
    task_type: TaskType
    target: str
    selection_metric: str
    metrics: dict[str, float | None]
    candidates: list[CandidateResult]
    chosen: CandidateResult
    features: list[FeatureInfo]
    dropped_columns: list[DroppedColumn]
    rows: RowCounts
    seed: int
    time_budget_seconds: float
    training_seconds: float
    evaluation: dict[str, Any]
    notes: list[str]
    test_row_indices: npt.NDArray[np.int64]


def read_dataset_frame(path: Path) -> pd.DataFrame:
    """The raw frame a published model predicts on: the Parquet file read by polars, as pandas."""
    return pl.read_parquet(path).to_pandas()


def train_from_parquet(
    path: Path,
    target: str,
    *,
    time_budget_seconds: float = 60.0,
    seed: int = 0,
    max_cells: int = DEFAULT_MAX_CELLS,
) -> TrainingResult:
    """Infers the task, searches a few pipelines within the budget, refits the best and
    evaluates it on a held-out split. At most `max_cells` values of the file are read (rows,
    then columns, sampled by `tasks.training.sampling`). Bad input raises `TrainingInputError`
    or `UntrainableDatasetError` with a message meant for the person who uploaded the data."""
    if not math.isfinite(time_budget_seconds) or time_budget_seconds <= 0:
        raise TrainingInputError(
            f"The time budget must be a positive number of seconds, not {time_budget_seconds}."
        )
    clock = Clock(time.monotonic(), time_budget_seconds)
    read = read_training_rows(path, target, max_cells=max_cells, seed=seed)
    labelled = read.table
    check_target_column(labelled, target)
    notes: list[str] = []
    if read.missing_target:
        notes.append(
            f"{read.missing_target:,} rows with no value in {quoted_name(target)} were left out."
        )
    notes += read.notes
    task_type, y_series = prepare_target(labelled[target], target)
    features, dropped = choose_features(labelled.drop(ROW), target)
    frame = labelled.select([ROW, *[f.name for f in features]]).to_pandas()
    frame = frame.set_index(ROW, drop=True)
    frame.index.name = None
    features = [f.model_copy(update={"pandas_dtype": str(frame[f.name].dtype)}) for f in features]
    y = pd.Series(y_series.to_numpy(), index=frame.index, name=target)
    return _search_and_fit(
        Problem(
            frame,
            y,
            task_type,
            target,
            features,
            dropped,
            seed,
            read.file_rows,
            read.missing_target,
        ),
        clock,
        notes,
    )


def _search_and_fit(problem: Problem, clock: Clock, notes: list[str]) -> TrainingResult:
    classify = problem.task_type == "classification"
    x_train, x_test, y_train, y_test = train_test_split(
        problem.frame,
        problem.y,
        test_size=TEST_FRACTION,
        random_state=problem.seed,
        stratify=_strata(problem.y) if classify else None,
    )
    search_x, search_y = search_sample(x_train, y_train, clock, problem.seed, notes)
    with quiet_fitting():
        tried = run_search(problem, search_x, search_y, clock, notes)
        chosen = max(
            (c for c in tried if c.status == "completed"),
            key=lambda c: c.cv_score if c.cv_score is not None else -math.inf,
        )
        candidate = next(
            c
            for c in candidates_for(problem.task_type, problem.seed, len(problem.features))
            if c.name == chosen.name
        )
        pipeline, final_rows = refit(
            problem, candidate, chosen, (x_train, y_train), len(search_x), clock, notes
        )
        predicted = pipeline.predict(x_test)
        metrics = held_out_metrics(problem.task_type, pipeline, x_test, y_test, predicted)
        evaluation = evaluation_block(problem, pipeline, (x_test, y_test, predicted), clock, notes)
    return TrainingResult(
        pipeline=pipeline,
        task_type=problem.task_type,
        target=problem.target,
        selection_metric=selection_metric(problem.task_type),
        metrics=metrics,
        candidates=tried,
        chosen=chosen,
        features=problem.features,
        dropped_columns=problem.dropped,
        rows=RowCounts(
            file=problem.file_rows,
            missing_target=problem.missing_target,
            train=len(x_train),
            test=len(x_test),
            search=len(search_x),
            final_fit=final_rows,
        ),
        seed=problem.seed,
        time_budget_seconds=clock.budget,
        training_seconds=clock.elapsed(),
        evaluation=evaluation,
        notes=notes,
        test_row_indices=np.asarray(x_test.index, dtype=np.int64),
    )


def _strata(y: pd.Series) -> pd.Series:
    """Labels to stratify on: a class with one row joins the most frequent class's stratum,
    since `train_test_split` needs two rows per stratum."""
    counts = y.value_counts()
    lonely = counts[counts < 2].index
    return y.where(~y.isin(lonely), counts.index[0]) if len(lonely) else y
