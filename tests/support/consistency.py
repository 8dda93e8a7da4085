"""The final check of every fault scenario (tests/reliability): once recovery is over, the
catalog and the bucket tell the same story.

`assert_consistent` is the one place that check lives, so switching it to `automl fsck --deep`
is one change here. Until `integrity.fsck` is merged it reads both sides itself: every object
the ledger (`stored_objects`) lists is where its state says, with its size (and, deep, the
SHA-256 its version records); every object in `datasets/`, `models/`, `plots/` and `deleted/`
is in the ledger; `uploads/temp/` holds only tombstones and files an upload still needs; each
user's used bytes are the bytes of their live versions; no reservation outlives its upload,
no multipart upload outlives a pending one; and nothing is left half-way (a version pending
or ingesting, a dataset deleting), since a scenario ends once its recovery has run.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from typing import Any

from sqlalchemy import select

from catalog.database import catalog_for
from catalog.tables import Dataset, DatasetVersion, StoredObject, Upload, User
from core.keys import DELETED_PREFIX, TEMP_UPLOADS_PREFIX, deleted_key
from core.settings import Settings
from core.statuses import DatasetStatus, ObjectState, UploadStatus, VersionStatus
from tests.support.stores import Store

LEDGER_PREFIXES = ("datasets/", "models/", "plots/")
TOMBSTONE = {"automl-tombstone": "1"}


def assert_consistent(settings: Settings, store: Store, *, deep: bool = True) -> None:
    """Fails with every difference found between the catalog of `settings` and the bucket of
    `store` (see the module's docstring)."""
    differences = find_differences(settings, store, deep=deep)
    assert not differences, "catalog and bucket differ:\n" + "\n".join(differences)


def _objects(store: Store) -> dict[str, dict[str, Any]]:
    """Every object of the bucket by key, with its size and whether it is a tombstone."""
    found: dict[str, dict[str, Any]] = {}
    for page in store.client.get_paginator("list_objects_v2").paginate(Bucket=store.bucket_name):
        for item in page.get("Contents", []):
            found[item["Key"]] = {"size": int(item["Size"]), "tombstone": False}
    for key, info in found.items():
        if key.startswith(TEMP_UPLOADS_PREFIX) and info["size"] == 0:
            head = store.client.head_object(Bucket=store.bucket_name, Key=key)
            info["tombstone"] = head.get("Metadata", {}) == TOMBSTONE
    return found


def _sha256(store: Store, key: str) -> str:
    body = store.client.get_object(Bucket=store.bucket_name, Key=key)["Body"].read()
    return hashlib.sha256(body).hexdigest()


def find_differences(settings: Settings, store: Store, *, deep: bool = True) -> list[str]:
    objects = _objects(store)
    differences: list[str] = []
    with catalog_for(settings.catalog_url).session() as session:
        versions = list(session.scalars(select(DatasetVersion)))
        uploads = {u.temp_key: u for u in session.scalars(select(Upload))}
        ledger = {row.key: row for row in session.scalars(select(StoredObject))}
        users = {user.id: user.used_bytes for user in session.scalars(select(User))}
        deleting = list(
            session.scalars(select(Dataset.id).where(Dataset.status == DatasetStatus.DELETING))
        )
        owner = {v.id: u.user_id for v in versions for u in uploads.values() if u.id == v.upload_id}
    differences += [f"dataset {d} is still deleting" for d in deleting]

    live_bytes: dict[str, int] = defaultdict(int)
    for version in versions:
        if version.status in (VersionStatus.PENDING, VersionStatus.INGESTING):
            differences.append(f"version {version.id} is still {version.status}")
        if version.status != VersionStatus.READY or version.deleted_at is not None:
            continue
        live_bytes[owner[version.id]] += version.size_bytes or 0
        row = ledger.get(version.parquet_key)
        if row is None or (row.state, row.size_bytes) != (ObjectState.LIVE, version.size_bytes):
            differences.append(f"ready version {version.id}: ledger row {row and row.state}")
        stored = version.parquet_key in objects
        if deep and stored and _sha256(store, version.parquet_key) != version.sha256:
            differences.append(f"{version.parquet_key}: SHA-256 differs from the record")

    for key, row in ledger.items():
        places = {
            ObjectState.LIVE: [key],
            ObjectState.KEPT: [key],
            ObjectState.DELETING: [key, deleted_key(key)],
            ObjectState.DELETED: [deleted_key(key)],
        }[row.state]
        there = [p for p in places if p in objects and not objects[p]["tombstone"]]
        if not there:
            differences.append(f"{key} ({row.state}): no object at {' or '.join(places)}")
        elif any(objects[p]["size"] != row.size_bytes for p in there):
            differences.append(f"{key} ({row.state}): size differs from {row.size_bytes}")

    for key, info in objects.items():
        if key.startswith(LEDGER_PREFIXES):
            row = ledger.get(key)
            if row is None or row.state not in (ObjectState.LIVE, ObjectState.DELETING):
                differences.append(f"{key}: object with no live record ({row and row.state})")
        elif key.startswith(DELETED_PREFIX):
            row = ledger.get(key.removeprefix(DELETED_PREFIX))
            if row is None or row.state not in (ObjectState.DELETED, ObjectState.DELETING):
                differences.append(f"{key}: object with no record in trash ({row and row.state})")
        elif key.startswith(TEMP_UPLOADS_PREFIX) and not info["tombstone"]:
            upload = uploads.get(key)
            kept = ledger.get(key)
            needed = upload is not None and (
                upload.status == UploadStatus.PENDING
                or (kept is not None and kept.state in (ObjectState.KEPT, ObjectState.DELETING))
            )
            if not needed:
                status = upload and upload.status
                differences.append(f"{key}: upload bytes nothing needs ({status})")
        elif not key.startswith(TEMP_UPLOADS_PREFIX):
            differences.append(f"{key}: object outside the bucket layout")

    for user_id, used in users.items():
        if used != live_bytes[user_id]:
            differences.append(f"user {user_id}: used_bytes {used} != {live_bytes[user_id]}")
    for upload in uploads.values():
        if upload.status == UploadStatus.CONFIRMED:
            differences.append(f"upload {upload.id} is still confirmed (its version never ended)")
        if upload.reserved_bytes and upload.status != UploadStatus.PENDING:
            differences.append(f"upload {upload.id} ({upload.status}) still reserves bytes")

    pages = store.client.get_paginator("list_multipart_uploads").paginate(
        Bucket=store.bucket_name, Prefix=TEMP_UPLOADS_PREFIX
    )
    for page in pages:
        for open_upload in page.get("Uploads", []):
            upload = uploads.get(open_upload["Key"])
            if upload is None or upload.status != UploadStatus.PENDING:
                differences.append(f"{open_upload['Key']}: multipart upload left open")
    return differences
