"""Catalog tables: users and their API tokens, uploads, datasets, versions, training jobs, and
the ledger of every stored object with its size."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, DateTime, Enum, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

from core.statuses import (
    DatasetStatus,
    JobStatus,
    ObjectState,
    UploadStatus,
    UsageCategory,
    VersionStatus,
)

ID = String(64)


def status_column(statuses: type[StrEnum]) -> Enum:
    """A `status` column read as `statuses` members and stored as their values in VARCHAR(16),
    as the migrations create it: no database enum type, no CHECK constraint. An unknown value
    is refused on write."""
    return Enum(
        statuses,
        native_enum=False,
        create_constraint=False,
        length=16,
        values_callable=lambda members: [member.value for member in members],
        validate_strings=True,
    )


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite stores naive values)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the catalog; use UTC-aware datetimes")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        int: BigInteger(),
    }


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    tier: Mapped[str] = mapped_column(String(64))
    used_bytes: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by `automl user disable`: every token of the user is refused from then on.
    disabled_at: Mapped[datetime | None] = mapped_column(default=None)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)
    # None: the token never expires.
    expires_at: Mapped[datetime | None] = mapped_column(default=None)
    # The token's first characters, shown by `automl token list` to tell tokens apart (too few
    # to use); None for tokens created before it was recorded.
    token_prefix: Mapped[str | None] = mapped_column(String(16), default=None)


class Upload(Base):
    """A presigned upload: its reservation counts against the quota until confirmed or expired."""

    __tablename__ = "uploads"
    # Holds every column the quota's sum of reservations reads (migration 0007).
    __table_args__ = (
        Index("ix_uploads_user_reservations", "user_id", "status", "expires_at", "reserved_bytes"),
    )

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    filename: Mapped[str] = mapped_column(String(1024))
    extension: Mapped[str] = mapped_column(String(16))
    temp_key: Mapped[str] = mapped_column(String(1024))
    size_bytes: Mapped[int]
    reserved_bytes: Mapped[int]
    status: Mapped[UploadStatus] = mapped_column(
        status_column(UploadStatus), default=UploadStatus.PENDING
    )
    multipart_upload_id: Mapped[str | None] = mapped_column(String(1024), default=None)
    part_size: Mapped[int | None] = mapped_column(default=None)
    part_count: Mapped[int | None] = mapped_column(default=None)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # When the confirm was announced (`automl.upload.confirmed`, once its ingestion run
    # existed): set by one conditional UPDATE, so exactly one confirm emits the event.
    confirmed_at: Mapped[datetime | None] = mapped_column(default=None)


class Dataset(Base):
    __tablename__ = "datasets"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    status: Mapped[DatasetStatus] = mapped_column(
        status_column(DatasetStatus), default=DatasetStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class DatasetVersion(Base):
    __tablename__ = "dataset_versions"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"), index=True)
    upload_id: Mapped[str] = mapped_column(ForeignKey("uploads.id"), unique=True)
    status: Mapped[VersionStatus] = mapped_column(
        status_column(VersionStatus), default=VersionStatus.PENDING
    )
    parquet_key: Mapped[str] = mapped_column(String(1024))
    raw_size_bytes: Mapped[int]
    raw_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    size_bytes: Mapped[int | None] = mapped_column(default=None)
    sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    row_count: Mapped[int | None] = mapped_column(default=None)
    column_count: Mapped[int | None] = mapped_column(default=None)
    profile: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)

    # The run requests the API's dispatcher still owes (api/run_dispatch.py): only those rows.
    __table_args__ = (
        Index(
            "ix_dataset_versions_awaiting_run",
            "created_at",
            sqlite_where=text("flow_run_id IS NULL"),
            postgresql_where=text("flow_run_id IS NULL"),
        ),
    )


class Job(Base):
    """A training job on one dataset version."""

    __tablename__ = "jobs"

    id: Mapped[str] = mapped_column(ID, primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    version_id: Mapped[str] = mapped_column(ForeignKey("dataset_versions.id"))
    target: Mapped[str] = mapped_column(String(1024))
    task_type: Mapped[str | None] = mapped_column(String(32), default=None)
    status: Mapped[JobStatus] = mapped_column(status_column(JobStatus), default=JobStatus.PENDING)
    metrics: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    flow_run_id: Mapped[str | None] = mapped_column(String(64), default=None)
    # Set when `render-plots` has uploaded every plot: until then the plot list may be partial.
    plots_rendered_at: Mapped[datetime | None] = mapped_column(default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    # Set when its dataset is deleted: the job, its model and its plots then read as gone.
    deleted_at: Mapped[datetime | None] = mapped_column(default=None)


class StoredObject(Base):
    """The ledger: one row per object kept for a user, with its size, from the moment it is
    recorded until it is purged. A user's stored bytes (what the quota counts, beside the
    reservations of uploads in flight) are the sum of their rows, whatever the state."""

    __tablename__ = "stored_objects"
    __table_args__ = (
        # Holds every column the quota's and usage's sums read (migration 0007).
        Index("ix_stored_objects_user_sizes", "user_id", "state", "category", "size_bytes"),
        Index("ix_stored_objects_dataset_state", "dataset_id", "state"),
    )

    # The object's live key; once `deleted` it is at `deleted/{key}`.
    key: Mapped[str] = mapped_column(String(1024), primary_key=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"))
    dataset_id: Mapped[str] = mapped_column(ForeignKey("datasets.id"))
    category: Mapped[UsageCategory] = mapped_column(status_column(UsageCategory))
    state: Mapped[ObjectState] = mapped_column(status_column(ObjectState))
    size_bytes: Mapped[int]
    upload_id: Mapped[str | None] = mapped_column(String(64), default=None)
    job_id: Mapped[str | None] = mapped_column(String(64), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
