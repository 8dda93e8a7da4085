"""Draws the PNG plots of one training job from its dataset profile and its model metadata.

Pure file rendering (no Prefect, no S3): the `render-plots` flow uploads each returned file to
`plots/{job_id}/{plot_name}.png`. Figures are built as `matplotlib.figure.Figure` objects on
their own Agg canvas, never through pyplot, so nothing here touches matplotlib's global state
(no backend switch, no figure registry to leak) and renders are safe to run in threads.

Inputs, read defensively (a missing or malformed piece skips only the plots that need it):

profile -- `tasks.profiling.profile_parquet`'s result::

    {"row_count": int, "column_count": int,
     "columns": [{"name": str, "type": str,
                  "kind": "numeric" | "string" | "boolean" | "temporal" | "other",
                  "null_count": int, "distinct_count": int,
                  "min": number | str | None, "max": ..., "mean": float | None,
                  "std": float | None,
                  "top_values": [{"value": Any, "count": int}]}]}

metadata -- the model's `metadata.json` (`tasks.training.build_metadata`); where two spellings
are listed, either is accepted::

    {"target": str,
     "task_type": "classification" | "regression",
     "selection_metric" | "scoring": str,            # e.g. "f1_macro", "r2"
     "metrics": {name: float | None},                 # held-out metrics
     "candidates": [{"name": str, "cv_score": float | None, "fit_seconds": float,
                     "status": "completed" | "skipped" | "stopped" | "failed"}],
     "chosen": str | {"name": str, ...},
     "evaluation": {
         # classification
         "labels": [Any], "confusion_matrix": [[int]],   # rows actual, columns predicted
         # regression
         "actual_vs_predicted" | "pairs": [[actual, predicted]],
         "feature_importance": IMPORTANCE},           # or at the top level of metadata
    }
    IMPORTANCE = {"scoring": str, "n_repeats": int,
                  "features": [{"name": str,
                                "importance_mean" | "importance": float,
                                "importance_std" | "std": float}]}

Raw data values are not an input: the numeric distributions are drawn from the profile's
min/max/mean/std (a range chart, not a histogram), and the regression target's histogram from
the held-out actual values in the evaluation.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from core.keys import check_key_part

COLUMN_TYPES: Final = "column-types"
NULL_COUNTS: Final = "null-counts"
TARGET_DISTRIBUTION: Final = "target-distribution"
NUMERIC_DISTRIBUTIONS: Final = "numeric-distributions"
CONFUSION_MATRIX: Final = "confusion-matrix"
PREDICTED_VS_ACTUAL: Final = "predicted-vs-actual"
RESIDUALS: Final = "residuals"
FEATURE_IMPORTANCE: Final = "feature-importance"
CANDIDATE_SCORES: Final = "candidate-scores"

PLOT_NAMES: Final[tuple[str, ...]] = (
    COLUMN_TYPES,
    NULL_COUNTS,
    TARGET_DISTRIBUTION,
    NUMERIC_DISTRIBUTIONS,
    CONFUSION_MATRIX,
    PREDICTED_VS_ACTUAL,
    RESIDUALS,
    FEATURE_IMPORTANCE,
    CANDIDATE_SCORES,
)

DPI: Final = 120
MAX_BARS: Final = 20
MAX_CLASSES: Final = 20
MAX_NUMERIC_COLUMNS: Final = 15
LABEL_CHARS: Final = 28

# One palette for every plot: a blue for data, an orange for the one thing to notice
# (the chosen model), greys for context.
ACCENT: Final = "#3a6ea5"
HIGHLIGHT: Final = "#e07b39"
MUTED: Final = "#a3acb9"
INK: Final = "#1f2933"
SUBTLE_INK: Final = "#52606d"
GRID: Final = "#e4e7eb"

_KIND_LABELS: Final = {
    "numeric": "numeric",
    "string": "text",
    "boolean": "boolean",
    "temporal": "date / time",
    "other": "other",
}

Logger = logging.Logger | logging.LoggerAdapter[Any]
_log = logging.getLogger(__name__)


class PlotSkipped(Exception):
    """A plot that does not apply to this job or lacks its data; the message says which."""


@dataclass(frozen=True)
class _Inputs:
    profile: Mapping[str, Any]
    metadata: Mapping[str, Any]


# --- Public API ---------------------------------------------------------------------------


def render_plots(
    profile: Mapping[str, Any],
    metadata: Mapping[str, Any],
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
    inputs = _Inputs(_as_mapping(profile), _as_mapping(metadata))
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
        written[name] = _save(figure, out_dir, name)
    return written


# --- Plots of the dataset profile ---------------------------------------------------------


def _column_types(inputs: _Inputs) -> Figure:
    """How many columns of each kind: tells at a glance what the model had to encode."""
    columns = _profile_columns(inputs.profile)
    counts: dict[str, int] = {}
    for column in columns:
        kind = _KIND_LABELS.get(str(column.get("kind")), "other")
        counts[kind] = counts.get(kind, 0) + 1
    kinds = [k for k in _KIND_LABELS.values() if k in counts]
    values = [counts[k] for k in kinds]
    figure, axes = _bar_figure(len(kinds))
    _barh(axes, kinds, values, [_count(v) for v in values])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("columns")
    rows = _int(inputs.profile.get("row_count"))
    _titles(
        figure,
        axes,
        "Column types",
        f"{len(columns):,} columns" + (f", {rows:,} rows" if rows is not None else ""),
    )
    return figure


def _null_counts(inputs: _Inputs) -> Figure:
    """Missing values per column as a share of rows, worst first: imputation hides them from
    the model, so the plot is where a person sees them."""
    columns = _profile_columns(inputs.profile)
    rows = _int(inputs.profile.get("row_count"))
    if not rows:
        raise PlotSkipped("the profile has no rows")
    missing = [
        (str(c.get("name")), nulls)
        for c in columns
        if (nulls := _int(c.get("null_count"))) is not None and nulls > 0
    ]
    if not missing:
        return _message_figure(
            "Missing values", f"No missing values in any of the {len(columns):,} columns."
        )
    missing.sort(key=lambda item: -item[1])
    shown = missing[:MAX_BARS]
    names = [_label(name) for name, _ in shown]
    shares = [100 * nulls / rows for _, nulls in shown]
    figure, axes = _bar_figure(len(shown))
    _barh(
        axes, names, shares, [f"{n:,} ({s:.1f}%)" for (_, n), s in zip(shown, shares, strict=True)]
    )
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}%"))
    axes.set_xlabel("missing values (% of rows)")
    note = f"{len(missing):,} of {len(columns):,} columns have missing values ({rows:,} rows)"
    if len(missing) > len(shown):
        note += f"; the {len(shown)} with the most are shown"
    _titles(figure, axes, "Missing values per column", note)
    return figure


def _numeric_distributions(inputs: _Inputs) -> Figure:
    """Range, mean and spread of the numeric columns, most important first. The profile holds
    no raw values, so this is a range chart on each column's own min-to-max scale rather than
    a histogram: it shows skew (mean off-centre) and spread, not shape."""
    target = inputs.metadata.get("target")
    numeric = [
        c
        for c in _profile_columns(inputs.profile)
        if c.get("kind") == "numeric" and c.get("name") != target and _range_of(c) is not None
    ]
    if not numeric:
        raise PlotSkipped("the profile has no numeric feature column with a min and max")
    ranked = _by_importance(numeric, _importance_order(inputs.metadata))
    shown = ranked[:MAX_NUMERIC_COLUMNS]
    figure = _range_figure(shown)
    note = "line = min to max, box = mean ± 1 std, dot = mean; from the dataset profile"
    if len(ranked) > len(shown):
        note += f"\n{len(shown)} of {len(ranked)} numeric columns shown"
        note += ", the most important first" if _importance_order(inputs.metadata) else ""
    _titles(figure, figure.axes[0], "Numeric columns: range, mean and spread", note)
    return figure


# --- Plots of the model --------------------------------------------------------------------


def _target_distribution(inputs: _Inputs) -> Figure:
    """What the model learned to predict: class counts, or the spread of the target value."""
    target = inputs.metadata.get("target")
    if not isinstance(target, str) or not target:
        raise PlotSkipped("the metadata names no target")
    column = next((c for c in _profile_columns(inputs.profile) if c.get("name") == target), None)
    task = _task_type(inputs.metadata)
    if task == "classification" or (task is None and column and column.get("top_values")):
        return _class_distribution(inputs, target, column)
    actual = [a for a, _ in _pairs(inputs.metadata)]
    if actual:
        return _target_histogram(target, actual)
    if column is not None and _range_of(column) is not None:
        figure = _range_figure([column])
        _titles(
            figure,
            figure.axes[0],
            f"Target: {_label(target)}",
            "line = min to max, box = mean ± 1 std, dot = mean; from the dataset profile",
        )
        return figure
    raise PlotSkipped(f"neither the profile nor the evaluation describes target {target!r}")


def _confusion_matrix(inputs: _Inputs) -> Figure:
    """Where the classifier is right and which classes it confuses. Colour is the share of the
    actual class (row), so a small class is as readable as a large one; cells give counts."""
    if _task_type(inputs.metadata) not in ("classification", None):
        raise PlotSkipped("not a classification model")
    all_labels, full = _confusion(inputs.metadata)
    order = sorted(range(len(all_labels)), key=lambda i: -sum(full[i]))[:MAX_CLASSES]
    order.sort()
    labels = [all_labels[i] for i in order]
    matrix = [[full[i][j] for j in order] for i in order]
    size = len(labels)
    side = min(11.0, max(4.8, 0.6 * size + 2.6))
    figure = _new_figure(side + 1.0, side)
    axes = figure.add_subplot()
    shares = [[cell / max(sum(row), 1) for cell in row] for row in matrix]
    image = axes.imshow(shares, cmap=matplotlib.colormaps["Blues"], vmin=0.0, vmax=1.0)
    _annotate_cells(axes, matrix, shares)
    ticks = list(range(size))
    names = [_label(str(label), 18) for label in labels]
    axes.set_xticks(ticks, names, fontsize=9)
    axes.set_yticks(ticks, names, fontsize=9)
    if size > 5 or max(len(n) for n in names) > 6:
        axes.tick_params(axis="x", labelrotation=40)
        for tick in axes.get_xticklabels():
            tick.set_horizontalalignment("right")
    axes.set_xlabel("predicted class")
    axes.set_ylabel("actual class")
    for spine in axes.spines.values():
        spine.set_visible(False)
    bar = figure.colorbar(image, ax=axes, shrink=0.8)
    bar.set_label("share of the actual class", color=SUBTLE_INK)
    bar.ax.yaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{100 * x:.0f}%"))
    total = sum(map(sum, matrix))
    note = f"held-out rows (n={total:,})" + _metric_note(inputs.metadata, ("accuracy", "f1_macro"))
    if len(labels) < len(all_labels):
        note += f"\nthe {len(labels)} most frequent of {len(all_labels)} classes"
    _titles(figure, axes, "Confusion matrix", note)
    return figure


def _predicted_vs_actual(inputs: _Inputs) -> Figure:
    """Held-out predictions against the truth: points on the diagonal are perfect."""
    if _task_type(inputs.metadata) not in ("regression", None):
        raise PlotSkipped("not a regression model")
    pairs = _pairs(inputs.metadata)
    if not pairs:
        raise PlotSkipped("the evaluation has no actual/predicted pairs")
    target = _label(str(inputs.metadata.get("target") or "target"))
    actual, predicted = [a for a, _ in pairs], [p for _, p in pairs]
    figure, axes = _plain_figure(6.0, 5.6)
    low, high = _padded_limits(actual + predicted)
    axes.plot([low, high], [low, high], linestyle="--", color=MUTED, linewidth=1.2, zorder=1)
    axes.scatter(actual, predicted, **_scatter_style(len(pairs)))
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_aspect("equal", adjustable="box")
    axes.set_xlabel(f"actual {target}")
    axes.set_ylabel(f"predicted {target}")
    note = f"held-out rows (n={len(pairs):,}); dashed line = perfect prediction"
    _titles(
        figure,
        axes,
        "Predicted vs actual",
        note + _metric_note(inputs.metadata, ("r2", "rmse", "mae")),
    )
    return figure


def _residuals(inputs: _Inputs) -> Figure:
    """Errors against the prediction: a funnel or a curve here means the model is biased for
    some range of values even when the overall score looks good."""
    if _task_type(inputs.metadata) not in ("regression", None):
        raise PlotSkipped("not a regression model")
    pairs = _pairs(inputs.metadata)
    if not pairs:
        raise PlotSkipped("the evaluation has no actual/predicted pairs")
    target = _label(str(inputs.metadata.get("target") or "target"))
    predicted = [p for _, p in pairs]
    errors = [a - p for a, p in pairs]
    figure, axes = _plain_figure(7.0, 4.6)
    axes.axhline(0.0, linestyle="--", color=MUTED, linewidth=1.2, zorder=1)
    axes.scatter(predicted, errors, **_scatter_style(len(pairs)))
    bound = max(abs(e) for e in errors) * 1.08 or 1.0
    axes.set_ylim(-bound, bound)
    axes.set_xlabel(f"predicted {target}")
    axes.set_ylabel(f"residual: actual - predicted\n({target})")
    _titles(
        figure,
        axes,
        "Residuals",
        f"held-out rows (n={len(pairs):,}); an even band around 0 means no systematic error",
    )
    return figure


def _feature_importance(inputs: _Inputs) -> Figure:
    """Which columns the chosen model relies on: the score lost when a column is shuffled."""
    block = _importance_block(inputs.metadata)
    features = _importances(block)
    if not features:
        raise PlotSkipped("the metadata has no feature importance")
    shown = features[:MAX_BARS]
    scoring = _metric_label(str(block.get("scoring") or _scoring(inputs.metadata) or "score"))
    values = [value for _, value, _ in shown]
    figure, axes = _bar_figure(len(shown))
    colors = [ACCENT if value > 0 else MUTED for value in values]
    _barh(
        axes,
        [_label(name) for name, _, _ in shown],
        values,
        [_fmt(v) for v in values],
        colors=colors,
        errors=[std for _, _, std in shown],
    )
    axes.axvline(0.0, color=INK, linewidth=0.8)
    axes.set_xlabel(f"drop in {scoring} when the column is shuffled")
    repeats = _int(block.get("n_repeats"))
    note = "permutation importance on held-out rows"
    if repeats and repeats > 1:
        note += f"; bars = mean, whiskers = ± 1 std over {repeats} shuffles"
    elif repeats == 1:
        note += " (one shuffle per column)"
    if len(features) > len(shown):
        note += f"\nthe {len(shown)} most important of {len(features)} columns"
    _titles(figure, axes, "Feature importance", note)
    return figure


def _candidate_scores(inputs: _Inputs) -> Figure:
    """Every pipeline the search tried with its cross-validated score and fit time, the chosen
    one highlighted: shows how clear the win was and what the budget cut short."""
    candidates = _candidates(inputs.metadata)
    if not candidates:
        raise PlotSkipped("the metadata lists no candidates")
    chosen = _chosen_name(inputs.metadata)
    # Best first; on a tie the chosen one leads, as the search kept it over its equals.
    scored = sorted(
        (c for c in candidates if c.score is not None),
        key=lambda c: (-(c.score or 0.0), c.name != chosen),
    )
    ordered = (scored + [c for c in candidates if c.score is None])[:MAX_BARS]
    scores = [c.score if c.score is not None else 0.0 for c in ordered]
    colors = [HIGHLIGHT if c.name == chosen else ACCENT for c in ordered]
    names = [_label(c.name) + ("  (chosen)" if c.name == chosen else "") for c in ordered]
    figure, axes = _bar_figure(len(ordered))
    _barh(axes, names, scores, [_candidate_note(c) for c in ordered], colors=colors)
    for tick, candidate in zip(axes.get_yticklabels(), ordered, strict=True):
        if candidate.name == chosen:
            tick.set_fontweight("bold")
    if any(s < 0 for s in scores):
        axes.axvline(0.0, color=INK, linewidth=0.8)
    scoring = _metric_label(_scoring(inputs.metadata) or "score")
    axes.set_xlabel(f"cross-validated {scoring} (mean over folds; higher is better)")
    note = f"{len(scored)} of {len(candidates)} candidates scored; label = score · fit time"
    _titles(figure, axes, "Model candidates", note)
    return figure


_PLOTTERS: Final[tuple[tuple[str, Callable[[_Inputs], Figure]], ...]] = (
    (COLUMN_TYPES, _column_types),
    (NULL_COUNTS, _null_counts),
    (TARGET_DISTRIBUTION, _target_distribution),
    (NUMERIC_DISTRIBUTIONS, _numeric_distributions),
    (CONFUSION_MATRIX, _confusion_matrix),
    (PREDICTED_VS_ACTUAL, _predicted_vs_actual),
    (RESIDUALS, _residuals),
    (FEATURE_IMPORTANCE, _feature_importance),
    (CANDIDATE_SCORES, _candidate_scores),
)


# --- Pieces of the model plots ------------------------------------------------------------


def _class_distribution(inputs: _Inputs, target: str, column: Mapping[str, Any] | None) -> Figure:
    """Class counts from the whole dataset when the profile counted them (text and boolean
    targets), else from the held-out split's confusion matrix (integer class labels)."""
    counts, note = _class_counts(inputs, column)
    total = sum(count for _, count in counts)
    if not counts or total <= 0:
        raise PlotSkipped(f"no class counts for target {target!r}")
    figure, axes = _bar_figure(len(counts))
    labels = [f"{count:,} ({100 * count / total:.1f}%)" for _, count in counts]
    colors = [MUTED if name.startswith("(") else ACCENT for name, _ in counts]
    _barh(axes, [name for name, _ in counts], [c for _, c in counts], labels, colors=colors)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axes.set_xlabel("rows")
    _titles(figure, axes, f"Target: {_label(target)}", note)
    return figure


