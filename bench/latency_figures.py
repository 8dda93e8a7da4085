"""What bench/latency.py measures, as figures over the runs (median, p95, range by poll
interval), and the tables it prints of them."""

from __future__ import annotations

import os
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Console
from rich.table import Table

console = Console(width=110)


@dataclass
class Series:
    """One measure over the runs, in seconds."""

    name: str
    values: list[float] = field(default_factory=list)

    def add(self, value: float | None) -> None:
        if value is not None:
            self.values.append(value)

    def row(self) -> list[str]:
        if not self.values:
            return [self.name, "0", "-", "-", "-", "-"]
        ordered = sorted(self.values)
        return [
            self.name,
            str(len(ordered)),
            f"{statistics.median(ordered):.2f}",
            f"{p95(ordered):.2f}",
            f"{ordered[0]:.2f}",
            f"{ordered[-1]:.2f}",
        ]


def p95(ordered: Sequence[float]) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    if len(ordered) == 1:
        return ordered[0]
    return statistics.quantiles(ordered, n=20, method="inclusive")[-1]


@dataclass
class StackResult:
    poll_seconds: int
    extra_env: dict[str, str]
    endpoints_seconds: float = 0.0
    deployments_seconds: float = 0.0
    idle_cpu: dict[str, float] = field(default_factory=dict)
    series: dict[str, Series] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    load_averages: list[float] = field(default_factory=list)  # 1-minute, sampled after each run

    def measure(self, path: str, name: str) -> Series:
        """The series `name` of `path` (ingest, train or plots), created on first use."""
        return self.series.setdefault(f"{path}: {name.strip()}", Series(name))


def load_caption(loads: Sequence[float]) -> str:
    """The machine's 1-minute load average over the runs: what else competed for the cores."""
    if not loads:
        return ""
    ordered = sorted(loads)
    return (
        f"load average during the runs: median {statistics.median(ordered):.1f}, "
        f"range {ordered[0]:.1f} to {ordered[-1]:.1f} ({os.cpu_count()} cores)"
    )


def print_results(results: list[StackResult], imports: dict[str, tuple[float, float]]) -> None:
    for result in results:
        if not result.series:
            continue
        extra = " ".join(f"{k}={v}" for k, v in result.extra_env.items())
        table = Table(
            "measure",
            "runs",
            "median s",
            "p95 s",
            "min s",
            "max s",
            title=f"AUTOML_RUNNER_POLL_SECONDS={result.poll_seconds} {extra}".strip(),
            caption=load_caption(result.load_averages),
        )
        for series in result.series.values():
            table.add_row(*series.row())
        console.print(table)
        for failure in result.failures:
            console.print(f"  [red]not counted[/red]: {failure}")
    summary = Table(
        "poll s",
        "endpoints.json s",
        "deployments s",
        "idle CPU automl up %",
        "idle CPU Prefect server %",
        "idle CPU total %",
        title="start-up and idle CPU (% of one core)",
    )
    for result in results:
        cpu = result.idle_cpu
        summary.add_row(
            str(result.poll_seconds),
            f"{result.endpoints_seconds:.1f}",
            f"{result.deployments_seconds:.1f}",
            *(
                f"{cpu[k]:.1f}" if k in cpu else "-"
                for k in ("automl up", "Prefect server", "total")
            ),
        )
    console.print(summary)
    if imports:
        table = Table(
            "import cli, prefect.flow_engine and",
            "wall s",
            "CPU s",
            title="a fresh flow-run process's imports (medians)",
        )
        for module, (wall_s, cpu_s) in imports.items():
            table.add_row(module, f"{wall_s:.2f}", f"{cpu_s:.2f}")
        console.print(table)
