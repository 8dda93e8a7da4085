"""What `automl fsck` reports: the kinds of difference it knows, one finding each, and the
report (also the JSON of `--json`)."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field, computed_field


class FindingKind(StrEnum):
    """Every difference fsck reports (docs/spec.md §8). Repairable kinds are fixed by `--repair`
    when it is safe for that finding (`Finding.repairable`)."""

    # An object no record accounts for. Repair: moved under `deleted/` and recorded as trash of
    # the user and dataset its key names (left, and listed, if it names none); a plot of a
    # published model is recorded in use where it is.
    UNRECORDED_OBJECT = "unrecorded_object"
    # A record whose object is not in the bucket. Repaired only for trash whose object under
    # `deleted/` is gone (a purge stopped between removing it and forgetting its row): the row
    # is forgotten as the purge would have. Otherwise listed: the bytes are lost.
    MISSING_OBJECT = "missing_object"
    # An object whose size differs from the recorded size. Never repaired.
    SIZE_MISMATCH = "size_mismatch"
    # (--deep) An object whose SHA-256 differs from the recorded one. Never repaired.
    SHA256_MISMATCH = "sha256_mismatch"
    # A temp object (tombstone or leftover) of a closed upload whose URLs expired, which
    # `cleanup-stale-uploads` removes. Repair: removed as cleanup would.
    STRAY_TEMP_OBJECT = "stray_temp_object"
    # A multipart upload at the store that no pending upload owns. Repair: aborted.
    STRAY_MULTIPART = "stray_multipart"
    # A record that owns an object whose ledger row is missing or names another size. Repair:
    # a missing row is recorded in use with the size the store gives (it only adds accounting).
    LEDGER_MISMATCH = "ledger_mismatch"
    # `users.used_bytes` differs from the ledger's Parquet files in use. Repair: recomputed.
    USED_BYTES_MISMATCH = "used_bytes_mismatch"
    # A user's ledger total differs from the bytes of their recorded objects in the bucket
    # (the other findings name the objects).
    USAGE_MISMATCH = "usage_mismatch"
    # States left past their time limits (integrity/limits.py).
    STUCK_UPLOAD = "stuck_upload"  # repair: expired as cleanup would
    STUCK_VERSION = "stuck_version"
    STUCK_JOB = "stuck_job"
    STUCK_DELETE = "stuck_delete"  # repair: the delete is finished (tasks.deletion)


class Finding(BaseModel):
    """One difference between the catalog and the bucket."""

    kind: FindingKind
    key: str | None = None  # the bucket key concerned
    record: str | None = None  # the catalog record concerned, e.g. "version <id>"
    user_id: str | None = None
    detail: str  # a readable sentence
    repairable: bool = False


class FsckReport(BaseModel):
    """What one fsck found (after `--repair`: what is left) and what it repaired."""

    findings: list[Finding] = Field(default_factory=list)
    repaired: list[Finding] = Field(default_factory=list)
    checked: dict[str, int] = Field(default_factory=dict)  # objects per prefix, rows per table

    @computed_field  # type: ignore[prop-decorator]
    @property
    def clean(self) -> bool:
        """No difference is left."""
        return not self.findings
