"""`automl fsck` as a test's last word: the catalog and the bucket agree, or the assertion names
each difference. The fault scenarios (tests/reliability) also require that nothing is left
half-way once their recovery has run (`assert_recovered`): fsck only calls a passing state a
difference past its time limit (a version ingesting for a day), while a scenario ends once its
recovery is over, so there a version still pending or ingesting, a dataset still deleting, or an
upload still holding a reservation it no longer needs is one too.
"""

from __future__ import annotations

from typing import Any

from prefect_aws import S3Bucket
from sqlalchemy import select

from catalog.database import catalog_for
from catalog.tables import Dataset, DatasetVersion, Upload
from core.settings import Settings, get_settings
from core.statuses import DatasetStatus, UploadStatus, VersionStatus
from integrity.fsck import FsckReport, run_fsck
from tests.support.stores import Store


def _listed(report: FsckReport) -> list[str]:
    return [f"- {f.kind} {f.key or '-'} {f.record or '-'}: {f.detail}" for f in report.findings]


def assert_consistent(
    storage: S3Bucket, settings: Settings | None = None, **options: Any
) -> FsckReport:
    """Runs fsck (`options`: deep, repair, now, page_size) on the catalog of `settings` (default:
    the configured one) and `storage`; fails listing every finding unless it is clean."""
    report = run_fsck(settings or get_settings(), storage, **options)
    assert report.clean, "fsck found differences:\n" + "\n".join(_listed(report))
    return report


def assert_recovered(settings: Settings, store: Store) -> None:
    """Fails with every difference fsck finds between the catalog of `settings` and the bucket
    of `store` (hashing every object), and with every state left half-way."""
    report = run_fsck(settings, store.block, deep=True)
    differences = _listed(report) + [f"- {state}" for state in unsettled(settings)]
    assert not differences, "catalog and bucket differ:\n" + "\n".join(differences)


def unsettled(settings: Settings) -> list[str]:
    """The states a finished recovery leaves none of."""
    with catalog_for(settings.catalog_url).session() as session:
        versions = session.execute(
            select(DatasetVersion.id, DatasetVersion.status).where(
                DatasetVersion.status.in_((VersionStatus.PENDING, VersionStatus.INGESTING))
            )
        ).all()
        deleting = session.scalars(
            select(Dataset.id).where(Dataset.status == DatasetStatus.DELETING)
        ).all()
        reserving = session.execute(
            select(Upload.id, Upload.status).where(
                Upload.reserved_bytes > 0, Upload.status != UploadStatus.PENDING
            )
        ).all()
    return (
        [f"version {v} is still {status}" for v, status in versions]
        + [f"dataset {d} is still deleting" for d in deleting]
        + [f"upload {u} ({status}) still reserves bytes" for u, status in reserving]
    )
