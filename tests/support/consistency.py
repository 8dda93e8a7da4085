"""The final check of every fault scenario (tests/reliability): once recovery is over, the
catalog and the bucket tell the same story.

`automl fsck --deep` (`integrity.fsck.run_fsck`) must find nothing, and nothing may be left
half-way: fsck only calls a passing state a difference past its time limit (a version
ingesting for a day), while a scenario ends once its recovery has run, so here a version still
pending or ingesting, a dataset still deleting, or an upload still holding a reservation it no
longer needs is one too.
"""

from __future__ import annotations

from sqlalchemy import select

from catalog.database import catalog_for
from catalog.tables import Dataset, DatasetVersion, Upload
from core.settings import Settings
from core.statuses import DatasetStatus, UploadStatus, VersionStatus
from integrity.fsck import run_fsck
from tests.support.stores import Store


def assert_consistent(settings: Settings, store: Store) -> None:
    """Fails with every difference fsck finds between the catalog of `settings` and the bucket
    of `store` (hashing every object), and with every state left half-way."""
    report = run_fsck(settings, store.block, deep=True)
    differences = [f"{f.kind}: {f.key or f.record}: {f.detail}" for f in report.findings]
    differences += unsettled(settings)
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
