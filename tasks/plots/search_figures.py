"""Plots of how the model was chosen: which columns it relies on (permutation importance) and
every candidate the search tried, the chosen one highlighted."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from matplotlib.figure import Figure

from tasks.plots.canvas import ACCENT, HIGHLIGHT, INK, MUTED, bar_figure, barh, titles
from tasks.plots.inputs import PlotInputs, PlotSkipped, importances, number
from tasks.plots.text import fmt, label, metric_label

MAX_BARS: Final = 20


def feature_importance(inputs: PlotInputs) -> Figure:
    """Which columns the chosen model relies on: the score lost when a column is shuffled."""
    block = inputs.metadata.evaluation.feature_importance
    features = importances(inputs.metadata)
    if not features:
        raise PlotSkipped("the metadata has no feature importance")
    shown = features[:MAX_BARS]
    scoring = metric_label(block.scoring)
    values = [value for _, value, _ in shown]
    figure, axes = bar_figure(len(shown))
    colors = [ACCENT if value > 0 else MUTED for value in values]
    barh(
        axes,
        [label(name) for name, _, _ in shown],
        values,
        [fmt(v) for v in values],
        colors=colors,
        errors=[std for _, _, std in shown],
    )
    axes.axvline(0.0, color=INK, linewidth=0.8)
    axes.set_xlabel(f"drop in {scoring} when the column is shuffled")
    repeats = block.n_repeats
    note = "permutation importance on held-out rows"
    if repeats > 1:
        note += f"; bars = mean, whiskers = ± 1 std over {repeats} shuffles"
    elif repeats == 1:
        note += " (one shuffle per column)"
    if len(features) > len(shown):
        note += f"\nthe {len(shown)} most important of {len(features)} columns"
    titles(figure, axes, "Feature importance", note)
    return figure


@dataclass(frozen=True)
class _Candidate:
    name: str
    score: float | None
    fit_seconds: float | None
    status: str


def candidate_scores(inputs: PlotInputs) -> Figure:
    """Every pipeline the search tried with its cross-validated score and fit time, the chosen
    one highlighted: shows how clear the win was and what the budget cut short."""
    candidates = [
        _Candidate(c.name, number(c.cv_score), number(c.fit_seconds), c.status)
        for c in inputs.metadata.candidates
    ]
    if not candidates:
        raise PlotSkipped("the metadata lists no candidates")
    chosen = inputs.metadata.chosen.name
    # Best first; on a tie the chosen one leads, as the search kept it over its equals.
    scored = sorted(
        (c for c in candidates if c.score is not None),
        key=lambda c: (-(c.score or 0.0), c.name != chosen),
    )
    ordered = (scored + [c for c in candidates if c.score is None])[:MAX_BARS]
    scores = [c.score if c.score is not None else 0.0 for c in ordered]
    colors = [HIGHLIGHT if c.name == chosen else ACCENT for c in ordered]
    names = [label(c.name) + ("  (chosen)" if c.name == chosen else "") for c in ordered]
    figure, axes = bar_figure(len(ordered))
    barh(axes, names, scores, [_candidate_note(c) for c in ordered], colors=colors)
    for tick, candidate in zip(axes.get_yticklabels(), ordered, strict=True):
        if candidate.name == chosen:
            tick.set_fontweight("bold")
    if any(s < 0 for s in scores):
        axes.axvline(0.0, color=INK, linewidth=0.8)
    scoring = metric_label(inputs.metadata.selection_metric)
    axes.set_xlabel(f"cross-validated {scoring} (mean over folds; higher is better)")
    note = f"{len(scored)} of {len(candidates)} candidates scored; label = score · fit time"
    titles(figure, axes, "Model candidates", note)
    return figure


def _candidate_note(candidate: _Candidate) -> str:
    if candidate.score is None:
        return candidate.status if candidate.status != "completed" else "no score"
    text = fmt(candidate.score)
    if candidate.fit_seconds is not None:
        seconds = candidate.fit_seconds
        text += " · <0.1 s" if seconds < 0.05 else f" · {seconds:.1f} s"
    return text
