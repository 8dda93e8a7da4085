"""`automl upload`: a file to the API with a progress bar, parts in parallel, resumable after a
failure or a killed process, then the version's profile once it is ingested."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli_accounts import api_url_and_token
from cli_errors import fail, fail_with
from cli_progress import transfer_bar
from core.errors import AutomlError, UploadError

console = Console()
errors = Console(stderr=True)

WAIT_SECONDS = 600.0  # how long `automl upload` follows the version to `ready` or `failed`
SUMMARY_COLUMNS = 8  # columns of the profile shown; `GET .../versions/{id}` has them all


def _resume_hint(upload_id: str, file: Path, name: str) -> str:
    return f"automl upload --resume {upload_id} {file} --name {name}"


def _print_summary(version: dict[str, Any]) -> None:
    """The profile in a few lines: counts, then the first columns with their types."""
    profile = version.get("profile") or {}
    rows, columns = profile.get("row_count"), profile.get("column_count")
    console.print(f"{version['status']}: {rows:,} rows, {columns:,} columns", highlight=False)
    table = Table("column", "type", "nulls", title=None)
    for column in (profile.get("columns") or [])[:SUMMARY_COLUMNS]:
        table.add_row(str(column["name"]), str(column["type"]), f"{column['null_count']:,}")
    console.print(table)
    hidden = (columns or 0) - SUMMARY_COLUMNS
    if hidden > 0:
        console.print(f"... and {hidden:,} more columns", highlight=False)


def upload(
    file: Annotated[
        Path, typer.Argument(help="A .csv, .tsv or .parquet file", exists=True, dir_okay=False)
    ],
    name: Annotated[str, typer.Option("--name", help="Dataset name")],
    dataset_id: Annotated[
        str | None, typer.Option("--dataset-id", help="Add a new version to this dataset")
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option("--resume", metavar="UPLOAD_ID", help="Send only the parts this upload lacks"),
    ] = None,
    parallel: Annotated[
        int, typer.Option("--parallel", min=1, max=32, help="Parts sent at once")
    ] = 4,
    no_wait: Annotated[
        bool, typer.Option("--no-wait", help="Return once confirmed; do not wait for ingestion")
    ] = False,
    api: Annotated[
        str | None, typer.Option("--api", help="API base URL [default: AUTOML_API_URL]")
    ] = None,
    token: Annotated[
        str | None,
        typer.Option("--token", help="API token; `-` reads it from stdin [default: AUTOML_TOKEN]"),
    ] = None,
) -> None:
    """Upload a file through the HTTP protocol (presigned PUT or parallel multipart), confirm
    it and wait for its profile. A failed upload stays open: `--resume` finishes it."""
    from api.client import UploadClient, UploadInterruptedError

    api_url, api_token = api_url_and_token(api, token)
    bar = transfer_bar(errors, transient=False)
    task = bar.add_task(file.name, total=file.stat().st_size)

    def advance(sent: int) -> None:
        bar.advance(task, sent)

    def started(upload_id: str, multipart: dict[str, int] | None) -> None:
        if multipart:  # only a multipart upload can be resumed
            bar.console.print(
                f"upload {upload_id}: {multipart['part_count']} parts; if interrupted, "
                f"resume with: {_resume_hint(upload_id, file, name)}",
                markup=False,
                highlight=False,
                soft_wrap=True,
            )

    def warn(message: str) -> None:
        bar.console.print(f"warning: {message}", markup=False, soft_wrap=True)

    try:
        with UploadClient(api_url, api_token) as client:
            with bar:
                try:
                    if resume:
                        result = client.resume(resume, file, name, dataset_id, advance, parallel)
                    else:
                        result = client.upload(
                            file, name, dataset_id, advance, warn, parallel, started
                        )
                except AutomlError:
                    bar.remove_task(task)  # the error is the one line left
                    raise
            table = Table(show_header=False, title="confirmed; ingestion started")
            for key in ("dataset_id", "version_id", "status", "flow_run_id"):
                table.add_row(key, str(result[key]))
            console.print(table)
            if no_wait:
                return
            with errors.status("ingesting..."):
                version = client.wait_for_version(
                    result["dataset_id"], result["version_id"], WAIT_SECONDS
                )
    except UploadInterruptedError as exc:
        fail(
            f"{exc.message}; the parts sent are kept: {_resume_hint(exc.upload_id, file, name)}",
            code=1,
        )
    except UploadError as exc:  # the API refused: its reason and what to do, in one line
        fail_with(exc)
    except AutomlError as exc:
        fail(exc.message, code=1)
    if version["status"] == "failed":
        fail(f"ingestion failed: {version.get('error') or 'no reason given'}", code=1)
    if version["status"] != "ready":
        console.print(
            f"still {version['status']} after {WAIT_SECONDS:.0f} s (the ingestion goes on)",
            highlight=False,
        )
        return
    _print_summary(version)
