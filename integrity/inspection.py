"""One fsck pass: what it reads (the store, the catalog, the clock, the limits) and what it
gathers (findings, counts, and the bytes of each user's recorded objects found in the bucket)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from prefect_aws import S3Bucket

from blocks.objects import LISTING_PAGE_SIZE
from catalog.database import IN_CHUNK, Catalog
from catalog.integrity import LedgerEntry
from core.keys import DATASETS_PREFIX, TEMP_UPLOADS_PREFIX
from integrity.findings import Finding, FindingKind
from integrity.limits import TimeLimits

# Objects (or ledger rows) examined together against the catalog: what a pass holds at once,
# one IN (...) list of keys.
CHUNK = IN_CHUNK


@dataclass
class Inspection:
    storage: S3Bucket
    catalog: Catalog
    limits: TimeLimits
    now: datetime
    deep: bool = False
    page_size: int = LISTING_PAGE_SIZE
    findings: list[Finding] = field(default_factory=list)
    checked: Counter[str] = field(default_factory=Counter)
    # Per user, not per object: the ledger's bytes for the rows the walks met, and the bytes of
    # the objects found for those rows (both from the same rows, so a concurrent change
    # cannot make them differ).
    recorded_bytes: Counter[str] = field(default_factory=Counter)
    found_bytes: Counter[str] = field(default_factory=Counter)
    expired_uploads: set[str] = field(default_factory=set)  # closed by a repair

    def report(
        self,
        kind: FindingKind,
        detail: str,
        *,
        key: str | None = None,
        record: str | None = None,
        user_id: str | None = None,
        repairable: bool = False,
    ) -> None:
        self.findings.append(
            Finding(
                kind=kind,
                key=key,
                record=record,
                user_id=user_id,
                detail=detail,
                repairable=repairable,
            )
        )


def record_of(entry: LedgerEntry) -> str:
    """The catalog record a ledger row stands for, as a finding names it."""
    if entry.key.startswith(DATASETS_PREFIX):
        return "version " + entry.key.rsplit("/", 1)[-1].removesuffix(".parquet")
    if entry.job_id is not None:
        return f"job {entry.job_id}"
    if entry.upload_id is not None and entry.key.startswith(TEMP_UPLOADS_PREFIX):
        return f"upload {entry.upload_id}"
    return f"ledger {entry.key}"
