"""`automl fsck`: walks the catalog and every prefix of the bucket and reports each difference
(docs/spec.md §8); with `repair`, fixes what is safe and reports what is left.

It talks to the catalog database and the store directly, never to Prefect, so it runs where
neither a Prefect server nor the API is up.
"""

from __future__ import annotations

from datetime import UTC, datetime

from botocore.exceptions import BotoCoreError, ClientError
from prefect_aws import S3Bucket
from sqlalchemy.exc import SQLAlchemyError

from blocks.objects import LISTING_PAGE_SIZE, check_bucket
from catalog.consistency import table_counts
from catalog.database import catalog_for
from core.keys import (
    DATASETS_PREFIX,
    DELETED_PREFIX,
    MODELS_PREFIX,
    PLOTS_PREFIX,
    TEMP_UPLOADS_PREFIX,
)
from core.settings import Settings
from integrity.bucket_walk import OutOfOrderError, check_moving, walk_prefix
from integrity.findings import Finding, FindingKind, FsckReport
from integrity.inspection import Inspection
from integrity.limits import TimeLimits
from integrity.record_checks import (
    check_awaited_uploads,
    check_ledger,
    check_multipart,
    check_time_limits,
    check_usage,
)
from integrity.repairs import apply_repairs

__all__ = ["Finding", "FindingKind", "FsckCannotRun", "FsckReport", "run_fsck"]

PREFIXES = (TEMP_UPLOADS_PREFIX, DATASETS_PREFIX, MODELS_PREFIX, PLOTS_PREFIX, DELETED_PREFIX)


class FsckCannotRun(Exception):
    """The store or the catalog cannot be read: nothing was compared (exit code 2)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def run_fsck(
    settings: Settings,
    storage: S3Bucket,
    *,
    deep: bool = False,
    repair: bool = False,
    now: datetime | None = None,
    page_size: int = LISTING_PAGE_SIZE,
) -> FsckReport:
    """Compares the catalog of `settings` with the bucket of `storage`.

    Read-only unless `repair`: then the safe findings are repaired and everything is checked
    again, so `findings` is what is left and `repaired` what was fixed. `deep` also hashes
    every object whose SHA-256 is recorded (streamed). `now` moves the clock the time limits
    are measured against; `page_size` is the store's listing page (at most 1000). Raises
    `FsckCannotRun` when the store or the catalog cannot be read.
    """
    inspection = _new_inspection(settings, storage, deep, now, page_size)
    _check_reachable(inspection)
    try:
        _inspect(inspection)
        if not repair:
            return FsckReport(findings=inspection.findings, checked=dict(inspection.checked))
        repaired = apply_repairs(inspection, inspection.findings)
        again = _new_inspection(settings, storage, deep, inspection.now, page_size)
        _inspect(again)
        return FsckReport(findings=again.findings, repaired=repaired, checked=dict(again.checked))
    except (BotoCoreError, ClientError, SQLAlchemyError, OutOfOrderError) as exc:
        raise FsckCannotRun(f"fsck stopped: {_reason(exc)}") from exc


def _new_inspection(
    settings: Settings, storage: S3Bucket, deep: bool, now: datetime | None, page_size: int
) -> Inspection:
    return Inspection(
        storage=storage,
        catalog=catalog_for(settings.catalog_url),
        limits=TimeLimits.from_settings(settings),
        now=now or datetime.now(UTC),
        deep=deep,
        page_size=page_size,
    )


def _inspect(inspection: Inspection) -> None:
    with inspection.catalog.session() as session:
        for table, rows in table_counts(session).items():
            inspection.checked[f"rows {table}"] = rows
    for prefix in PREFIXES:
        walk_prefix(inspection, prefix)
    check_moving(inspection)
    check_multipart(inspection)
    check_awaited_uploads(inspection)
    check_ledger(inspection)
    check_usage(inspection)
    check_time_limits(inspection)


def _check_reachable(inspection: Inspection) -> None:
    """Reads the catalog (its tables) and the bucket once, so that neither failing is taken
    for a difference."""
    try:
        with inspection.catalog.session() as session:
            table_counts(session)
    except SQLAlchemyError as exc:
        raise FsckCannotRun(
            f"cannot read the catalog (AUTOML_DATABASE_URL): {_reason(exc)}"
        ) from exc
    bucket = inspection.storage.bucket_name
    endpoint = inspection.storage.credentials.aws_client_parameters.endpoint_url
    try:
        check_bucket(inspection.storage)
    except (BotoCoreError, ClientError) as exc:
        raise FsckCannotRun(f"cannot reach bucket {bucket} at {endpoint}: {_reason(exc)}") from exc


def _reason(exc: BaseException) -> str:
    """The first line of what went wrong, without the SQL or a traceback."""
    cause = getattr(exc, "orig", None) or exc
    text = str(cause).strip()
    return text.splitlines()[0] if text else type(cause).__name__
