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
