"""The progress bar of a transfer (`automl upload`, `automl datasets download`): bytes done,
speed and time left, drawn on stderr so stdout stays the command's answer."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console

if TYPE_CHECKING:
    from rich.progress import Progress


def transfer_bar(console: Console, *, transient: bool) -> Progress:
    """One builder so both transfers look alike; rich.progress is imported only when a
    transfer starts, keeping it out of every other command's start-up."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    return Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=transient,
    )