def _class_counts(
    inputs: _Inputs, column: Mapping[str, Any] | None
) -> tuple[list[tuple[str, int]], str]:
    top = _top_values(column) if column is not None else []
    if top:
        counts = [(_label(_value_text(value)), count) for value, count in top[:MAX_BARS]]
        rows, nulls = (
            _int(inputs.profile.get("row_count")),
            _int(column and column.get("null_count")),
        )
        rest = (rows or 0) - (nulls or 0) - sum(count for _, count in counts)
        others = (_int(column and column.get("distinct_count")) or 0) - len(counts)
        if rest > 0:
            counts.append((f"({others:,} other values)" if others > 1 else "(other values)", rest))
        return counts, f"whole dataset ({sum(c for _, c in counts):,} rows with a value)"
    labels, matrix = _confusion(inputs.metadata)
    counts = sorted(
        ((_label(_value_text(label)), sum(row)) for label, row in zip(labels, matrix, strict=True)),
        key=lambda item: -item[1],
    )
    total = sum(c for _, c in counts)
    return counts[:MAX_BARS], f"held-out split ({total:,} rows); the profile has no class counts"


def _target_histogram(target: str, actual: Sequence[float]) -> Figure:
    figure, axes = _plain_figure(7.0, 4.2)
    bins = int(min(40, max(8, math.sqrt(len(actual)))))
    axes.hist(actual, bins=bins, color=ACCENT, edgecolor="white", linewidth=0.6)
    axes.set_xlabel(_label(target))
    axes.set_ylabel("rows")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", color=GRID)
    axes.grid(axis="x", visible=False)
    mean = sum(actual) / len(actual)
    axes.axvline(mean, color=HIGHLIGHT, linewidth=1.5, label=f"mean {_fmt(mean)}")
    axes.legend(frameon=False, fontsize=9)
    _titles(figure, axes, f"Target: {_label(target)}", f"held-out rows (n={len(actual):,})")
    return figure


