"""How much work a user has unfinished (ingestions, training jobs), and the per-tier limit on
it that keeps one user from filling the workers every tenant shares."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from catalog.lifecycle import UNFINISHED_VERSION_STATES
from catalog.tables import Dataset, DatasetVersion, Job
from catalog.usage import lock_user
from core.errors import TooManyInFlightError
from core.settings import Tier
from core.statuses import UNFINISHED_JOB_STATES

# What a refused request's Retry-After says: about the time a small ingestion takes, so a
# client that waits that long usually finds a slot free (the answer is the same, not an error,
# if it does not).
IN_FLIGHT_RETRY_AFTER_SECONDS = 30


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
