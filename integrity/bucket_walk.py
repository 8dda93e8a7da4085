"""The walk of one bucket prefix against the ledger: both streamed in key order and merged, so
memory does not grow with the bucket; each object is matched to its ledger row, and what is
left on either side is examined in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypeVar

from blocks.objects import head_object, iter_objects, read_object
from blocks.transfers import hash_object
from catalog.integrity import LedgerEntry, entries_being_moved, ledger_entries, ledger_states
from core.errors import ModelMetadataError
from core.keys import (
    DELETED_PREFIX,
    METADATA_FILENAME,
    MODEL_FILENAME,
    TEMP_UPLOADS_PREFIX,
    deleted_key,
)
from core.listings import ListedObject
from core.statuses import ObjectState, UsageCategory
from integrity.findings import FindingKind
from integrity.inspection import CHUNK, Inspection, record_of
from integrity.unrecorded import explain_unrecorded
from tasks.training.metadata import ModelMetadata

T = TypeVar("T", ListedObject, LedgerEntry)


class OutOfOrderError(RuntimeError):
    """A listing or the ledger came in another order than bytewise by key: comparing them would
    report differences that are not there."""


def _ascending(items: Iterator[T], what: str) -> Iterator[T]:
    """`items`, checked to come in strictly ascending key order: a merge of two streams in
    different orders would report differences that are not there."""
    previous: str | None = None
    for item in items:
        key = item.key if isinstance(item, ListedObject) else item.location
        if previous is not None and key <= previous:
            raise OutOfOrderError(f"{what} is not in key order ({previous!r} before {key!r})")
        previous = key
        yield item


def merged(
    objects: Iterator[ListedObject], entries: Iterator[LedgerEntry]
) -> Iterator[tuple[ListedObject | None, LedgerEntry | None]]:
    """Pairs each object with the ledger row expected at its key (None on the side that has
    none). Both inputs ascend by key: Python compares strings by code point, which is the
    UTF-8 byte order S3 lists in and the catalog is asked to sort by."""
    objects = _ascending(objects, "the store's listing")
    entries = _ascending(entries, "the catalog's ledger")
    obj, entry = next(objects, None), next(entries, None)
    while obj is not None or entry is not None:
        if entry is None or (obj is not None and obj.key < entry.location):
            yield obj, None
            obj = next(objects, None)
        elif obj is None or entry.location < obj.key:
            yield None, entry
            entry = next(entries, None)
        else:
            yield obj, entry
            obj, entry = next(objects, None), next(entries, None)


def walk_prefix(inspection: Inspection, prefix: str) -> None:
    """Compares every object under `prefix` with the ledger, and every ledger row expected
    there with the objects."""
    unrecorded: list[ListedObject] = []
    missing: list[LedgerEntry] = []
    objects = iter_objects(inspection.storage, prefix, inspection.page_size)
    inspection.checked[f"objects {prefix}"] += 0
    with inspection.catalog.session() as session:
        for obj, entry in merged(objects, ledger_entries(session, prefix)):
            if obj is not None:
                inspection.checked[f"objects {prefix}"] += 1
            if entry is None:
                assert obj is not None
                unrecorded.append(obj)
                if len(unrecorded) == CHUNK:
                    explain_unrecorded(inspection, prefix, unrecorded)
                    unrecorded.clear()
            elif obj is None:
                if entry.state != ObjectState.DELETING:  # may be at either place: see below
                    missing.append(entry)
                    if len(missing) == CHUNK:
                        _confirm_missing(inspection, missing)
                        missing.clear()
            else:
                _compare(inspection, obj, entry)
    explain_unrecorded(inspection, prefix, unrecorded)
    _confirm_missing(inspection, missing)


def _compare(inspection: Inspection, obj: ListedObject, entry: LedgerEntry) -> None:
    """An object and its ledger row: the same size, and (--deep) the recorded SHA-256."""
    at_temp_key = obj.key.startswith(TEMP_UPLOADS_PREFIX)
    if entry.state == ObjectState.DELETING:
        if at_temp_key and obj.size == 0:
            return  # the tombstone a move leaves at a kept upload's key: see check_moving
    else:
        inspection.recorded_bytes[entry.user_id] += entry.size_bytes
        inspection.found_bytes[entry.user_id] += obj.size
    record = record_of(entry)
    if at_temp_key and obj.size == 0 and entry.size_bytes > 0:
        inspection.report(
            FindingKind.MISSING_OBJECT,
            f"the ledger keeps {entry.size_bytes} bytes here ({entry.state}), but the key "
            "holds an empty tombstone: the kept upload is gone",
            key=obj.key,
            record=record,
            user_id=entry.user_id,
        )
        return
    if obj.size != entry.size_bytes:
        inspection.report(
            FindingKind.SIZE_MISMATCH,
            f"the object is {obj.size} bytes; the ledger records {entry.size_bytes} "
            f"({entry.state})",
            key=obj.key,
            record=record,
            user_id=entry.user_id,
        )
        return
    expected = _recorded_sha256(inspection, entry) if inspection.deep else None
    if expected is None:
        return
    inspection.checked["objects hashed"] += 1
    hashed = hash_object(inspection.storage, obj.key)
    if hashed is not None and hashed.sha256 != expected:  # None: removed meanwhile
        inspection.report(
            FindingKind.SHA256_MISMATCH,
            f"the object's SHA-256 is {hashed.sha256}; {record} records {expected}",
            key=obj.key,
            record=record,
            user_id=entry.user_id,
        )


def _recorded_sha256(inspection: Inspection, entry: LedgerEntry) -> str | None:
    """The SHA-256 recorded for the object: its version's for a Parquet file, the one in its
    `metadata.json` for a `model.joblib` (read beside it; None if unreadable)."""
    if entry.sha256 is not None:
        return entry.sha256
    if entry.category != UsageCategory.MODELS or not entry.location.endswith(MODEL_FILENAME):
        return None
    metadata_key = entry.location.removesuffix(MODEL_FILENAME) + METADATA_FILENAME
    try:
        raw = read_object(inspection.storage, metadata_key)
        return ModelMetadata.from_json(raw).model_file.sha256 if raw is not None else None
    except (ModelMetadataError, ValueError):
        return None


def _confirm_missing(inspection: Inspection, entries: list[LedgerEntry]) -> None:
    """Ledger rows whose object the listing lacked, looked at again (a purge or a move may have
    changed both since the row was read): still recorded, in the same state, and no object."""
    if not entries:
        return
    with inspection.catalog.session() as session:
        states = ledger_states(session, (entry.key for entry in entries))
    for entry in entries:
        if states.get(entry.key) != entry.state:
            continue
        if head_object(inspection.storage, entry.location) is not None:
            continue
        inspection.recorded_bytes[entry.user_id] += entry.size_bytes
        trash = entry.state == ObjectState.DELETED
        inspection.report(
            FindingKind.MISSING_OBJECT,
            f"the ledger records {entry.size_bytes} bytes ({entry.state}) at this key; the "
            "bucket has no object there" + ("; the trash row outlived its purge" if trash else ""),
            key=entry.location,
            record=record_of(entry),
            user_id=entry.user_id,
            repairable=trash,
        )


def check_moving(inspection: Inspection) -> None:
    """The objects of deletes in progress: each at its live key or under `deleted/` (a move
    copies first, then removes the live key, then records it), never at neither."""
    with inspection.catalog.session() as session:
        for entry in entries_being_moved(session):
            inspection.checked["objects being moved"] += 1
            inspection.recorded_bytes[entry.user_id] += entry.size_bytes
            live = head_object(inspection.storage, entry.key)
            if live is not None and not live.tombstone:
                inspection.found_bytes[entry.user_id] += live.size
                continue
            moved = head_object(inspection.storage, deleted_key(entry.key))
            if moved is not None:
                inspection.found_bytes[entry.user_id] += moved.size
                continue
            inspection.report(
                FindingKind.MISSING_OBJECT,
                f"its dataset is being deleted, but the object ({entry.size_bytes} bytes) is "
                f"neither at its key nor under {DELETED_PREFIX}",
                key=entry.key,
                record=record_of(entry),
                user_id=entry.user_id,
            )
