"""What a user stores (`GET /api/usage`) and purging their trash for good at once."""

from __future__ import annotations

from datetime import datetime

from botocore.exceptions import BotoCoreError, ClientError
from prefect_aws import S3Bucket

from api.deps import AuthenticatedUser
from api.schemas import TrashPurgeResponse, UsageByCategory, UsageResponse
from blocks.objects import delete_object, free_upload_key
from catalog.database import Catalog
from catalog.deletion import claim_kept_upload, forget_purged, purgeable_trash
from catalog.lifecycle import urls_expire_at
from catalog.tables import utcnow
from catalog.uploads import reserved_bytes
from catalog.usage import CategoryBytes, stored_usage
from core.errors import TrashPurgeStoppedError
from core.keys import TEMP_UPLOADS_PREFIX


def _by_category(part: CategoryBytes) -> UsageByCategory:
    return UsageByCategory(
        datasets=part.datasets, models=part.models, plots=part.plots, total=part.total
    )


def read_usage(catalog: Catalog, user: AuthenticatedUser) -> UsageResponse:
    """The same sums the quota is checked against (`catalog.uploads.committed_bytes`)."""
    with catalog.session() as session:
        stored = stored_usage(session, user.id)
        reserved = reserved_bytes(session, user.id, utcnow())
    quota = user.tier.quota_bytes
    committed = stored.used.total + stored.trash.total + reserved
    return UsageResponse(
        quota_bytes=quota,
        used=_by_category(stored.used),
        trash=_by_category(stored.trash),
        reserved_bytes=reserved,
        committed_bytes=committed,
        free_bytes=max(quota - committed, 0),
    )


def _remove(storage: S3Bucket, location: str, urls_expire_at: datetime | None) -> None:
    """Removes a trash object for good. A kept upload's temp key is freed by the rule of every
    used upload key (`blocks.objects.free_upload_key`): a tombstone while its URLs may still be
    valid (single-use URLs, docs/spec.md §3.2), removed once they expired."""
    if location.startswith(TEMP_UPLOADS_PREFIX):
        free_upload_key(storage, location, urls_expire_at or utcnow(), utcnow())
    else:
        delete_object(storage, location)


def purge_trash(
    catalog: Catalog, storage: S3Bucket, user_id: str, dataset_id: str | None = None
) -> TrashPurgeResponse:
    """Removes the user's trash (or one dataset's) for good: objects moved under `deleted/` and
    failed versions' kept uploads; objects of a delete still moving are left to it.

    A `deleted/` object is removed first and forgotten after (a stop in between leaves it
    recorded and purgeable again). A kept upload is first marked `purged` (only while its version
    is still failed), then removed: if the store fails then, the cleanup flow removes it as a
    stray. If the store fails, what was purged stays purged and the answer says so.
    """
    with catalog.session() as session:
        items = purgeable_trash(session, user_id, dataset_id)
    purged = freed = 0
    for item in items:
        try:
            with catalog.session() as session:
                if not claim_kept_upload(session, item.key):
                    continue  # its version is being ingested again
                expiry = urls_expire_at(session, item.location)
            _remove(storage, item.location, expiry)
        except (ClientError, BotoCoreError) as exc:
            raise TrashPurgeStoppedError(
                f"purged {purged} of {len(items)} trash objects ({freed:,} bytes) before "
                "storage failed; try again to purge the rest",
                purged,
                freed,
            ) from exc
        with catalog.session() as session:
            forget_purged(session, item.key)
        purged += 1
        freed += item.size_bytes
    return TrashPurgeResponse(objects_purged=purged, bytes_freed=freed)
