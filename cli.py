"""The `automl` command: up, demo, setup-storage, fsck, upload, the token and user commands of
cli_accounts.py, and the datasets and usage commands of cli_datasets.py. Errors are one line and a
non-zero exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table

from cli_accounts import token_app, token_option_value, user_app
from cli_datasets import datasets_app, usage_command
from cli_errors import fail, load_settings_or_fail
from cli_serve import serve
from cli_upload import upload
from core.errors import AutomlError
from core.settings import Settings

if TYPE_CHECKING:
    from prefect_aws import S3Bucket


app = typer.Typer(
    name="automl",
    help="Storage and pipeline layer of the AutoML platform (S3/R2 + Prefect).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(token_app, name="token")
app.add_typer(user_app, name="user")
app.command("serve")(serve)
app.command("upload")(upload)
app.add_typer(datasets_app, name="datasets")
app.command("usage")(usage_command)

console = Console()
errors = Console(stderr=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


@app.command()
def up() -> None:
    """Start the local stack (embedded S3, Prefect server and UI, setup-storage, the HTTP API,
    deployments) and serve until Ctrl-C, then stop everything it started."""
    from stack import ensure_stack_ports_free, local_stack

    settings = load_settings_or_fail()
    try:
        ensure_stack_ports_free(settings)
    except AutomlError as exc:
        fail(exc.message)

    from prefect.exceptions import TerminationSignal
    from prefect.runner import Runner

    from api.app import freeze_startup_heap
    from deployments.local import add_local_deployments, served_flow_modules
    from deployments.warm_start import warm_flow_processes

    # Ctrl-C stops the stack even when started from a shell that ignores SIGINT for background
    # jobs. SIGTERM (systemd, docker stop) stops it the same way until the Prefect runner takes
    # it over for its own graceful shutdown, so nothing started so far is left running.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, _interrupt)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    try:
        # Each flow run forks from a process that has imported the flows already, instead of
        # starting a new Python (deployments/warm_start.py); it imports them while we register.
        with local_stack(settings) as endpoints, warm_flow_processes(served_flow_modules()):
            # As `prefect.serve` does, but the deployments are registered before the endpoints
            # file is written: a client that sees the file can confirm uploads at once.
            runner = Runner(pause_on_shutdown=True)
            add_local_deployments(runner)
            freeze_startup_heap()  # started: what is alive now lives as long as the stack
            endpoints.write(settings.data_dir)
            table = Table(title="automl stack", show_header=False)
            table.add_row("HTTP API", f"{endpoints.api_url} (docs: {endpoints.api_url}/docs)")
            table.add_row("Prefect UI", endpoints.prefect_ui_url)
            table.add_row("Prefect API", endpoints.prefect_api_url)
            table.add_row("S3 endpoint", endpoints.s3_endpoint)
            table.add_row("bucket", endpoints.bucket)
            table.add_row("endpoints file", str(settings.data_dir / "endpoints.json"))
            console.print(table)
            console.print("serving deployments; press Ctrl-C to stop", highlight=False)
            with contextlib.suppress(KeyboardInterrupt, TerminationSignal):
                asyncio.run(runner.start())
    except KeyboardInterrupt:
        pass
    except AutomlError as exc:
        fail(exc.message)
    except Exception as exc:  # a store, database or Prefect server that failed: one line
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"the stack stopped: {first_line} (logs: {settings.data_dir})", code=1)
    console.print("stopped", highlight=False)


@app.command()
def demo(
    api: Annotated[
        str | None,
        typer.Option(
            "--api",
            help="API of a running stack [default: AUTOML_API_URL, else the "
            "local stack of AUTOML_DATA_DIR, else one started for the demo]",
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(
            "--token",
            help="API token; `-` reads it from stdin [default: AUTOML_TOKEN, else a new "
            "one of the local catalog's demo user, revoked at the end]",
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=1, help="Seconds each wait may take")
    ] = 300.0,
    keep_running: Annotated[
        bool,
        typer.Option("--keep-running", help="Keep a stack the demo started serving until Ctrl-C"),
    ] = False,
) -> None:
    """Push the bundled sample (customer churn) through upload, confirm, ingestion, training and
    plots, and print what it made: the profile, the model's metrics and presigned URLs."""
    from contextlib import ExitStack

    from api.client import UploadClient
    from demo import (
        StackAccess,
        demo_token,
        local_stack_access,
        print_outcome,
        run_demo,
        started_stack,
    )

    settings = load_settings_or_fail()
    signal.signal(signal.SIGTERM, _interrupt)
    # A stack the demo starts runs in a process group of its own, which a closing terminal's
    # SIGHUP does not reach: the demo stops it on its way out instead.
    signal.signal(signal.SIGHUP, _interrupt)
    api_url = api or (str(settings.api_url) if settings.api_url else None)
    try:
        with ExitStack() as stack:
            api_token = token_option_value(token, settings)
            if api_url:
                if not api_token:
                    fail("a remote API needs a token: set AUTOML_TOKEN or pass --token -")
                access = StackAccess(api_url, None)
            else:
                access = local_stack_access(settings) or stack.enter_context(
                    started_stack(settings, console, keep_running)
                )
            if not api_token:
                api_token = stack.enter_context(demo_token(settings))
            console.print(f"API: {access.api_url}", highlight=False)
            with UploadClient(access.api_url, api_token) as client:
                outcome = run_demo(client, console, timeout)
            print_outcome(console, outcome, access.prefect_ui_url)
    except AutomlError as exc:
        fail(exc.message, code=1)
    console.print("demo done", highlight=False)