def _annotate_cells(axes: Axes, matrix: list[list[int]], shares: list[list[float]]) -> None:
    size = len(matrix)
    fontsize = 10 if size <= 6 else 8 if size <= 12 else 6
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            text = f"{count:,}" if size > 8 else f"{count:,}\n{100 * shares[i][j]:.0f}%"
            color = "white" if shares[i][j] > 0.55 else INK
            axes.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)


@dataclass(frozen=True)
class _Candidate:
    name: str
    score: float | None
    fit_seconds: float | None
    status: str


def _candidate_note(candidate: _Candidate) -> str:
    if candidate.score is None:
        return candidate.status if candidate.status != "completed" else "no score"
    text = _fmt(candidate.score)
    if candidate.fit_seconds is not None:
        seconds = candidate.fit_seconds
        text += " · <0.1 s" if seconds < 0.05 else f" · {seconds:.1f} s"
    return text


# --- Reading the inputs -------------------------------------------------------------------


def _profile_columns(profile: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    columns = [c for c in _as_list(profile.get("columns")) if isinstance(c, Mapping)]
    if not columns:
        raise PlotSkipped("the profile lists no columns")
    return columns


def _top_values(column: Mapping[str, Any]) -> list[tuple[Any, int]]:
    pairs = []
    for item in _as_list(column.get("top_values")):
        count = _int(item.get("count")) if isinstance(item, Mapping) else None
        if count is not None:
            pairs.append((item.get("value"), count))
    return pairs


def _range_of(column: Mapping[str, Any]) -> tuple[float, float] | None:
    low, high = _number(column.get("min")), _number(column.get("max"))
    return (low, high) if low is not None and high is not None and low <= high else None


def _task_type(metadata: Mapping[str, Any]) -> str | None:
    for value in (metadata.get("task_type"), _evaluation(metadata).get("kind")):
        if value in ("classification", "regression"):
            return str(value)
    return None


def _scoring(metadata: Mapping[str, Any]) -> str | None:
    for value in (
        metadata.get("scoring"),
        metadata.get("selection_metric"),
        _importance_block(metadata).get("scoring"),
    ):
        if isinstance(value, str) and value:
            return value
    return None


def _evaluation(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    return _as_mapping(metadata.get("evaluation"))


def _confusion(metadata: Mapping[str, Any]) -> tuple[list[Any], list[list[int]]]:
    evaluation = _evaluation(metadata)
    labels = _as_list(evaluation.get("labels"))
    rows = _as_list(evaluation.get("confusion_matrix"))
    if not labels or len(rows) != len(labels):
        raise PlotSkipped("the evaluation has no confusion matrix matching its labels")
    matrix = [[_count_cell(cell) for cell in _as_list(row)] for row in rows]
    if any(len(row) != len(labels) for row in matrix):
        raise PlotSkipped("the confusion matrix is not square")
    return labels, matrix


def _pairs(metadata: Mapping[str, Any]) -> list[tuple[float, float]]:
    evaluation = _evaluation(metadata)
    raw = evaluation.get("actual_vs_predicted", evaluation.get("pairs"))
    pairs = []
    for item in _as_list(raw):
        if isinstance(item, Sequence) and len(item) == 2:
            actual, predicted = _number(item[0]), _number(item[1])
            if actual is not None and predicted is not None:
                pairs.append((actual, predicted))
    return pairs


def _importance_block(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    return _as_mapping(
        metadata.get("feature_importance") or _evaluation(metadata).get("feature_importance")
    )


def _importances(block: Mapping[str, Any]) -> list[tuple[str, float, float]]:
    """(name, mean, std) by decreasing importance; accepts both spellings of the fields."""
    features = []
    for item in _as_list(block.get("features")):
        if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
            continue
        mean = _number(item.get("importance_mean", item.get("importance")))
        std = _number(item.get("importance_std", item.get("std")))
        if mean is not None:
            features.append((str(item["name"]), mean, std or 0.0))
    return sorted(features, key=lambda f: -f[1])


def _importance_order(metadata: Mapping[str, Any]) -> list[str]:
    return [name for name, _, _ in _importances(_importance_block(metadata))]


def _by_importance(
    columns: list[Mapping[str, Any]], order: Sequence[str]
) -> list[Mapping[str, Any]]:
    """Columns the model ranked first, in its order, then the rest in profile order."""
    rank = {name: i for i, name in enumerate(order)}
    return sorted(columns, key=lambda c: rank.get(str(c.get("name")), len(rank)))


def _candidates(metadata: Mapping[str, Any]) -> list[_Candidate]:
    candidates = []
    for item in _as_list(metadata.get("candidates")):
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            candidates.append(
                _Candidate(
                    name=item["name"],
                    score=_number(item.get("cv_score")),
                    fit_seconds=_number(item.get("fit_seconds")),
                    status=str(item.get("status") or "completed"),
                )
            )
    return candidates


def _chosen_name(metadata: Mapping[str, Any]) -> str | None:
    chosen = metadata.get("chosen")
    if isinstance(chosen, Mapping):
        chosen = chosen.get("name")
    return chosen if isinstance(chosen, str) else None


def _metric_note(metadata: Mapping[str, Any], names: Sequence[str]) -> str:
    metrics = _as_mapping(metadata.get("metrics"))
    parts = [
        f"{_metric_label(name)} {_fmt(value)}"
        for name in names
        if (value := _number(metrics.get(name))) is not None
    ]
    return ("; " + ", ".join(parts)) if parts else ""


_METRIC_LABELS: Final = {
    "r2": "R²",
    "rmse": "RMSE",
    "mae": "MAE",
    "f1_macro": "F1 macro",
    "accuracy": "accuracy",
    "roc_auc": "ROC AUC",
}


def _metric_label(name: str) -> str:
    """A scikit-learn scorer name as a person reads it (`f1_macro` -> `F1 macro`)."""
    return _METRIC_LABELS.get(name, _escape(name.replace("_", " ")))


def _as_mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _number(value: object) -> float | None:
    """A finite float, or None for anything else (booleans, text, NaN, null)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _int(value: object) -> int | None:
    number = _number(value)
    return int(number) if number is not None else None


def _count_cell(value: object) -> int:
    count = _int(value)
    if count is None or count < 0:
        raise ValueError(f"confusion matrix cell {value!r} is not a count")
    return count


# --- Drawing helpers: one style for every plot --------------------------------------------


def _new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, no global backend, safe in threads."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def _plain_figure(width: float, height: float) -> tuple[Figure, Axes]:
    figure = _new_figure(width, height)
    axes = figure.add_subplot()
    _style(axes)
    axes.grid(color=GRID, linewidth=0.8)
    return figure, axes


def _bar_figure(bars: int) -> tuple[Figure, Axes]:
    """A horizontal bar chart sized to its bars, so long column names stay readable."""
    figure = _new_figure(8.0, max(2.6, 1.5 + 0.34 * bars))
    axes = figure.add_subplot()
    _style(axes)
    axes.grid(axis="x", color=GRID, linewidth=0.8)
    return figure, axes


def _style(axes: Axes) -> None:
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(MUTED)
    axes.tick_params(colors=SUBTLE_INK, labelcolor=INK, labelsize=9)
    axes.xaxis.label.set_color(INK)
    axes.yaxis.label.set_color(INK)


def _barh(
    axes: Axes,
    names: Sequence[str],
    values: Sequence[float],
    labels: Sequence[str],
    *,
    colors: Sequence[str] | None = None,
    errors: Sequence[float] | None = None,
) -> None:
    """Bars top-down in the given order, each with its value written past its end."""
    positions = list(range(len(names)))
    axes.barh(
        positions,
        values,
        color=list(colors) if colors else ACCENT,
        height=0.62,
        xerr=list(errors) if errors else None,
        error_kw={"ecolor": SUBTLE_INK, "elinewidth": 1.0, "capsize": 2.5},
    )
    axes.set_yticks(positions, list(names))
    axes.invert_yaxis()
    axes.tick_params(axis="y", length=0)
    spread = list(errors) if errors else [0.0] * len(values)
    # Each label starts right of everything drawn on its row (bar, whisker, the zero line),
    # so it never sits on a whisker, whatever the bar's sign.
    reach = [max(v + e, 0.0) for v, e in zip(values, spread, strict=True)]
    top = max([*reach, 0.0])
    bottom = min([*(v - e for v, e in zip(values, spread, strict=True)), 0.0])
    span = (top - bottom) or 1.0
    for position, end, label in zip(positions, reach, labels, strict=True):
        axes.text(end + span * 0.01, position, label, va="center", fontsize=8.5, color=SUBTLE_INK)
    axes.set_xlim(bottom - (span * 0.02 if bottom < 0 else 0.0), top + span * 0.22)


def _range_figure(columns: Sequence[Mapping[str, Any]]) -> Figure:
    """One row per column on its own min-to-max scale: min and max written at the ends, the
    mean ± std box and mean dot inside, the mean and std as numbers on the right."""
    figure = _new_figure(8.5, max(2.4, 1.4 + 0.5 * len(columns)))
    axes = figure.add_subplot()
    _style(axes)
    for row, column in enumerate(columns):
        _range_row(axes, row, column)
    rows = list(range(len(columns)))
    axes.set_yticks(rows, [_label(str(c.get("name"))) for c in columns])
    axes.set_ylim(len(columns) - 0.4, -0.7)
    axes.set_xlim(-0.03, 1.03)
    axes.set_xticks([0.0, 0.5, 1.0], ["min", "middle", "max"])
    axes.tick_params(axis="y", length=0)
    axes.spines["left"].set_visible(False)
    axes.set_xlabel("position within each column's own range")
    return figure


def _range_row(axes: Axes, row: int, column: Mapping[str, Any]) -> None:
    low, high = _range_of(column) or (0.0, 0.0)
    mean, std = _number(column.get("mean")), _number(column.get("std"))
    span = high - low
    axes.plot([0.0, 1.0], [row, row], color=MUTED, linewidth=2, solid_capstyle="round")
    text_style: dict[str, Any] = {"fontsize": 8, "color": SUBTLE_INK, "va": "bottom"}
    # Above the mean ± std box (height 0.32), so a box spanning the range never hides them.
    axes.text(0.0, row - 0.19, _fmt(low), ha="left", **text_style)
    axes.text(1.0, row - 0.19, _fmt(high), ha="right", **text_style)
    if mean is None:
        return
    at = (mean - low) / span if span else 0.5
    if std is not None and span:
        left, right = max(0.0, at - std / span), min(1.0, at + std / span)
        axes.barh(row, right - left, left=left, height=0.32, color=ACCENT, alpha=0.3)
    axes.plot([at], [row], marker="o", color=ACCENT, markersize=6)
    # Float noise (a standardised column's mean of 1e-17) reads as 0 at the column's scale.
    shown_mean = 0.0 if abs(mean) < (span or abs(mean)) * 1e-9 else mean
    summary = f"mean {_fmt(shown_mean)}" + (f" ± {_fmt(std)}" if std is not None else "")
    axes.text(1.05, row, summary, ha="left", va="center", fontsize=8.5, color=INK, clip_on=False)


def _scatter_style(points: int) -> dict[str, Any]:
    """Smaller, fainter points as they get denser, so overlap reads as darker areas."""
    return {
        "s": 18 if points < 300 else 9,
        "alpha": 0.7 if points < 300 else 0.35,
        "color": ACCENT,
        "edgecolors": "none",
        "zorder": 2,
    }


def _padded_limits(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


def _titles(figure: Figure, axes: Axes, title: str, note: str) -> None:
    figure.suptitle(title, fontsize=13, fontweight="bold", color=INK)
    axes.set_title(note, fontsize=9, color=SUBTLE_INK)


def _message_figure(title: str, message: str) -> Figure:
    """A plot that says there is nothing to draw: an empty chart would look broken."""
    figure = _new_figure(8.0, 2.4)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color=SUBTLE_INK)
    figure.suptitle(title, fontsize=13, fontweight="bold", color=INK)
    return figure


def _save(figure: Figure, out_dir: Path, name: str) -> Path:
    path = out_dir / f"{check_key_part(name, 'plot name')}.png"
    figure.savefig(path, format="png", dpi=DPI, facecolor="white")
    return path


# --- Text ---------------------------------------------------------------------------------


def _label(text: str, limit: int = LABEL_CHARS) -> str:
    """A column name or value fit for a tick label: one line, at most `limit` characters,
    and never read as matplotlib mathtext (a `$` in a name would otherwise start math)."""
    flat = " ".join(text.split())
    short = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return _escape(short)


def _escape(text: str) -> str:
    return text.replace("$", r"\$")


def _value_text(value: object) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, float):
        return _fmt(value)
    return str(value)


def _fmt(value: float) -> str:
    """A number in at most ~4 significant figures, with thousands separators."""
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1e7 or size < 1e-3:
        return f"{value:.3g}"
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def _count(value: int) -> str:
    return f"{value:,}"
