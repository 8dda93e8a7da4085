"""The table bench/ingest.py prints: each job's medians and ranges, and its ratio to bare polars
in the same rounds (wall, CPU, and the in-process work without start-up)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from bench.child_runs import Measurement
from bench.ingest_jobs import BARE, OURS


@dataclass
class Row:
    size_text: str
    size: int
    rows: int
    label: str
    runs: list[Measurement]

    @property
    def median(self) -> float:
        return statistics.median(run.seconds for run in self.runs)

    def span(self, values: list[float], digits: int = 1) -> str:
        if len(values) == 1:
            return f"{values[0]:.{digits}f}"
        return (
            f"{statistics.median(values):.{digits}f} "
            f"({min(values):.{digits}f}-{max(values):.{digits}f})"
        )


def print_table(table: list[Row]) -> None:
    print()
    print(
        "| file | rows | job | wall s, median (range) | MB/s | CPU s, median | peak RSS MB (max) "
        "| wall vs bare polars, median (same-round range) | CPU vs bare polars | exit "
        "| store peak RSS MB (max) | store CPU s, median | staging upload s, median |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    bare = {row.size_text: row for row in table if row.label == BARE}
    for row in table:
        baseline = bare.get(row.size_text)
        cpu = statistics.median(run.cpu_seconds for run in row.runs)
        ratio = cpu_ratio = "n/a"
        if baseline is not None:
            per_round = [
                mine.seconds / theirs.seconds
                for mine, theirs in zip(row.runs, baseline.runs, strict=False)
            ]
            ratio = f"{row.median / baseline.median:.2f}x"
            if len(per_round) > 1:
                ratio += f" ({min(per_round):.2f}-{max(per_round):.2f})"
            baseline_cpu = statistics.median(run.cpu_seconds for run in baseline.runs)
            cpu_ratio = f"{cpu / baseline_cpu:.2f}x"
        exits = ",".join(sorted({str(run.returncode) for run in row.runs}))
        print(
            f"| {_file_label(row)} | {row.rows:,} | {row.label} "
            f"| {row.span([run.seconds for run in row.runs])} | {row.size / 1e6 / row.median:.0f} "
            f"| {cpu:.1f} | {max(run.peak_rss_mb for run in row.runs):,.0f} | {ratio} "
            f"| {cpu_ratio} | {exits} | {_store_columns(row.runs)} |"
        )
    print()
    # The same ratio without process start-up and imports: the work done after them.
    for row in table:
        baseline = bare.get(row.size_text)
        if row.label != OURS or baseline is None or not row.runs[0].phases:
            continue
        parts = ", ".join(
            f"{phase} {row.span([run.phases[phase] for run in row.runs])} s"
            for phase in row.runs[0].phases
        )
        ours = [sum(run.phases.values()) for run in row.runs]
        theirs = [run.phases.get("conversion", float("nan")) for run in baseline.runs]
        ratios = [mine / bare_work for mine, bare_work in zip(ours, theirs, strict=False)]
        median_ratio = statistics.median(ours) / statistics.median(theirs)
        print(
            f"{row.size_text}, in-process work: ours {parts}; bare polars "
            f"{baseline.span(theirs)} s; ratio {median_ratio:.2f}x "
            f"(same-round {min(ratios):.2f}-{max(ratios):.2f})"
        )
    loads = [run.load for row in table for run in row.runs]
    print(f"\nload average (1 min) at the start of each job: {min(loads):.1f}-{max(loads):.1f}")


def _store_columns(runs: list[Measurement]) -> str:
    """The store's peak RSS, CPU and the staging upload's time, for flow rows; "" for others."""
    if not runs[0].store:
        return " | | "
    peak = max(run.store["peak_rss_mb"] for run in runs)
    cpu = statistics.median(run.store["cpu_seconds"] for run in runs)
    upload = statistics.median(run.store["upload_seconds"] for run in runs)
    return f"{peak:,.0f} | {cpu:.1f} | {upload:.1f}"


def _file_label(row: Row) -> str:
    """Sized files by their size; wide files by their columns, the figure that matters."""
    if row.size_text.endswith("columns"):
        return f"{row.size_text}, {row.size / 1e6:.1f} MB"
    if row.size < 10**9:
        return f"{row.size / 1e6:,.0f} MB"
    return f"{row.size / 1e9:.2f} GB"
