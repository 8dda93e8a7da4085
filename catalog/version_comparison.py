"""Which stored profiles a version comparison reads, and the comparison of them."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from catalog.tables import DatasetVersion
from core.errors import ConflictError
from core.statuses import VersionStatus
from core.version_changes import ProfileChanges, compare_profiles


@dataclass(frozen=True)
class VersionChanges:
    dataset_id: str
    version_id: str
    since_version_id: str | None
    changes: ProfileChanges


def version_before(session: Session, version: DatasetVersion) -> DatasetVersion | None:
    """The latest ready version of the same dataset created before `version` (by creation
    time, then id, as versions are listed): a version that failed or is still ingesting has no
    profile to compare with, so it is passed over; none for a first version."""
    return session.execute(
        select(DatasetVersion)
        .where(
            DatasetVersion.dataset_id == version.dataset_id,
            DatasetVersion.deleted_at.is_(None),
            DatasetVersion.status == VersionStatus.READY,
            or_(
                DatasetVersion.created_at < version.created_at,
                and_(
                    DatasetVersion.created_at == version.created_at,
                    DatasetVersion.id < version.id,
                ),
            ),
        )
        .order_by(DatasetVersion.created_at.desc(), DatasetVersion.id.desc())
        .limit(1)
    ).scalar_one_or_none()


def compare_versions(
    version: DatasetVersion, since: DatasetVersion | None, null_rate_threshold: float
) -> VersionChanges:
    """`version` against `since` (none: a first version), from their stored profiles only.
    Either not ready (no profile yet, or failed) is a `ConflictError`."""
    for compared in (version, since):
        if compared is not None and (
            compared.status != VersionStatus.READY or compared.profile is None
        ):
            raise ConflictError(
                f"version {compared.id} is {compared.status}, not ready: it has no profile "
                "to compare"
            )
    assert version.profile is not None  # checked above; for the type checker
    return VersionChanges(
        dataset_id=version.dataset_id,
        version_id=version.id,
        since_version_id=since.id if since is not None else None,
        changes=compare_profiles(
            since.profile if since is not None else None, version.profile, null_rate_threshold
        ),
    )
