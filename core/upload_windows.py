"""How long an upload stays open: the windows the API, the catalog, the cleanup flow and the
settings' retention check all measure against."""

from __future__ import annotations

from datetime import timedelta

# A multipart upload of a large file takes longer than one URL lives: it stays open (and keeps
# its reservation) at least this long; each part URL still expires after the presign lifetime.
MULTIPART_UPLOAD_WINDOW = timedelta(hours=24)
# After its URLs expire, an upload can still be confirmed this long (a PUT that started in time).
CONFIRM_GRACE = timedelta(hours=1)


def longest_upload_lifetime(presign_expires_seconds: int) -> timedelta:
    """The longest an upload can stay open (receive bytes or be confirmed) after it was asked for:
    an object or multipart upload older than this belongs to no open upload."""
    lifetime = max(timedelta(seconds=presign_expires_seconds), MULTIPART_UPLOAD_WINDOW)
    return lifetime + CONFIRM_GRACE
