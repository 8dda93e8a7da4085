"""Version comparison as the API answers it: a user's version against the one before it."""

from __future__ import annotations

import dataclasses

from api.schemas import VersionChangesResponse
from catalog.database import Catalog
from catalog.listing import users_version
from catalog.version_comparison import compare_versions, version_before


def version_changes(
    catalog: Catalog,
    user_id: str,
    dataset_id: str,
    version_id: str,
    since_version_id: str | None,
    null_rate_threshold: float,
) -> VersionChangesResponse:
    """Both versions must be the user's, in this dataset (else not found), and ready."""
    with catalog.session() as session:
        version = users_version(session, user_id, dataset_id, version_id)
        since = (
            users_version(session, user_id, dataset_id, since_version_id)
            if since_version_id is not None
            else version_before(session, version)
        )
        compared = compare_versions(version, since, null_rate_threshold)
    return VersionChangesResponse.model_validate(
        {
            "dataset_id": compared.dataset_id,
            "version_id": compared.version_id,
            "since_version_id": compared.since_version_id,
            **dataclasses.asdict(compared.changes),
        }
    )
