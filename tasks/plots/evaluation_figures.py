"""Plots of what the model learned and how it does on held-out rows: the target's
distribution, the confusion matrix of a classifier, predicted vs actual and residuals of a
regressor."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Final

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tasks.plots.canvas import (
    ACCENT,
    GRID,
    HIGHLIGHT,
    INK,
    MUTED,
    SUBTLE_INK,
    bar_figure,
    barh,
    new_figure,
    padded_limits,
    plain_figure,
    range_figure,
    scatter_style,
    titles,
)
from tasks.plots.inputs import (
    PlotInputs,
    PlotSkipped,
    as_int,
    confusion,
    pairs,
    profile_columns,
    range_of,
    top_values,
)
from tasks.plots.text import fmt, label, metric_note, value_text

MAX_BARS: Final = 20
MAX_CLASSES: Final = 20


def target_distribution(inputs: PlotInputs) -> Figure:
    """What the model learned to predict: class counts, or the spread of the target value."""
    target = inputs.metadata.target
    if not target:
        raise PlotSkipped("the metadata names no target")
    column = next((c for c in profile_columns(inputs.profile) if c.get("name") == target), None)
    if inputs.metadata.task_type == "classification":
        return _class_distribution(inputs, target, column)
    actual = [a for a, _ in pairs(inputs.metadata)]
    if actual:
        return _target_histogram(target, actual)
    if column is not None and range_of(column) is not None:
        figure = range_figure([column])
        titles(
            figure,
            figure.axes[0],
            f"Target: {label(target)}",
            "line = min to max, box = mean ± 1 std, dot = mean; from the dataset profile",
        )
        return figure
    raise PlotSkipped(f"neither the profile nor the evaluation describes target {target!r}")


def confusion_matrix(inputs: PlotInputs) -> Figure:
    """Where the classifier is right and which classes it confuses. Colour is the share of the
    actual class (row), so a small class is as readable as a large one; cells give counts."""
    if inputs.metadata.task_type != "classification":
        raise PlotSkipped("not a classification model")
    all_labels, full = confusion(inputs.metadata)
    order = sorted(range(len(all_labels)), key=lambda i: -sum(full[i]))[:MAX_CLASSES]
    order.sort()
    labels = [all_labels[i] for i in order]
    matrix = [[full[i][j] for j in order] for i in order]
    size = len(labels)
    side = min(11.0, max(4.8, 0.6 * size + 2.6))
    figure = new_figure(side + 1.0, side)
    axes = figure.add_subplot()
    shares = [[cell / max(sum(row), 1) for cell in row] for row in matrix]
    image = axes.imshow(shares, cmap=matplotlib.colormaps["Blues"], vmin=0.0, vmax=1.0)
    _annotate_cells(axes, matrix, shares)
    ticks = list(range(size))
    names = [label(str(name), 18) for name in labels]
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
    note = f"held-out rows (n={total:,})" + metric_note(
        inputs.metadata.metrics, ("accuracy", "f1_macro")
    )
    if len(labels) < len(all_labels):
        note += f"\nthe {len(labels)} most frequent of {len(all_labels)} classes"
    titles(figure, axes, "Confusion matrix", note)
    return figure


def predicted_vs_actual(inputs: PlotInputs) -> Figure:
    """Held-out predictions against the truth: points on the diagonal are perfect."""
    held_out, target = _regression_pairs(inputs)
    actual, predicted = [a for a, _ in held_out], [p for _, p in held_out]
    figure, axes = plain_figure(6.0, 5.6)
    low, high = padded_limits(actual + predicted)
    axes.plot([low, high], [low, high], linestyle="--", color=MUTED, linewidth=1.2, zorder=1)
    axes.scatter(actual, predicted, **scatter_style(len(held_out)))
    axes.set_xlim(low, high)
    axes.set_ylim(low, high)
    axes.set_aspect("equal", adjustable="box")
    axes.set_xlabel(f"actual {target}")
    axes.set_ylabel(f"predicted {target}")
    note = f"held-out rows (n={len(held_out):,}); dashed line = perfect prediction"
    titles(
        figure,
        axes,
        "Predicted vs actual",
        note + metric_note(inputs.metadata.metrics, ("r2", "rmse", "mae")),
    )
    return figure


def residuals(inputs: PlotInputs) -> Figure:
    """Errors against the prediction: a funnel or a curve here means the model is biased for
    some range of values even when the overall score looks good."""
    held_out, target = _regression_pairs(inputs)
    predicted = [p for _, p in held_out]
    errors = [a - p for a, p in held_out]
    figure, axes = plain_figure(7.0, 4.6)
    axes.axhline(0.0, linestyle="--", color=MUTED, linewidth=1.2, zorder=1)
    axes.scatter(predicted, errors, **scatter_style(len(held_out)))
    bound = max(abs(e) for e in errors) * 1.08 or 1.0
    axes.set_ylim(-bound, bound)
    axes.set_xlabel(f"predicted {target}")
    axes.set_ylabel(f"residual: actual - predicted\n({target})")
    titles(
        figure,
        axes,
        "Residuals",
        f"held-out rows (n={len(held_out):,}); an even band around 0 means no systematic error",
    )
    return figure


def _regression_pairs(inputs: PlotInputs) -> tuple[list[tuple[float, float]], str]:
    """The held-out (actual, predicted) pairs of a regression and its target as a label."""
    if inputs.metadata.task_type != "regression":
        raise PlotSkipped("not a regression model")
    held_out = pairs(inputs.metadata)
    if not held_out:
        raise PlotSkipped("the evaluation has no actual/predicted pairs")
    return held_out, label(inputs.metadata.target or "target")


def _class_distribution(
    inputs: PlotInputs, target: str, column: Mapping[str, Any] | None
) -> Figure:
    """Class counts from the whole dataset when the profile counted them (text and boolean
    targets), else from the held-out split's confusion matrix (integer class labels)."""
    counts, note = _class_counts(inputs, column)
    total = sum(count for _, count in counts)
    if not counts or total <= 0:
        raise PlotSkipped(f"no class counts for target {target!r}")
    figure, axes = bar_figure(len(counts))
    labels = [f"{count:,} ({100 * count / total:.1f}%)" for _, count in counts]
    colors = [MUTED if name.startswith("(") else ACCENT for name, _ in counts]
    barh(axes, [name for name, _ in counts], [c for _, c in counts], labels, colors=colors)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:,.0f}"))
    axes.set_xlabel("rows")
    titles(figure, axes, f"Target: {label(target)}", note)
    return figure