@app.command("setup-storage")
def setup_storage_command() -> None:
    """Run the setup-storage flow against the configured store (R2_ENDPOINT)."""
    from blocks.storage import save_storage_block
    from flows.setup_storage import setup_storage
    from orchestrator.temporary_server import prefect_server_for_this_run

    settings = load_settings_or_fail()
    if settings.embedded:
        fail("R2_ENDPOINT is not set; `automl up` sets up its embedded store by itself")
    try:
        with prefect_server_for_this_run(errors):
            save_storage_block(settings)
            steps = setup_storage()
    except AutomlError as exc:
        fail(exc.message)
    except Exception as exc:  # a store or Prefect failure: say what, not a traceback
        # One line: a temporary server that did not start appends its whole output.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        fail(f"setup-storage failed: {first_line}", code=1)
    table = Table("step", "outcome", "detail", title=f"bucket {settings.r2_bucket_name}")
    for step in steps:
        table.add_row(step.step, step.outcome, step.detail)
    console.print(table)


@app.command()
def fsck(
    deep: Annotated[
        bool, typer.Option("--deep", help="Also hash every object whose SHA-256 is recorded")
    ] = False,
    repair: Annotated[
        bool, typer.Option("--repair", help="Fix what is safe to fix; list the rest")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Check that the catalog and the bucket agree: every object recorded, every record's
    object there with its size, usage counters exact, nothing stuck. Read-only unless
    --repair. Exit code 0: clean; 1: differences found; 2: the store or catalog cannot be
    read."""
    from integrity.fsck import FsckCannotRun, run_fsck
    from integrity.report_table import print_report

    settings = load_settings_or_fail()
    storage = _storage_to_check(settings)
    try:
        report = run_fsck(settings, storage, deep=deep, repair=repair)
    except FsckCannotRun as exc:
        fail(exc.message, code=2)
    if as_json:
        print(report.model_dump_json(indent=2))
    else:
        print_report(console, report, repair)
    raise typer.Exit(0 if report.clean else 1)


def _storage_to_check(settings: Settings) -> S3Bucket:
    """The configured store (R2_ENDPOINT), else the embedded store of the `automl up` running
    on this data dir (its endpoints.json). Built from the settings: no Prefect server needed."""
    from blocks.storage import build_storage_block
    from stack import Endpoints

    if not settings.embedded:
        return build_storage_block(settings)
    try:
        endpoint = Endpoints.read(settings.data_dir).s3_endpoint
    except (OSError, ValueError, TypeError):
        fail(
            "no store to check: set R2_ENDPOINT, or run fsck beside a running `automl up` "
            f"(no endpoints.json in {settings.data_dir})"
        )
    return build_storage_block(settings, endpoint)


def main() -> None:
    """Entry point of the `automl` script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
