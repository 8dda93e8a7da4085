"""The profile plots of a 20,000-column dataset stay readable (issue 15): each draws at most its
cap of columns and says how many of how many it shows."""

from __future__ import annotations

from typing import Any

from tasks import plots
from tasks.plots import PLOT_NAMES, profile_figures
from tasks.plots.inputs import PlotInputs
from tasks.training.metadata import ModelMetadata
from tests.support.plot_inputs import numeric_column
from tests.tasks.test_plots import NOT_PLOTTED, render

WIDTH = 20_000


def wide(classification: tuple[dict[str, Any], dict[str, Any]]) -> PlotInputs:
    profile, metadata = classification
    profile["columns"] += [numeric_column(f"gene_{i}", nulls=i % 7) for i in range(WIDTH)]
    profile["column_count"] = len(profile["columns"])
    return PlotInputs(profile, ModelMetadata.from_document(NOT_PLOTTED | metadata))


def subtitle(figure: Any) -> str:
    return str(figure.axes[0].get_title())


def test_missing_values_of_20000_columns_draw_the_worst_20(classification):
    figure = profile_figures.null_counts(wide(classification))
    assert len(figure.axes[0].patches) == profile_figures.MAX_BARS
    assert "of 20,004 columns have missing values" in subtitle(figure)
    assert f"the {profile_figures.MAX_BARS} with the most are shown" in subtitle(figure)


def test_numeric_ranges_of_20000_columns_draw_at_most_the_cap(classification):
    figure = profile_figures.numeric_distributions(wide(classification))
    labels = [t.get_text() for t in figure.axes[0].get_yticklabels() if t.get_text()]
    assert len(labels) == profile_figures.MAX_NUMERIC_COLUMNS
    assert f"{profile_figures.MAX_NUMERIC_COLUMNS} of 20,002 numeric columns shown" in subtitle(
        figure
    )


def test_column_types_of_20000_columns_are_counted_not_drawn_one_by_one(classification):
    figure = profile_figures.column_types(wide(classification))
    assert len(figure.axes[0].patches) == 2  # numeric and text
    assert "20,004 columns" in subtitle(figure)


def test_every_plot_of_a_20000_column_profile_renders(classification, tmp_path):
    profile, metadata = classification
    profile["columns"] += [numeric_column(f"gene_{i}", nulls=1) for i in range(WIDTH)]
    written = render(profile, metadata, tmp_path)
    assert set(written) <= set(PLOT_NAMES)
    assert {plots.NULL_COUNTS, plots.NUMERIC_DISTRIBUTIONS, plots.COLUMN_TYPES} <= set(written)