def _class_counts(
    inputs: PlotInputs, column: Mapping[str, Any] | None
) -> tuple[list[tuple[str, int]], str]:
    top = top_values(column) if column is not None else []
    if top:
        counts = [(label(value_text(value)), count) for value, count in top[:MAX_BARS]]
        rows, nulls = (
            as_int(inputs.profile.get("row_count")),
            as_int(column and column.get("null_count")),
        )
        rest = (rows or 0) - (nulls or 0) - sum(count for _, count in counts)
        others = (as_int(column and column.get("distinct_count")) or 0) - len(counts)
        if rest > 0:
            counts.append((f"({others:,} other values)" if others > 1 else "(other values)", rest))
        return counts, f"whole dataset ({sum(c for _, c in counts):,} rows with a value)"
    labels, matrix = confusion(inputs.metadata)
    counts = sorted(
        ((label(value_text(name)), sum(row)) for name, row in zip(labels, matrix, strict=True)),
        key=lambda item: -item[1],
    )
    total = sum(c for _, c in counts)
    return counts[:MAX_BARS], f"held-out split ({total:,} rows); the profile has no class counts"


def _target_histogram(target: str, actual: Sequence[float]) -> Figure:
    figure, axes = plain_figure(7.0, 4.2)
    bins = int(min(40, max(8, math.sqrt(len(actual)))))
    axes.hist(actual, bins=bins, color=ACCENT, edgecolor="white", linewidth=0.6)
    axes.set_xlabel(label(target))
    axes.set_ylabel("rows")
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(axis="y", color=GRID)
    axes.grid(axis="x", visible=False)
    mean = sum(actual) / len(actual)
    axes.axvline(mean, color=HIGHLIGHT, linewidth=1.5, label=f"mean {fmt(mean)}")
    axes.legend(frameon=False, fontsize=9)
    titles(figure, axes, f"Target: {label(target)}", f"held-out rows (n={len(actual):,})")
    return figure


def _annotate_cells(axes: Axes, matrix: list[list[int]], shares: list[list[float]]) -> None:
    size = len(matrix)
    fontsize = 10 if size <= 6 else 8 if size <= 12 else 6
    for i, row in enumerate(matrix):
        for j, count in enumerate(row):
            text = f"{count:,}" if size > 8 else f"{count:,}\n{100 * shares[i][j]:.0f}%"
            color = "white" if shares[i][j] > 0.55 else INK
            axes.text(j, i, text, ha="center", va="center", color=color, fontsize=fontsize)
