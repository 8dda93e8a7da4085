"""The words and numbers on the plots: labels fit for a tick, numbers in about four significant
figures, metric names as a person reads them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Final

from tasks.plots.inputs import number

LABEL_CHARS: Final = 28

_METRIC_LABELS: Final = {
    "r2": "R²",
    "rmse": "RMSE",
    "mae": "MAE",
    "f1_macro": "F1 macro",
    "accuracy": "accuracy",
    "roc_auc": "ROC AUC",
}


def label(text: str, limit: int = LABEL_CHARS) -> str:
    """A column name or value fit for a tick label: one line, at most `limit` characters,
    and never read as matplotlib mathtext (a `$` in a name would otherwise start math)."""
    flat = " ".join(text.split())
    short = flat if len(flat) <= limit else flat[: limit - 1] + "…"
    return escape(short)


def escape(text: str) -> str:
    return text.replace("$", r"\$")


def value_text(value: object) -> str:
    if value is None:
        return "(missing)"
    if isinstance(value, float):
        return fmt(value)
    return str(value)


def fmt(value: float) -> str:
    """A number in at most ~4 significant figures, with thousands separators."""
    size = abs(value)
    if size == 0:
        return "0"
    if size >= 1e7 or size < 1e-3:
        return f"{value:.3g}"
    if size >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def count(value: int) -> str:
    return f"{value:,}"


def metric_label(name: str) -> str:
    """A scikit-learn scorer name as a person reads it (`f1_macro` -> `F1 macro`)."""
    return _METRIC_LABELS.get(name, escape(name.replace("_", " ")))


def metric_note(metrics: Mapping[str, float | None], names: Sequence[str]) -> str:
    """`; R² 0.81, RMSE 10.5` for the named metrics that have a value, else nothing."""
    parts = [
        f"{metric_label(name)} {fmt(value)}"
        for name in names
        if (value := number(metrics.get(name))) is not None
    ]
    return ("; " + ", ".join(parts)) if parts else ""
