"""The one place that reads the environment (docs/spec.md §1), validated at start-up."""

from __future__ import annotations

import json
import os
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from core.errors import ConfigurationError
from core.upload_windows import longest_upload_lifetime

MiB = 1024**2
GiB = 1024**3
TiB = 1024**4

# AUTOML_TEMP_RETENTION_DAYS exceeds AUTOML_DELETED_RETENTION_DAYS by at least this.
TEMP_RETENTION_MARGIN_DAYS = 2
MAX_PRESIGN_EXPIRES_SECONDS = 604_800  # SigV4 presigned URLs cannot live longer than 7 days.


class Tier(BaseModel):
    """Limits of one subscription tier."""

    max_file_bytes: int = Field(gt=0)
    quota_bytes: int = Field(gt=0)
    # Unfinished at once per user (docs/operations.md, "Time limits and fairness"): versions
    # pending or ingesting, training jobs pending or running. One more is answered 429.
    max_ingestions_in_flight: int = Field(default=4, gt=0, le=10_000)
    max_training_jobs_in_flight: int = Field(default=2, gt=0, le=10_000)
    # Uploads pending at once per user (a URL handed out, not yet confirmed, aborted or
    # expired). The quota's check sums them in every upload-url transaction, under the user's
    # lock (on SQLite the database's one writer): unbounded, a user's own 1-byte uploads made
    # that check, and that lock, last longer without end. One more is answered 429.
    max_uploads_in_flight: int = Field(default=200, gt=0, le=1_000_000)


# Each tier's limits of work in flight stay below the deployments' `concurrency_limit` in
# prefect.yaml (8 ingestions, 4 trainings at once): one user never holds every slot
# (tests/core/test_tier_limits.py reads prefect.yaml to check it).
DEFAULT_TIERS: dict[str, Tier] = {
    "free": Tier(
        max_file_bytes=100 * MiB,
        quota_bytes=1 * GiB,
        max_ingestions_in_flight=2,
        max_training_jobs_in_flight=1,
        max_uploads_in_flight=50,
    ),
    "pro": Tier(
        max_file_bytes=5 * GiB,
        quota_bytes=100 * GiB,
        max_ingestions_in_flight=4,
        max_training_jobs_in_flight=2,
        max_uploads_in_flight=200,
    ),
    "enterprise": Tier(
        max_file_bytes=5 * TiB,
        quota_bytes=10 * TiB,
        max_ingestions_in_flight=6,
        max_training_jobs_in_flight=3,
        max_uploads_in_flight=1_000,
    ),
}

# How long each deployment's run may take before Prefect stops it (flow `timeout_seconds`), by
# deployment name; AUTOML_FLOW_TIMEOUTS overrides some or all (docs/operations.md, "Time limits
# and fairness"). An ingestion or training that overruns ends `failed` with the reason.
FLOW_TIMEOUT_DEFAULTS: dict[str, float] = {
    "ingest-dataset": 3600.0,
    "train-model": 3600.0,
    "render-plots": 900.0,
    "setup-storage": 600.0,
    "cleanup-stale-uploads": 1800.0,
    "purge-deleted": 3600.0,
}
FLOW_TIMEOUTS_VARIABLE = "AUTOML_FLOW_TIMEOUTS"
MAX_FLOW_TIMEOUT_SECONDS = 7 * 86_400.0


