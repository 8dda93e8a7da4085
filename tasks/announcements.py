"""The catalog step of announcing a confirmed upload from a flow (the cleanup flow starts the
ingestion of a version whose confirm never did, and then announces it in the confirm's place)."""

from __future__ import annotations

from prefect import task

from catalog.confirmations import Announcement, claim_version_announcement
from tasks.records import CATALOG_RETRIES, catalog_session


@task(task_run_name="claim-announcement-{version_id}", **CATALOG_RETRIES)
def claim_announcement_of(version_id: str) -> Announcement | None:
    """The upload to announce, if nobody announced it before (see
    `catalog.confirmations.claim_announcement`)."""
    with catalog_session() as session:
        return claim_version_announcement(session, version_id)
