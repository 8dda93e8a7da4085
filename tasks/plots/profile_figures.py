"""Plots of the dataset profile: column types, missing values, numeric ranges.

The profile holds no raw values: numeric distributions are drawn from each column's
min/max/mean/std (a range chart, not a histogram)."""

from __future__ import annotations

from typing import Final

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator

from tasks.plots.canvas import bar_figure, barh, message_figure, range_figure, titles
from tasks.plots.inputs import (
    PlotInputs,
    PlotSkipped,
    as_int,
    by_importance,
    importance_order,
    profile_columns,
    range_of,
)
from tasks.plots.text import count, label

MAX_BARS: Final = 20
MAX_NUMERIC_COLUMNS: Final = 15

KIND_LABELS: Final = {
    "numeric": "numeric",
    "string": "text",
    "boolean": "boolean",
    "temporal": "date / time",
    "other": "other",
}


def column_types(inputs: PlotInputs) -> Figure:
    """How many columns of each kind: tells at a glance what the model had to encode."""
    columns = profile_columns(inputs.profile)
    counts: dict[str, int] = {}
    for column in columns:
        kind = KIND_LABELS.get(str(column.get("kind")), "other")
        counts[kind] = counts.get(kind, 0) + 1
    kinds = [k for k in KIND_LABELS.values() if k in counts]
    values = [counts[k] for k in kinds]
    figure, axes = bar_figure(len(kinds))
    barh(axes, kinds, values, [count(v) for v in values])
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_xlabel("columns")
    rows = as_int(inputs.profile.get("row_count"))
    titles(
        figure,
        axes,
        "Column types",
        f"{len(columns):,} columns" + (f", {rows:,} rows" if rows is not None else ""),
    )
    return figure


def null_counts(inputs: PlotInputs) -> Figure:
    """Missing values per column as a share of rows, worst first: imputation hides them from
    the model, so the plot is where a person sees them."""
    columns = profile_columns(inputs.profile)
    rows = as_int(inputs.profile.get("row_count"))
    if not rows:
        raise PlotSkipped("the profile has no rows")
    missing = [
        (str(c.get("name")), nulls)
        for c in columns
        if (nulls := as_int(c.get("null_count"))) is not None and nulls > 0
    ]
    if not missing:
        return message_figure(
            "Missing values", f"No missing values in any of the {len(columns):,} columns."
        )
    missing.sort(key=lambda item: -item[1])
    shown = missing[:MAX_BARS]
    names = [label(name) for name, _ in shown]
    shares = [100 * nulls / rows for _, nulls in shown]
    figure, axes = bar_figure(len(shown))
    barh(
        axes, names, shares, [f"{n:,} ({s:.1f}%)" for (_, n), s in zip(shown, shares, strict=True)]
    )
    axes.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}%"))
    axes.set_xlabel("missing values (% of rows)")
    note = f"{len(missing):,} of {len(columns):,} columns have missing values ({rows:,} rows)"
    if len(missing) > len(shown):
        note += f"; the {len(shown)} with the most are shown"
    titles(figure, axes, "Missing values per column", note)
    return figure


def numeric_distributions(inputs: PlotInputs) -> Figure:
    """Range, mean and spread of the numeric columns, most important first. The profile holds
    no raw values, so this is a range chart on each column's own min-to-max scale rather than
    a histogram: it shows skew (mean off-centre) and spread, not shape."""
    target = inputs.metadata.target
    numeric = [
        c
        for c in profile_columns(inputs.profile)
        if c.get("kind") == "numeric" and c.get("name") != target and range_of(c) is not None
    ]
    if not numeric:
        raise PlotSkipped("the profile has no numeric feature column with a min and max")
    order = importance_order(inputs.metadata)
    ranked = by_importance(numeric, order)
    shown = ranked[:MAX_NUMERIC_COLUMNS]
    figure = range_figure(shown)
    note = "line = min to max, box = mean ± 1 std, dot = mean; from the dataset profile"
    if len(ranked) > len(shown):
        note += f"\n{len(shown)} of {len(ranked):,} numeric columns shown"
        note += ", the most important first" if order else ""
    titles(figure, figure.axes[0], "Numeric columns: range, mean and spread", note)
    return figure
