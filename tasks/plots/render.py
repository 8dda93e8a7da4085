"""Renders every plot that applies to a job as `{name}.png`, in `PLOT_NAMES` order; one bad
input costs only the plots that need it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from matplotlib.figure import Figure

from tasks.plots import evaluation_figures, profile_figures, search_figures
from tasks.plots.canvas import save
from tasks.plots.inputs import PlotInputs, PlotSkipped
from tasks.training.metadata import ModelMetadata

COLUMN_TYPES: Final = "column-types"
NULL_COUNTS: Final = "null-counts"
TARGET_DISTRIBUTION: Final = "target-distribution"
NUMERIC_DISTRIBUTIONS: Final = "numeric-distributions"
CONFUSION_MATRIX: Final = "confusion-matrix"
PREDICTED_VS_ACTUAL: Final = "predicted-vs-actual"
RESIDUALS: Final = "residuals"
FEATURE_IMPORTANCE: Final = "feature-importance"
CANDIDATE_SCORES: Final = "candidate-scores"

_PLOTTERS: Final[tuple[tuple[str, Callable[[PlotInputs], Figure]], ...]] = (
    (COLUMN_TYPES, profile_figures.column_types),
    (NULL_COUNTS, profile_figures.null_counts),
    (TARGET_DISTRIBUTION, evaluation_figures.target_distribution),
    (NUMERIC_DISTRIBUTIONS, profile_figures.numeric_distributions),
    (CONFUSION_MATRIX, evaluation_figures.confusion_matrix),
    (PREDICTED_VS_ACTUAL, evaluation_figures.predicted_vs_actual),
    (RESIDUALS, evaluation_figures.residuals),
    (FEATURE_IMPORTANCE, search_figures.feature_importance),
    (CANDIDATE_SCORES, search_figures.candidate_scores),
)

PLOT_NAMES: Final[tuple[str, ...]] = tuple(name for name, _ in _PLOTTERS)

Logger = logging.Logger | logging.LoggerAdapter[Any]
_log = logging.getLogger(__name__)


def render_plots(
    profile: Mapping[str, Any],
    metadata: ModelMetadata,
    out_dir: Path,
    *,
    logger: Logger | None = None,
) -> dict[str, Path]:
    """Writes every plot that applies as `out_dir/{name}.png` and returns name -> path, in
    `PLOT_NAMES` order. A plot whose data is missing or malformed is skipped with a logged
    reason, so one bad field never costs the other plots; pass the flow's run logger as
    `logger` to see the reasons in the Prefect UI."""
    log = logger or _log
    out_dir.mkdir(parents=True, exist_ok=True)
    inputs = PlotInputs(profile if isinstance(profile, Mapping) else {}, metadata)
    written: dict[str, Path] = {}
    for name, draw in _PLOTTERS:
        try:
            figure = draw(inputs)
        except PlotSkipped as reason:
            log.info("plot %s skipped: %s", name, reason)
            continue
        except (LookupError, TypeError, ValueError, ArithmeticError) as error:
            log.warning(
                "plot %s skipped: unusable input (%s: %s)", name, type(error).__name__, error
            )
            continue
        written[name] = save(figure, out_dir, name)
    return written