def json_object(value: Any, example: str) -> dict[str, Any]:
    """A setting's JSON object (text is parsed); ValueError naming what is wrong, with an
    example of the expected shape."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON ({exc.msg} at position {exc.pos})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"must be a JSON object like {example}")
    return value


def parse_flow_timeouts(value: Any) -> dict[str, float]:
    """AUTOML_FLOW_TIMEOUTS: a JSON object of deployment name -> seconds, over the defaults,
    e.g. `{"ingest-dataset": 1800}`. Raises ValueError naming what is wrong."""
    value = json_object(value, '{"ingest-dataset": 1800}')
    timeouts = dict(FLOW_TIMEOUT_DEFAULTS)
    for name, seconds in value.items():
        if name not in FLOW_TIMEOUT_DEFAULTS:
            known = ", ".join(FLOW_TIMEOUT_DEFAULTS)
            raise ValueError(f"{name!r} is not a deployment (known: {known})")
        if (
            isinstance(seconds, bool)
            or not isinstance(seconds, int | float)
            or not 0 < seconds <= MAX_FLOW_TIMEOUT_SECONDS
        ):
            raise ValueError(f"{name!r}: seconds must be a number above 0, at most 7 days")
        timeouts[name] = float(seconds)
    return timeouts


def flow_timeout_seconds(deployment: str) -> float:
    """The time limit of one deployment's runs, read when a flow module is imported (a worker's
    run process, with its deployment's job variables in the environment): only
    AUTOML_FLOW_TIMEOUTS, so a flow module imports whatever else the environment holds."""
    try:
        return parse_flow_timeouts(os.environ.get(FLOW_TIMEOUTS_VARIABLE, "{}"))[deployment]
    except ValueError as exc:
        raise ConfigurationError(f"{FLOW_TIMEOUTS_VARIABLE}: {exc}") from None


# The embedded store's limit, measured on 2 cores (docs/benchmarks.md, "The embedded store"): up
# to 100 MiB moto's process peaks under 1 GB and costs about twice LocalStack's CPU; past it,
# about 5x the file in memory and CPU growing with the square of the size.
EMBEDDED_STORE_WARN_BYTES = 100 * MiB
# Credentials of the embedded server; it accepts anything, these are just the documented values.
EMBEDDED_ACCESS_KEY = "minioadmin"
EMBEDDED_SECRET_KEY = "minioadmin"


class Settings(BaseSettings):
    """Configuration of the storage layer (docs/spec.md §1). Secrets stay `SecretStr`."""

    model_config = SettingsConfigDict(
        env_prefix="",
        case_sensitive=False,
        extra="ignore",
        hide_input_in_errors=True,
        populate_by_name=True,
    )

    r2_endpoint: AnyHttpUrl | None = Field(default=None, alias="R2_ENDPOINT")
    r2_access_key_id: SecretStr = Field(
        default=SecretStr(EMBEDDED_ACCESS_KEY), alias="R2_ACCESS_KEY_ID"
    )
    r2_secret_access_key: SecretStr = Field(
        default=SecretStr(EMBEDDED_SECRET_KEY), alias="R2_SECRET_ACCESS_KEY"
    )
    r2_bucket_name: str = Field(
        default="automl-datasets",
        alias="R2_BUCKET_NAME",
        pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    )
    r2_region: str = Field(default="auto", alias="R2_REGION", min_length=1)
    presign_expires_seconds: int = Field(
        default=3600, alias="AUTOML_PRESIGN_EXPIRES_SECONDS", ge=1, le=MAX_PRESIGN_EXPIRES_SECONDS
    )
    # May carry a password: kept out of the repr.
    database_url: str | None = Field(default=None, alias="AUTOML_DATABASE_URL", repr=False)
    data_dir: Path = Field(default=Path(".automl"), alias="AUTOML_DATA_DIR")
    tiers: Annotated[dict[str, Tier], NoDecode] = Field(
        default_factory=lambda: dict(DEFAULT_TIERS), alias="AUTOML_TIERS"
    )
    multipart_threshold_bytes: int = Field(
        default=100 * MiB, alias="AUTOML_MULTIPART_THRESHOLD_BYTES", ge=5 * MiB, le=5 * GiB
    )
    temp_retention_days: int = Field(default=32, alias="AUTOML_TEMP_RETENTION_DAYS", ge=1, le=3650)
    deleted_retention_days: int = Field(
        default=30, alias="AUTOML_DELETED_RETENTION_DAYS", ge=1, le=3650
    )
    cors_origins: Annotated[list[str] | None, NoDecode] = Field(
        default=None, alias="AUTOML_CORS_ORIGINS"
    )
    prefect_port: int = Field(default=4200, alias="AUTOML_PREFECT_PORT", ge=1, le=65535)
    training_budget_seconds: float = Field(
        default=60.0, alias="AUTOML_TRAINING_BUDGET_SECONDS", gt=0, le=86_400
    )
    # How often the runner of `automl up` asks the Prefect server for runs to start (Prefect's
    # PREFECT_RUNNER_POLL_FREQUENCY, whole seconds, set for that runner; Prefect's default is 10):
    # a confirmed upload's run waits up to about this long (±30% jitter) to be picked up.
    runner_poll_seconds: int = Field(default=1, alias="AUTOML_RUNNER_POLL_SECONDS", ge=1, le=3600)
    api_host: str = Field(default="127.0.0.1", alias="AUTOML_API_HOST", min_length=1)
    api_port: int = Field(default=8000, alias="AUTOML_API_PORT", ge=1, le=65535)
    # Client side (`automl upload`): which API to send files to, and as whom.
    api_url: AnyHttpUrl | None = Field(default=None, alias="AUTOML_API_URL")
    token: SecretStr | None = Field(default=None, alias="AUTOML_TOKEN")
    # Hostile uploads (docs/spec.md §4, content screening): refused before polars reads them.
    # The widest dataset accepted, CSV header or Parquet schema.
    max_columns: int = Field(default=20_000, alias="AUTOML_MAX_COLUMNS", ge=1, le=1_000_000)
    # The longest CSV row in bytes, header included (so also the longest value or column name).
    max_row_bytes: int = Field(
        default=16 * MiB, alias="AUTOML_MAX_ROW_BYTES", ge=64 * 1024, le=1 * GiB
    )
    # How many times its own size a Parquet file may expand to once decoded (files that decode
    # to under 1 GiB always may): a few KB declaring gigabytes of rows is a decompression bomb.
    max_parquet_expansion: int = Field(
        default=1000, alias="AUTOML_MAX_PARQUET_EXPANSION", ge=10, le=1_000_000
    )

    flow_timeouts: Annotated[dict[str, float], NoDecode] = Field(
        default_factory=lambda: dict(FLOW_TIMEOUT_DEFAULTS), alias=FLOW_TIMEOUTS_VARIABLE
    )

    # The most values (rows x columns) one training run reads from its file: past it, a random
    # sample of the rows (and, for thousands of columns, of the columns) is trained on. About
    # 80 MB per float64 copy of the frame; the search makes a few copies.
    training_max_cells: int = Field(
        default=10_000_000, alias="AUTOML_TRAINING_MAX_CELLS", ge=10_000, le=10_000_000_000
    )
    # The largest file the embedded store (moto, inside `automl up`) serves well: above it the
    # upload-url answer and `automl upload` warn, when the stack runs on the embedded store, that
    # ingestion is slow and holds memory there (docs/benchmarks.md, "The embedded store").
    embedded_store_warn_bytes: int = Field(
        default=EMBEDDED_STORE_WARN_BYTES,
        alias="AUTOML_EMBEDDED_STORE_WARN_BYTES",
        ge=1,
        le=5 * TiB,
    )
    # How long the API trusts a token it verified without asking the catalog again: a token
    # revoked or a user disabled from another process (`automl token revoke`) is refused at
    # the latest this long after; from the API's own process, and on expiry, at once. 0: every
    # request asks the catalog.
    token_cache_seconds: float = Field(
        default=5.0, alias="AUTOML_TOKEN_CACHE_SECONDS", ge=0, le=300
    )

    # The database of the Prefect server `automl up` starts (e.g.
    # `postgresql+asyncpg://user:password@host:5432/prefect`): its SQLite default refuses
    # concurrent writes (docs/benchmarks.md *Confirm*). Unset: SQLite in the data dir.
    prefect_database_url: str | None = Field(
        default=None, alias="AUTOML_PREFECT_DATABASE_URL", repr=False
    )
    # How long a confirm queued behind other confirms' runs waits for its own before it answers
    # 202 without `flow_run_id` (the run is created all the same, see api/run_dispatch.py).
    confirm_run_wait_seconds: float = Field(
        default=0.0, alias="AUTOML_CONFIRM_RUN_WAIT_SECONDS", ge=0, le=60
    )
    # A version comparison (`GET .../versions/{id}/changes`, the `automl.dataset.ingested`
    # event) lists a column's null rate when it moved by more than this (0.05: 10% -> 16%).
    null_rate_change_threshold: float = Field(
        default=0.05, alias="AUTOML_NULL_RATE_CHANGE_THRESHOLD", ge=0, le=1
    )

    @field_validator("tiers", mode="before")
    @classmethod
    def _parse_tiers(cls, value: Any) -> Any:
        """`AUTOML_TIERS` overrides or adds tiers on top of the defaults."""
        if isinstance(value, str):
            value = json_object(value, '{"free": {...}}')
            return {**{k: v.model_dump() for k, v in DEFAULT_TIERS.items()}, **value}
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _parse_origins(cls, value: Any) -> Any:
        """Comma-separated browser origins allowed to upload, e.g. `https://app.example.com`."""
        if isinstance(value, str):
            origins = [origin.strip().rstrip("/") for origin in value.split(",") if origin.strip()]
            for origin in origins:
                if origin != "*" and not origin.startswith(("http://", "https://")):
                    raise ValueError(f"{origin!r} is not an origin like https://app.example.com")
            return origins or None
        return value

    @field_validator("temp_retention_days")
    @classmethod
    def _temp_outlives_upload_urls(cls, value: int, info: ValidationInfo) -> int:
        """The bucket's rule must not remove a used upload's tombstone while any of its URLs may
        still be valid (the longest an upload stays open: its URLs' lifetime or the multipart
        window, plus the confirm grace): the URL would write again (single-use URLs,
        docs/spec.md §3.2)."""
        presign = info.data.get("presign_expires_seconds")
        if presign is not None and timedelta(days=value) < longest_upload_lifetime(presign):
            raise ValueError(
                "must cover the longest an upload stays open (AUTOML_PRESIGN_EXPIRES_SECONDS "
                "or the 24-hour multipart window, plus one hour), so used upload URLs stay "
                "refused until they expire"
            )
        return value

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError as exc:
            raise ValueError("not a SQLAlchemy database URL") from exc
        return value

    @model_validator(mode="after")
    def _purge_before_temp_expiry(self) -> Settings:
        """A failed version's kept upload is the user's trash until `purge-deleted` (daily)
        removes it after AUTOML_DELETED_RETENTION_DAYS; the bucket's rule on `uploads/temp/`
        must not remove it first. Two days more leave room for one daily purge run and for the
        store rounding expiry to midnight UTC."""
        if self.temp_retention_days < self.deleted_retention_days + TEMP_RETENTION_MARGIN_DAYS:
            raise ValueError(
                "AUTOML_TEMP_RETENTION_DAYS must be at least AUTOML_DELETED_RETENTION_DAYS plus "
                f"{TEMP_RETENTION_MARGIN_DAYS}, so purge-deleted removes failed uploads' kept "
                "files before the bucket's rule does"
            )
        return self

    @model_validator(mode="after")
    def _tiers_consistent(self) -> Settings:
        for name, tier in self.tiers.items():
            if tier.max_file_bytes > tier.quota_bytes:
                raise ValueError(f"tier {name!r} allows a file larger than its quota")
        return self

    @field_validator("flow_timeouts", mode="before")
    @classmethod
    def _parse_flow_timeouts(cls, value: Any) -> Any:
        return parse_flow_timeouts(value)

    @field_validator("flow_timeouts")
    @classmethod
    def _training_fits_its_time_limit(
        cls, value: dict[str, float], info: ValidationInfo
    ) -> dict[str, float]:
        """The search's budget is only part of a training run (download, refit, upload): a
        budget as long as the run's time limit would stop every run before it publishes."""
        budget = info.data.get("training_budget_seconds")
        if budget is not None and budget >= value["train-model"]:
            raise ValueError(
                f"the train-model time limit ({value['train-model']:g} s) must be longer than "
                "AUTOML_TRAINING_BUDGET_SECONDS"
            )
        return value

    @property
    def embedded(self) -> bool:
        """True when no endpoint is configured: the in-process S3 server is used."""
        return self.r2_endpoint is None

    @property
    def endpoint_url(self) -> str | None:
        return str(self.r2_endpoint).rstrip("/") if self.r2_endpoint else None

    @property
    def catalog_url(self) -> str:
        """The catalog's SQLAlchemy URL: the configured one, else a SQLite file in the data dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"

    def tier(self, name: str) -> Tier:
        try:
            return self.tiers[name]
        except KeyError:
            known = ", ".join(sorted(self.tiers))
            raise ConfigurationError(f"unknown tier {name!r} (known: {known})") from None


_FIELD_TO_VARIABLE = {
    name: (field.alias or name).upper() for name, field in Settings.model_fields.items()
}


def describe_validation_error(exc: ValidationError) -> str:
    """One line per bad variable, naming the variable and what is wrong (never its value)."""
    lines = []
    for error in exc.errors():
        location = error["loc"][0] if error["loc"] else ""
        variable = _FIELD_TO_VARIABLE.get(str(location), str(location)) or "AUTOML_TIERS"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"{variable}: {message}")
    return "; ".join(lines)


def load_settings() -> Settings:
    """Reads and validates the environment; a bad value raises `ConfigurationError`."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigurationError(describe_validation_error(exc)) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (tests clear the cache with `get_settings.cache_clear()`)."""
    return load_settings()
