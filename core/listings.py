"""What a listing of the store reports: objects with their age, open multipart uploads.

Defined here, below both, because `blocks/` lists them and `catalog/` decides which of them
no upload needs any more; the two packages do not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ListedObject:
    """One object of a listing: its key, when it was last written (the store's clock) and its
    size (0 where the lister did not say)."""

    key: str
    last_modified: datetime
    size: int = 0


@dataclass(frozen=True)
class OpenMultipart:
    """A multipart upload the store holds open (its parts cost storage until aborted)."""

    key: str
    multipart_upload_id: str
    initiated: datetime
