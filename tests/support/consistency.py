"""`automl fsck` as a test's last word: the catalog and the bucket agree, or the assertion names
each difference."""

from __future__ import annotations

from typing import Any

from prefect_aws import S3Bucket

from core.settings import Settings, get_settings
from integrity.fsck import FsckReport, run_fsck


def assert_consistent(
    storage: S3Bucket, settings: Settings | None = None, **options: Any
) -> FsckReport:
    """Runs fsck (`options`: deep, repair, now, page_size) on the catalog of `settings` (default:
    the configured one) and `storage`; fails listing every finding unless it is clean."""
    report = run_fsck(settings or get_settings(), storage, **options)
    assert report.clean, "fsck found differences:\n" + "\n".join(
        f"- {f.kind} {f.key or '-'} {f.record or '-'}: {f.detail}" for f in report.findings
    )
    return report
