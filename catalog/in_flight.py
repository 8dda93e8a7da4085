"""How much work a user has unfinished (ingestions, training jobs, uploads), and the per-tier
limits on it: one user never fills the workers every tenant shares, nor makes the quota's check
of every upload-url, made under the user's lock, longer without end."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ScalarSelect, bindparam, func, select
from sqlalchemy.orm import Session

from catalog.lifecycle import UNFINISHED_VERSION_STATES
from catalog.tables import Dataset, DatasetVersion, Job, Upload
from catalog.usage import lock_user
from core.errors import TooManyInFlightError
from core.settings import Tier
from core.statuses import UNFINISHED_JOB_STATES, UploadStatus

# What a refused request's Retry-After says: about the time a small ingestion takes, so a
# client that waits that long usually finds a slot free (the answer is the same, not an error,
# if it does not).
IN_FLIGHT_RETRY_AFTER_SECONDS = 30
# For too many uploads in flight: an upload's PUT and confirm usually end within it.
UPLOADS_RETRY_AFTER_SECONDS = 60


def pending_uploads(user_id: Any, now: Any) -> ScalarSelect[Any]:
    """The count of the user's uploads that may still receive bytes (pending, unexpired), as a
    subquery: upload-url's quota statement checks it (catalog/uploads.py), on the index of the
    reservations' sum."""
    return (
        select(func.count())
        .select_from(Upload)
        .where(
            Upload.user_id == user_id,
            Upload.status == UploadStatus.PENDING,
            Upload.expires_at > now,
        )
        .scalar_subquery()
    )


_UPLOADS_IN_FLIGHT = select(pending_uploads(bindparam("user_id"), bindparam("now")))


def uploads_in_flight(session: Session, user_id: str, now: datetime) -> int:
    """What `max_uploads_in_flight` of the user's tier limits."""
    session.flush()
    count = session.execute(_UPLOADS_IN_FLIGHT, {"user_id": user_id, "now": now}).scalar_one()
    return int(count)


def refuse_uploads_past_the_limit(
    session: Session, user_id: str, tier: Tier, now: datetime
) -> None:
    """Refuses (429) one more upload when the user has as many in flight as the tier allows;
    call under the user's lock."""
    in_flight = uploads_in_flight(session, user_id, now)
    if in_flight >= tier.max_uploads_in_flight:
        raise TooManyInFlightError(
            f"you have {in_flight} uploads in progress, as many as your tier allows at once; "
            "confirm one of them or abort a multipart one (GET /api/datasets/uploads lists "
            "them), or ask again once one has expired",
            UPLOADS_RETRY_AFTER_SECONDS,
        )


def ingestions_in_flight(session: Session, user_id: str) -> int:
    """The user's versions waiting for or in ingestion (a deleted one no longer counts)."""
    count = session.execute(
        select(func.count())
        .select_from(DatasetVersion)
        .join(Dataset, Dataset.id == DatasetVersion.dataset_id)
        .where(
            Dataset.user_id == user_id,
            DatasetVersion.status.in_(UNFINISHED_VERSION_STATES),
            DatasetVersion.deleted_at.is_(None),
        )
    ).scalar_one()
    return int(count)


def training_jobs_in_flight(session: Session, user_id: str) -> int:
    """The user's training jobs waiting for or in training (a deleted one no longer counts)."""
    count = session.execute(
        select(func.count())
        .select_from(Job)
        .where(
            Job.user_id == user_id,
            Job.status.in_(UNFINISHED_JOB_STATES),
            Job.deleted_at.is_(None),
        )
    ).scalar_one()
    return int(count)


def claim_ingestion_slot(session: Session, user_id: str, tier: Tier) -> None:
    """Call in the transaction that creates the version: takes the user's lock, so concurrent
    confirms are counted one after the other and never exceed the limit together. Refuses
    (429) when the user's tier allows no more."""
    lock_user(session, user_id)
    unfinished = ingestions_in_flight(session, user_id)
    if unfinished >= tier.max_ingestions_in_flight:
        raise TooManyInFlightError(
            f"you have {unfinished} ingestions unfinished, as many as your tier allows at "
            "once; confirm this upload again when one of them is ready or failed (the upload "
            "stays confirmable until it expires)",
            IN_FLIGHT_RETRY_AFTER_SECONDS,
        )


def claim_training_slot(session: Session, user_id: str, tier: Tier) -> None:
    """`claim_ingestion_slot` for training jobs: call in the transaction that creates the job."""
    lock_user(session, user_id)
    unfinished = training_jobs_in_flight(session, user_id)
    if unfinished >= tier.max_training_jobs_in_flight:
        raise TooManyInFlightError(
            f"you have {unfinished} training jobs unfinished, as many as your tier allows at "
            "once; start this one again when one of them has succeeded or failed",
            IN_FLIGHT_RETRY_AFTER_SECONDS,
        )
