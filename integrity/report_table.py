"""The table `automl fsck` prints (its JSON is the report itself)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from integrity.findings import Finding, FsckReport


def print_report(console: Console, report: FsckReport, repair: bool) -> None:
    """What `automl fsck` prints without --json: the counts checked, then a table of what was
    repaired (with --repair) and of the differences left."""
    checked = ", ".join(f"{count} {what}" for what, count in report.checked.items())
    console.print(f"checked: {checked}", highlight=False, soft_wrap=True)
    if repair:
        _print_findings(console, "repaired", report.repaired)
    if report.clean:
        console.print("clean: the catalog and the bucket agree", highlight=False)
        return
    _print_findings(console, "differences", report.findings)
    repairable = sum(finding.repairable for finding in report.findings)
    console.print(
        f"{len(report.findings)} differences"
        + (f", {repairable} repairable with --repair" if repairable and not repair else ""),
        highlight=False,
    )


def _print_findings(console: Console, title: str, findings: list[Finding]) -> None:
    if not findings:
        return
    table = Table(title=title)
    table.add_column("kind", no_wrap=True)
    table.add_column("key", overflow="fold")
    table.add_column("record", overflow="fold")
    table.add_column("user", overflow="fold")
    table.add_column("detail", ratio=1)
    table.add_column("repair", no_wrap=True)
    for finding in findings:
        table.add_row(
            finding.kind,
            finding.key or "",
            finding.record or "",
            finding.user_id or "",
            finding.detail,
            "yes" if finding.repairable else "no",
        )
    console.print(table)
