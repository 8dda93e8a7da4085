"""The `setup-storage` flow: bucket, CORS for browser uploads, temp-upload lifecycle, private."""

from __future__ import annotations

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from prefect.logging import get_run_logger

from core.cors import load_cors_rules, page_origins
from core.settings import flow_timeout_seconds, get_settings
from tasks.bucket_setup import (
    SetupStep,
    apply_cors,
    apply_temp_lifecycle,
    ensure_bucket,
    ensure_private,
)


@flow(name="setup-storage", log_prints=False, timeout_seconds=flow_timeout_seconds("setup-storage"))
def setup_storage(
    cors_origins: list[str] | None = None, temp_retention_days: int | None = None
) -> list[SetupStep]:
    """Idempotent: running it again on a set-up bucket changes nothing.

    `cors_origins` replaces the origins of `docker/minio-cors.json` (default:
    AUTOML_CORS_ORIGINS; unset, the API's upload page's origin joins the file's);
    `temp_retention_days` is how long `uploads/temp/` objects live (default:
    AUTOML_TEMP_RETENTION_DAYS).
    """
    settings = get_settings()
    logger = get_run_logger()
    origins = cors_origins if cors_origins is not None else settings.cors_origins
    days = temp_retention_days or settings.temp_retention_days
    steps = [
        ensure_bucket(),
        apply_cors(load_cors_rules(origins, page_origins(settings.api_host, settings.api_port))),
        apply_temp_lifecycle(days),
        ensure_private(),
    ]
    for step in steps:
        log = logger.warning if step.outcome == "unsupported" else logger.info
        log("%s: %s (%s)", step.step, step.outcome, step.detail)
    rows = "\n".join(f"| {s.step} | {s.outcome} | {s.detail} |" for s in steps)
    create_markdown_artifact(
        key="storage-setup",
        markdown=f"# Storage set-up\n\n| step | outcome | detail |\n|---|---|---|\n{rows}\n",
        description="What setup-storage applied to the bucket",
    )
    return steps
