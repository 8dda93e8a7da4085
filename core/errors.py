"""The one place that defines error codes: one exception hierarchy, a code and HTTP status each."""

from __future__ import annotations

from typing import ClassVar


class AutomlError(Exception):
    """Base of every error the storage layer reports to a person or a client."""

    code: ClassVar[str] = "internal_error"
    http_status: ClassVar[int] = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ConfigurationError(AutomlError):
    """A setting or argument is invalid; nothing was changed."""

    code = "invalid_configuration"
    http_status = 500


class InvalidInputError(AutomlError):
    code = "invalid_input"
    http_status = 400


class InvalidKeyPartError(InvalidInputError):
    """A user-supplied string would not be safe inside a bucket key."""

    code = "invalid_name"


class UnauthenticatedError(AutomlError):
    code = "unauthenticated"
    http_status = 401


class NotFoundError(AutomlError):
    code = "not_found"
    http_status = 404


class ConflictError(AutomlError):
    code = "conflict"
    http_status = 409


class ExpiredError(AutomlError):
    code = "expired"
    http_status = 410


class FileTooLargeError(AutomlError):
    code = "file_too_large"
    http_status = 413


class ContentRejectedError(AutomlError):
    code = "content_rejected"
    http_status = 422


class OrchestratorUnavailableError(AutomlError):
    code = "orchestrator_unavailable"
    http_status = 503


class StorageUnavailableError(AutomlError):
    code = "storage_unavailable"
    http_status = 503


class TrashPurgeStoppedError(StorageUnavailableError):
    """The store failed part-way through a trash purge: what was purged stays purged, and the
    counts say how much that was."""

    def __init__(self, message: str, objects_purged: int, bytes_freed: int) -> None:
        super().__init__(message)
        self.objects_purged = objects_purged
        self.bytes_freed = bytes_freed


class CatalogUnavailableError(AutomlError):
    """The catalog database's connection was lost (a failover, a restart): the transaction it
    carried was rolled back, and the request may be sent again."""

    code = "catalog_unavailable"
    http_status = 503


class QuotaExceededError(AutomlError):
    code = "quota_exceeded"
    http_status = 507


class TrainingInputError(InvalidInputError):
    """The request cannot be trained as asked (the target is not a column, a bad budget)."""

    code = "invalid_training_input"


class UntrainableDatasetError(ContentRejectedError):
    """The dataset's content cannot give a model (too few rows, one class, no usable feature)."""

    code = "untrainable_dataset"


class ModelMetadataError(AutomlError):
    """A `metadata.json` this code cannot read: a newer schema version, or not the document
    `train-model` writes."""

    code = "unreadable_model_metadata"


class UploadError(AutomlError):
    """Client side (`automl upload`, `automl demo`): the API refused a step, or the store refused
    the bytes; the message says which and why."""

    code = "upload_failed"

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class UploadMissingError(ContentRejectedError):
    """The confirmed upload's temp object is gone from the store: nothing to ingest."""

    code = "upload_missing"


class TooManyInFlightError(AutomlError):
    """The user already has as many ingestions, training jobs or uploads unfinished as their
    tier allows: nothing was started or reserved; the same request succeeds once one ends."""

    code = "too_many_in_flight"
    http_status = 429

    def __init__(self, message: str, retry_after_seconds: int) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds
