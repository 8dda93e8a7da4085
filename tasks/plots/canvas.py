"""One style for every plot: figures on their own Agg canvas (never pyplot, so no global
backend or figure registry: safe in threads), the palette, and the chart shapes the plots
share (horizontal bars, range rows, scatter, titles, a message instead of an empty chart)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from core.keys import check_key_part
from tasks.plots.inputs import number, range_of
from tasks.plots.text import fmt, label

DPI: Final = 120

# One palette for every plot: a blue for data, an orange for the one thing to notice
# (the chosen model), greys for context.
ACCENT: Final = "#3a6ea5"
HIGHLIGHT: Final = "#e07b39"
MUTED: Final = "#a3acb9"
INK: Final = "#1f2933"
SUBTLE_INK: Final = "#52606d"
GRID: Final = "#e4e7eb"


def new_figure(width: float, height: float) -> Figure:
    """A figure on its own Agg canvas: no pyplot, no global backend, safe in threads."""
    figure = Figure(figsize=(width, height), dpi=DPI, layout="constrained", facecolor="white")
    FigureCanvasAgg(figure)
    return figure


def plain_figure(width: float, height: float) -> tuple[Figure, Axes]:
    figure = new_figure(width, height)
    axes = figure.add_subplot()
    style(axes)
    axes.grid(color=GRID, linewidth=0.8)
    return figure, axes


def bar_figure(bars: int) -> tuple[Figure, Axes]:
    """A horizontal bar chart sized to its bars, so long column names stay readable."""
    figure = new_figure(8.0, max(2.6, 1.5 + 0.34 * bars))
    axes = figure.add_subplot()
    style(axes)
    axes.grid(axis="x", color=GRID, linewidth=0.8)
    return figure, axes


def style(axes: Axes) -> None:
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)
    for side in ("left", "bottom"):
        axes.spines[side].set_color(MUTED)
    axes.tick_params(colors=SUBTLE_INK, labelcolor=INK, labelsize=9)
    axes.xaxis.label.set_color(INK)
    axes.yaxis.label.set_color(INK)


def barh(
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
    for position, end, text in zip(positions, reach, labels, strict=True):
        axes.text(end + span * 0.01, position, text, va="center", fontsize=8.5, color=SUBTLE_INK)
    axes.set_xlim(bottom - (span * 0.02 if bottom < 0 else 0.0), top + span * 0.22)


def range_figure(columns: Sequence[Mapping[str, Any]]) -> Figure:
    """One row per column on its own min-to-max scale: min and max written at the ends, the
    mean ± std box and mean dot inside, the mean and std as numbers on the right."""
    figure = new_figure(8.5, max(2.4, 1.4 + 0.5 * len(columns)))
    axes = figure.add_subplot()
    style(axes)
    for row, column in enumerate(columns):
        _range_row(axes, row, column)
    rows = list(range(len(columns)))
    axes.set_yticks(rows, [label(str(c.get("name"))) for c in columns])
    axes.set_ylim(len(columns) - 0.4, -0.7)
    axes.set_xlim(-0.03, 1.03)
    axes.set_xticks([0.0, 0.5, 1.0], ["min", "middle", "max"])
    axes.tick_params(axis="y", length=0)
    axes.spines["left"].set_visible(False)
    axes.set_xlabel("position within each column's own range")
    return figure


def _range_row(axes: Axes, row: int, column: Mapping[str, Any]) -> None:
    low, high = range_of(column) or (0.0, 0.0)
    mean, std = number(column.get("mean")), number(column.get("std"))
    span = high - low
    axes.plot([0.0, 1.0], [row, row], color=MUTED, linewidth=2, solid_capstyle="round")
    text_style: dict[str, Any] = {"fontsize": 8, "color": SUBTLE_INK, "va": "bottom"}
    # Above the mean ± std box (height 0.32), so a box spanning the range never hides them.
    axes.text(0.0, row - 0.19, fmt(low), ha="left", **text_style)
    axes.text(1.0, row - 0.19, fmt(high), ha="right", **text_style)
    if mean is None:
        return
    at = (mean - low) / span if span else 0.5
    if std is not None and span:
        left, right = max(0.0, at - std / span), min(1.0, at + std / span)
        axes.barh(row, right - left, left=left, height=0.32, color=ACCENT, alpha=0.3)
    axes.plot([at], [row], marker="o", color=ACCENT, markersize=6)
    # Float noise (a standardised column's mean of 1e-17) reads as 0 at the column's scale.
    shown_mean = 0.0 if abs(mean) < (span or abs(mean)) * 1e-9 else mean
    summary = f"mean {fmt(shown_mean)}" + (f" ± {fmt(std)}" if std is not None else "")
    axes.text(1.05, row, summary, ha="left", va="center", fontsize=8.5, color=INK, clip_on=False)


def scatter_style(points: int) -> dict[str, Any]:
    """Smaller, fainter points as they get denser, so overlap reads as darker areas."""
    return {
        "s": 18 if points < 300 else 9,
        "alpha": 0.7 if points < 300 else 0.35,
        "color": ACCENT,
        "edgecolors": "none",
        "zorder": 2,
    }


def padded_limits(values: Sequence[float]) -> tuple[float, float]:
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or abs(high) * 0.05 or 1.0
    return low - pad, high + pad


def titles(figure: Figure, axes: Axes, title: str, note: str) -> None:
    figure.suptitle(title, fontsize=13, fontweight="bold", color=INK)
    axes.set_title(note, fontsize=9, color=SUBTLE_INK)


def message_figure(title: str, message: str) -> Figure:
    """A plot that says there is nothing to draw: an empty chart would look broken."""
    figure = new_figure(8.0, 2.4)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.text(0.5, 0.5, message, ha="center", va="center", fontsize=11, color=SUBTLE_INK)
    figure.suptitle(title, fontsize=13, fontweight="bold", color=INK)
    return figure


def save(figure: Figure, out_dir: Path, name: str) -> Path:
    path = out_dir / f"{check_key_part(name, 'plot name')}.png"
    figure.savefig(path, format="png", dpi=DPI, facecolor="white")
    return path
