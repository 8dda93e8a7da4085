"""`automl datasets` (list, show, download, delete) and `automl usage`: the API's read and delete
routes from a terminal, tables for people and `--json` for scripts; refusals are one line
(cli_errors.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.filesize import decimal
from rich.markup import escape
from rich.table import Table

from api.datasets_client import DatasetsClient
from api.schemas import VersionChangesResponse
from cli_accounts import api_url_and_token
from cli_errors import FAILURE_EXIT, fail, fail_with
from cli_progress import transfer_bar
from core.errors import UploadError
from core.statuses import VersionStatus

datasets_app = typer.Typer(
    help="Your datasets: list, show, download, delete.", no_args_is_help=True
)

console = Console()
errors = Console(stderr=True)

ApiOption = Annotated[
    str | None, typer.Option("--api", help="API base URL [default: AUTOML_API_URL]")
]
TokenOption = Annotated[
    str | None,
    typer.Option("--token", help="API token; `-` reads it from stdin [default: AUTOML_TOKEN]"),
]
JsonOption = Annotated[
    bool, typer.Option("--json", help="Print the API's answer as JSON, for scripts")
]
DatasetId = Annotated[str, typer.Argument(help="A dataset id (`automl datasets list`)")]


def connect(api_url: str, token: str) -> DatasetsClient:
    """The client the commands use (tests replace it with one on the in-process app)."""
    return DatasetsClient.connect(api_url, token)


@contextmanager
def _client(api: str | None, token: str | None) -> Iterator[DatasetsClient]:
    """A client on the API and token given, else AUTOML_API_URL and AUTOML_TOKEN; a refusal
    inside the block is the one line of cli_errors.py."""
    api_url, api_token = api_url_and_token(api, token)
    client = connect(api_url, api_token)
    try:
        yield client
    except UploadError as exc:
        fail_with(exc)
    finally:
        client.close()


def _print_json(answer: BaseModel | dict[str, Any]) -> None:
    data = answer.model_dump(mode="json") if isinstance(answer, BaseModel) else answer
    typer.echo(json.dumps(data, indent=2))


def _size(value: int | None) -> str:
    return "-" if value is None else decimal(value)


def _count(value: int | None) -> str:
    return "-" if value is None else f"{value:,}"


@datasets_app.command("list")
def list_command(
    api: ApiOption = None, token: TokenOption = None, json_: JsonOption = False
) -> None:
    """Your datasets, newest first, with their latest version."""
    with _client(api, token) as client:
        items = client.all_datasets()
    if json_:
        _print_json(
            {"items": [item.model_dump(mode="json") for item in items], "total": len(items)}
        )
        return
    if not items:
        console.print("no datasets yet: `automl upload FILE --name NAME` adds one", highlight=False)
        return
    table = Table(title=f"{len(items)} dataset{'s' if len(items) != 1 else ''}")
    for column in ("id", "name", "versions", "latest", "rows", "cols", "size", "created"):
        table.add_column(column, no_wrap=column == "id", min_width=36 if column == "id" else None)
    for item in items:
        latest = item.latest_version
        table.add_row(
            item.id,
            item.name,
            str(item.version_count),
            latest.status if latest else "-",
            _count(latest.row_count if latest else None),
            _count(latest.column_count if latest else None),
            _size(latest.size_bytes if latest else None),
            f"{item.created_at:%Y-%m-%d}",
        )
    console.print(table)


@datasets_app.command("show")
def show_command(
    dataset_id: DatasetId,
    api: ApiOption = None,
    token: TokenOption = None,
    json_: JsonOption = False,
) -> None:
    """One dataset and every version: status, rows, columns, Parquet size."""
    with _client(api, token) as client:
        dataset = client.dataset(dataset_id)
        ready = [v for v in dataset.versions if v.status == VersionStatus.READY]
        changes = client.version_changes(dataset_id, ready[-1].id) if ready else None
    if json_:
        _print_json(
            {
                **dataset.model_dump(mode="json"),
                "changes": None if changes is None else changes.model_dump(mode="json"),
            }
        )
        return
    console.print(f"{escape(dataset.name)}  {dataset.id}", highlight=False)
    console.print(f"created {dataset.created_at:%Y-%m-%d %H:%M} UTC", highlight=False)
    table = Table(
        title=f"{len(dataset.versions)} version{'s' if len(dataset.versions) != 1 else ''}"
    )
    for column in ("version", "status", "rows", "columns", "size", "created"):
        table.add_column(
            column, no_wrap=column == "version", min_width=36 if column == "version" else None
        )
    for version in dataset.versions:
        table.add_row(
            version.id,
            version.status,
            _count(version.row_count),
            _count(version.column_count),
            _size(version.size_bytes),
            f"{version.created_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)
    if changes is not None and changes.since_version_id is not None:
        _print_changes(changes)


def _print_changes(changes: VersionChangesResponse) -> None:
    """The newest ready version against the ready one before it, a line per kind of change."""
    console.print(
        f"changes in {changes.version_id} since {changes.since_version_id}:", highlight=False
    )
    rows = changes.row_count
    if rows.before is not None and rows.change is not None:
        console.print(f"  rows: {rows.before:,} -> {rows.after:,} ({rows.change:+,})")
    lines = [
        ("columns added", [f"{c.name} ({c.dtype})" for c in changes.columns_added]),
        ("columns removed", [f"{c.name} ({c.dtype})" for c in changes.columns_removed]),
        ("type changes", [f"{c.name}: {c.before} -> {c.after}" for c in changes.type_changes]),
        (
            f"null rates (moved more than {changes.null_rate_threshold:.0%})",
            [f"{c.name}: {c.before:.1%} -> {c.after:.1%}" for c in changes.null_rate_changes],
        ),
    ]
    for label, items in lines:
        listed = escape(", ".join(items)) if items else "none"
        console.print(f"  {label}: {listed}", highlight=False)


@datasets_app.command("download")
def download_command(
    dataset_id: DatasetId,
    version: Annotated[
        str | None,
        typer.Option("--version", help="A version id [default: the newest ready version]"),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", dir_okay=False, help="File to write [default: NAME-VERSION.parquet]"
        ),
    ] = None,
    api: ApiOption = None,
    token: TokenOption = None,
    json_: JsonOption = False,
) -> None:
    """Download a version's Parquet file straight from storage, with a progress bar."""
    with _client(api, token) as client:
        dataset = client.dataset(dataset_id)
        if version is None:
            ready = [v for v in dataset.versions if v.status == VersionStatus.READY]
            if not ready:
                fail(
                    f"dataset {dataset.id} has no ready version to download yet "
                    "(`automl datasets show ID` says where each version is)",
                    FAILURE_EXIT,
                )
            version = max(ready, key=lambda v: v.created_at).id
        link = client.download_url(dataset.id, version)
        path = output or Path(f"{dataset.name}-{version[:8]}.parquet")
        bar = transfer_bar(errors, transient=json_)
        task = bar.add_task(path.name, total=None)
        with bar:
            written = client.download(
                link.url,
                path,
                started=lambda total: bar.update(task, total=total),
                progress=lambda count: bar.advance(task, count),
            )
    if json_:
        _print_json(
            {"dataset_id": dataset.id, "version_id": version, "path": str(path), "bytes": written}
        )
        return
    console.print(f"wrote {path} ({_size(written)})", highlight=False)


