"""The one place that defines the states of uploads, dataset versions and training jobs.

Each is a `StrEnum` whose values are the strings stored in the catalog's `status` columns and
sent in API answers, so a member compares, formats and serializes as that string. The three
share some words (`pending`, `failed`) with a different meaning each: a status is always read
through its own enum.
"""

from __future__ import annotations

from enum import StrEnum


class UploadStatus(StrEnum):
    """An upload's reservation counts against the quota while it is `pending` and unexpired,
    and while it is `confirmed` (until ingestion turns it into used bytes or releases it)."""

    PENDING = "pending"  # can receive bytes until it expires
    CONFIRMED = "confirmed"  # its version exists; waiting for ingestion
    ABORTED = "aborted"  # closed by the user (multipart abort), reservation released
    EXPIRED = "expired"  # closed by cleanup after its confirm window, reservation released
    REJECTED = "rejected"  # the stored file was not the declared one: removed, released
    INGESTED = "ingested"  # the version is ready: the reservation became used bytes
    # Ingestion failed: reservation released, the temp object kept for inspection until
    # `purge-deleted` removes it and marks the upload `purged`.
    FAILED = "failed"
    PURGED = "purged"


class VersionStatus(StrEnum):
    """A dataset version's ingestion: `pending` -> `ingesting` -> `ready` or `failed` (a failed
    or interrupted one may be ingested again)."""

    PENDING = "pending"
    INGESTING = "ingesting"
    READY = "ready"
    FAILED = "failed"


class JobStatus(StrEnum):
    """A training job: `pending` -> `running` -> `succeeded` or `failed` (a failed one may run
    again; a succeeded one is final)."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


# A job whose run may still write (its model, its plots): a delete waits for it.
UNFINISHED_JOB_STATES = (JobStatus.PENDING, JobStatus.RUNNING)


class DatasetStatus(StrEnum):
    """A dataset: `active` -> `deleting` (recorded, its objects being moved under `deleted/`)
    -> `deleted` (every object moved). A delete interrupted half-way stays `deleting` until the
    cleanup flow finishes it."""

    ACTIVE = "active"
    DELETING = "deleting"
    DELETED = "deleted"


class ObjectState(StrEnum):
    """Where a stored object of the ledger (`stored_objects`) is, and whether it is in use.
    Every state counts against the quota until the object is purged (its row is removed)."""

    LIVE = "live"  # at its live key, in use
    KEPT = "kept"  # a failed version's upload, kept at its temp key for inspection (trash)
    DELETING = "deleting"  # its dataset is being deleted: to be moved under `deleted/` (trash)
    DELETED = "deleted"  # moved to `deleted/{key}`, until purged (trash)


class UsageCategory(StrEnum):
    """What a stored object is, as `GET /api/usage` breaks usage down."""

    DATASETS = "datasets"  # Parquet files of versions, failed versions' kept uploads
    MODELS = "models"  # model.joblib and metadata.json
    PLOTS = "plots"  # plots/{job_id}/*.png
