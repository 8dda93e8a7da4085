"""Draws the PNG plots of one training job from its dataset profile and its model metadata.

Pure file rendering (no Prefect, no S3): the `render-plots` flow uploads each file
`render_plots` returns to `plots/{job_id}/{plot_name}.png`. Modules: `render` (which plots,
in which order, skipping what does not apply), `profile_figures`, `evaluation_figures` and
`search_figures` (the figures), `canvas` (one style, no pyplot), `inputs` and `text`.

Inputs:

profile -- `tasks.profiling.profile_parquet`'s result, read defensively (a missing or malformed
piece skips only the plots that need it)::

    {"row_count": int, "column_count": int,
     "columns": [{"name": str, "type": str,
                  "kind": "numeric" | "string" | "boolean" | "temporal" | "other",
                  "null_count": int, "distinct_count": int,
                  "min": number | str | None, "max": ..., "mean": float | None,
                  "std": float | None,
                  "top_values": [{"value": Any, "count": int}]}],
     "notes": [str]}  # what profiling skipped for width (top values past 1,000 columns)

metadata -- the model's `metadata.json` as `tasks.training.metadata.ModelMetadata`, the typed
document `train-model` writes (read with `ModelMetadata.from_json`).

Raw data values are not an input: the numeric distributions are drawn from the profile's
min/max/mean/std (a range chart, not a histogram), and the regression target's histogram from
the held-out actual values in the evaluation.
"""

from tasks.plots.inputs import PlotSkipped
from tasks.plots.render import (
    CANDIDATE_SCORES,
    COLUMN_TYPES,
    CONFUSION_MATRIX,
    FEATURE_IMPORTANCE,
    NULL_COUNTS,
    NUMERIC_DISTRIBUTIONS,
    PLOT_NAMES,
    PREDICTED_VS_ACTUAL,
    RESIDUALS,
    TARGET_DISTRIBUTION,
    render_plots,
)

__all__ = [
    "CANDIDATE_SCORES",
    "COLUMN_TYPES",
    "CONFUSION_MATRIX",
    "FEATURE_IMPORTANCE",
    "NULL_COUNTS",
    "NUMERIC_DISTRIBUTIONS",
    "PLOT_NAMES",
    "PREDICTED_VS_ACTUAL",
    "RESIDUALS",
    "TARGET_DISTRIBUTION",
    "PlotSkipped",
    "render_plots",
]