@datasets_app.command("delete")
def delete_command(
    dataset_id: DatasetId,
    permanent: Annotated[
        bool,
        typer.Option(
            "--permanent", help="Purge its files at once instead of keeping them in trash"
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation")] = False,
    api: ApiOption = None,
    token: TokenOption = None,
    json_: JsonOption = False,
) -> None:
    """Delete a dataset, its versions and the models trained on them (to trash, or for good)."""
    with _client(api, token) as client:
        dataset = client.dataset(dataset_id)  # names what is deleted; 404 before asking
        if not yes:
            count = len(dataset.versions)
            where = "for good" if permanent else "to trash (purged later; counts until then)"
            question = (
                f"Delete dataset {dataset.name!r} ({dataset.id}) with its {count} "
                f"version{'s' if count != 1 else ''} and their models, {where}?"
            )
            if not typer.confirm(question, default=False, err=True):
                fail("not deleted", FAILURE_EXIT)
        answer = client.delete_dataset(dataset.id, permanent)
    if json_:
        _print_json(answer)
        return
    console.print(answer.message, highlight=False, markup=False)


def usage_command(
    api: ApiOption = None, token: TokenOption = None, json_: JsonOption = False
) -> None:
    """What you store against your quota: in use, in trash, reserved by uploads, free."""
    with _client(api, token) as client:
        usage = client.usage()
    if json_:
        _print_json(usage)
        return
    table = Table(title="usage", show_header=True)
    for column in ("", "datasets", "models", "plots", "total"):
        table.add_column(column, justify="left" if not column else "right")
    for label, part in (("in use", usage.used), ("trash", usage.trash)):
        table.add_row(
            label, _size(part.datasets), _size(part.models), _size(part.plots), _size(part.total)
        )
    table.add_row("reserved", "", "", "", _size(usage.reserved_bytes))
    table.add_row("committed", "", "", "", _size(usage.committed_bytes))
    table.add_row("quota", "", "", "", _size(usage.quota_bytes))
    table.add_row("free", "", "", "", _size(usage.free_bytes))
    console.print(table)
