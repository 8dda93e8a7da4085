"""The upload-url answer's warnings: a file larger than the embedded store serves well."""

from __future__ import annotations

from core.settings import Settings


def _size(size_bytes: int) -> str:
    if size_bytes < 10**6:
        return f"{size_bytes:,} bytes"
    return f"{size_bytes / 1e6:,.0f} MB"


def embedded_store_warnings(settings: Settings, embedded_store: bool, size_bytes: int) -> list[str]:
    """One warning when the stack runs on the embedded store and the file is past its limit.

    The upload still goes ahead: the embedded store is for trying the stack out, and a user who
    sends a large file there should learn why it is slow before waiting, and what to run
    instead."""
    limit = settings.embedded_store_warn_bytes
    if not embedded_store or size_bytes <= limit:
        return []
    return [
        f"this stack stores files in its embedded S3 server (moto, inside the `automl up` "
        f"process), which serves files up to {_size(limit)} well: a file of "
        f"{_size(size_bytes)} ingests slowly and holds several times its size in that "
        "process's memory while it is read. For files this large, run the stack on MinIO or "
        "R2 (set R2_ENDPOINT; README, 'The embedded store's limit')."
    ]
