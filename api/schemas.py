"""Request and response bodies of the HTTP API (docs/spec.md §3), typed for /openapi.json.

A body that mirrors a catalog row reads it with `model_validate(row)` (`from_attributes`);
values computed for the answer (URLs, counts) are passed explicitly.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator

from api.identifiers import BodyId
from core.statuses import DatasetStatus, JobStatus, UploadStatus, VersionStatus
from tasks.training.metadata import ModelMetadata


class Strict(BaseModel):
    """Unknown fields are refused, so a misspelt field is a 400, not silently ignored.

    No text may hold a NUL character: no catalog column can store one (PostgreSQL refuses it)
    and no name or column needs one, so it is a 400 here rather than an error deep in a query.
    """

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


class ErrorDetail(BaseModel):
    code: str = Field(examples=["quota_exceeded"])
    message: str = Field(examples=["the file needs 10 bytes but only 3 are free"])


class ErrorBody(BaseModel):
    error: ErrorDetail


class UploadUrlRequest(Strict):
    filename: str = Field(min_length=1, max_length=255, examples=["sales-2024.csv"])
    size_bytes: int = Field(gt=0, description="Exact size of the file in bytes.")
    content_type: str | None = Field(
        default=None,
        max_length=255,
        description="The browser's idea of the type; ignored: content is sniffed at ingestion.",
    )


class MultipartPlanOut(BaseModel):
    part_size: int = Field(description="Every part has this size except the last.")
    part_count: int


class UploadUrlResponse(BaseModel):
    """A single presigned PUT, or (for large files) a multipart plan; never both."""

    upload_id: str
    expires_at: datetime
    upload_url: str | None = None
    method: Literal["PUT"] | None = None
    headers: dict[str, str] | None = Field(
        default=None, description="Every header the client must send with the PUT, exactly."
    )
    multipart: MultipartPlanOut | None = None
    warnings: list[str] = Field(
        default_factory=list,
        description="What the client should tell the user before sending the file, e.g. that "
        "the stack's embedded store serves a file this large slowly; empty when all is well.",
    )


class UploadPartsRequest(Strict):
    upload_id: BodyId
    part_numbers: list[int] = Field(min_length=1, max_length=1000)


class PartUrl(BaseModel):
    part_number: int
    upload_url: str
    method: Literal["PUT"] = "PUT"
    headers: dict[str, str]
    expires_at: datetime


class UploadPartsResponse(BaseModel):
    upload_id: str
    parts: list[PartUrl]


class UploadAbortRequest(Strict):
    upload_id: BodyId


class UploadAbortResponse(BaseModel):
    upload_id: str
    status: Literal[UploadStatus.ABORTED] = UploadStatus.ABORTED


class CompletedPart(Strict):
    part_number: int = Field(ge=1, le=10_000)
    etag: str = Field(min_length=1, max_length=1024)


class ConfirmRequest(Strict):
    upload_id: BodyId
    dataset_name: str = Field(min_length=1, max_length=255)
    dataset_id: BodyId | None = Field(
        default=None, description="Add a new version to this dataset."
    )
    parts: list[CompletedPart] | None = Field(
        default=None, max_length=10_000, description="Multipart uploads: every part's ETag."
    )


class ConfirmResponse(BaseModel):
    dataset_id: str
    version_id: str
    status: VersionStatus
    flow_run_id: str | None  # null while the run is being created (docs/spec.md §3.2)


class VersionSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    status: VersionStatus
    created_at: datetime
    row_count: int | None
    column_count: int | None
    size_bytes: int | None


class VersionDetail(VersionSummary):
    dataset_id: str
    raw_size_bytes: int
    raw_sha256: str | None
    sha256: str | None
    error: str | None
    profile: dict[str, Any] | None
    flow_run_id: str | None
    updated_at: datetime


class DatasetRecord(BaseModel):
    """A dataset's own fields, as its catalog row holds them."""

    model_config = ConfigDict(from_attributes=True)

    id: str
    name: str
    created_at: datetime


class DatasetSummary(DatasetRecord):
    version_count: int
    latest_version: VersionSummary | None


class DatasetDetail(DatasetRecord):
    versions: list[VersionSummary]


class DatasetPage(BaseModel):
    items: list[DatasetSummary]
    total: int
    limit: int
    offset: int


class DownloadUrlResponse(BaseModel):
    url: str
    method: Literal["GET"] = "GET"
    expires_at: datetime


