"""What a command tells a person when the API refuses: one line per HTTP status, saying what to
do, and the exit code. The one mapping every client command uses (`automl upload`,
`automl datasets`, `automl usage`), and the one `error:` line with its exit code every command
(`automl` and its subcommands) ends with."""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

from core.errors import AutomlError, UploadError
from core.settings import Settings, get_settings

# Exit code of a refusal or failure while running (docs/spec.md §6; 2 is a bad argument).
FAILURE_EXIT = 1

# What to do after each refusal; the API's own sentence (why) comes first on the line.
WHAT_TO_DO: dict[int, str] = {
    401: "set AUTOML_TOKEN (or pass --token -) to a live token; `automl token create` makes one",
    404: "check the id with `automl datasets list` (another user's ids are not found either)",
    409: "wait until the version or upload is ready (`automl datasets show ID`), then run it again",
    410: "the upload expired; start it again with `automl upload FILE --name NAME`",
    413: "the file is over your tier's size limit; split it or ask for a larger tier",
    422: "the stored file differs from what was declared; upload the file again",
    429: "too many uploads or jobs are unfinished; wait for one to end, then run it again",
    507: "your quota is full; see `automl usage`, then free space with "
    "`automl datasets delete ID --permanent`",
}

errors = Console(stderr=True)


def error_line(exc: UploadError) -> str:
    """The one line for a refusal: the API's reason, then what to do about it."""
    advice = WHAT_TO_DO.get(exc.status) if exc.status is not None else None
    return f"{exc.message}: {advice}" if advice else exc.message


def fail_with(exc: UploadError) -> NoReturn:
    """Prints `error_line` on stderr and exits non-zero."""
    errors.print(f"[red]error:[/red] {escape(error_line(exc))}", highlight=False, soft_wrap=True)
    raise typer.Exit(FAILURE_EXIT)


def fail(message: str, code: int = 2) -> NoReturn:
    """`error: message` on stderr and exit `code` (2: a bad argument or setting)."""
    errors.print(f"[red]error:[/red] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def load_settings_or_fail() -> Settings:
    """The settings, or the one line naming the bad variable: every command reads them first."""
    try:
        return get_settings()
    except AutomlError as exc:
        fail(exc.message)