class DeleteResponse(BaseModel):
    """200 when every object was moved (`status: deleted`); 202 when the store failed half-way
    (`status: deleting`, `objects_remaining` > 0): the delete is recorded and the dataset reads
    as gone, and the cleanup flow moves the rest."""

    id: str
    deleted: Literal[True] = True
    status: DatasetStatus = Field(description="`deleted`, or `deleting` while objects remain.")
    objects_moved: int = Field(description="Objects this request moved under `deleted/`.")
    objects_remaining: int = Field(
        default=0, description="Objects still to move; the cleanup flow finishes them."
    )
    objects_purged: int = Field(
        default=0, description="With `permanent=true`: trash objects removed for good."
    )
    purge_stopped: bool = Field(
        default=False,
        description="With `permanent=true`: the store failed while purging the trash (202); the "
        "delete stands as `status` says, and `DELETE /api/trash` purges the rest.",
    )
    message: str


class UsageByCategory(BaseModel):
    datasets: int = Field(description="Parquet files of versions; failed versions' kept uploads.")
    models: int = Field(description="model.joblib and metadata.json of trained jobs.")
    plots: int = Field(description="The PNG plots of trained jobs.")
    total: int


class UsageResponse(BaseModel):
    """What the caller stores, in bytes: everything kept for them counts against the quota
    (in use, in trash until purged, and reservations of uploads in flight)."""

    quota_bytes: int
    used: UsageByCategory = Field(description="Objects in use.")
    trash: UsageByCategory = Field(
        description="Soft-deleted objects and failed uploads' kept files, until purged."
    )
    reserved_bytes: int = Field(description="Reservations of uploads and ingestions in flight.")
    committed_bytes: int = Field(description="used + trash + reserved: checked against quota.")
    free_bytes: int


class TrashPurgeResponse(BaseModel):
    objects_purged: int
    bytes_freed: int


class HealthResponse(BaseModel):
    status: Literal["ok", "failing"]
    checks: dict[str, str] = Field(examples=[{"storage": "ok", "database": "ok"}])


TaskType = Literal["classification", "regression"]


class TrainRequest(Strict):
    version_id: BodyId
    target: str = Field(min_length=1, max_length=1024, description="The column to predict.")


class TrainResponse(BaseModel):
    job_id: str
    flow_run_id: str
    task_type: TaskType = Field(description="Inferred from the target column's type and values.")


class JobDetail(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    job_id: str = Field(validation_alias=AliasChoices("job_id", "id"))  # the row's `id`
    version_id: str
    target: str
    task_type: TaskType | None
    status: JobStatus
    metrics: dict[str, Any] | None
    error: str | None
    flow_run_id: str | None
    plots_rendered_at: datetime | None = Field(
        description="When `render-plots` finished; null while the plots are not all drawn."
    )
    created_at: datetime
    updated_at: datetime


class ModelResponse(BaseModel):
    job_id: str
    metadata: ModelMetadata = Field(description="The model's metadata.json.")
    download_url: str = Field(description="Presigned GET of model.joblib.")
    expires_at: datetime


class PlotUrl(BaseModel):
    name: str
    url: str
    expires_at: datetime


class PlotList(BaseModel):
    job_id: str
    rendered: bool = Field(description="True once `render-plots` finished: the list is whole.")
    plots: list[PlotUrl]


class ColumnTypeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    dtype: str = Field(description="The column's type as the profile spells it, e.g. `Int64`.")


class TypeChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    before: str
    after: str


class RowCountChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    before: int | None = Field(description="Null for a first version.")
    after: int
    change: int | None = Field(description="after - before; null for a first version.")


class NullRateChangeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    name: str
    before: float = Field(description="null_count / row_count, 0..1.")
    after: float


class VersionChangesResponse(BaseModel):
    """A version compared with an earlier one, from their stored profiles (docs/spec.md §3)."""

    dataset_id: str
    version_id: str
    since_version_id: str | None = Field(
        description="The version compared with: `since` if given, else the latest ready "
        "version before this one; null for a first version (then every list is empty)."
    )
    columns_added: list[ColumnTypeOut]
    columns_removed: list[ColumnTypeOut]
    type_changes: list[TypeChangeOut]
    row_count: RowCountChangeOut
    null_rate_changes: list[NullRateChangeOut] = Field(
        description="Columns in both whose null rate moved by more than `null_rate_threshold`."
    )
    null_rate_threshold: float = Field(description="AUTOML_NULL_RATE_CHANGE_THRESHOLD.")


class StoredPartOut(BaseModel):
    part_number: int
    size_bytes: int
    etag: str


class UploadState(BaseModel):
    """An upload as a client resuming it needs it: its plan and the parts the store holds."""

    upload_id: str
    filename: str
    size_bytes: int
    status: UploadStatus
    expires_at: datetime
    multipart: bool
    part_size: int | None
    part_count: int | None
    stored_parts: list[StoredPartOut] = Field(
        description="What the store holds (ListParts) while the upload is open; [] for a "
        "single PUT."
    )


class UploadStateList(BaseModel):
    uploads: list[UploadState] = Field(description="The caller's open uploads, newest first.")
