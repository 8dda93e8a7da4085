"""fsck over more objects than one listing page, and over a catalog that does not sort as the
store lists (PostgreSQL with a language collation): the bucket is checked whole, in bounded
chunks."""

from __future__ import annotations

import pytest

from blocks.storage import s3_client
from catalog import integrity as catalog_integrity
from core.keys import dataset_key, new_id
from integrity import bucket_walk
from integrity.findings import FindingKind
from tests.support.stored_state import StoredState, stored_state
from tests.support.stores import Store


def test_a_bucket_of_many_pages_is_checked_whole(
    state_on_each_database: StoredState, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing pages of 2 keys, catalog chunks and streamed batches of 2 rows: every object
    is seen, a missing one in a middle page and an unrecorded one on the last page are found.
    On each store kind and each catalog database."""
    state = state_on_each_database
    monkeypatch.setattr(bucket_walk, "CHUNK", 2)
    monkeypatch.setattr(catalog_integrity, "STREAM_BATCH", 2)
    monkeypatch.setattr("catalog.database.IN_CHUNK", 2)
    first = state.ready_version()
    versions = [first] + [state.ready_version(dataset_id=first.dataset_id) for _ in range(6)]
    gone = sorted(v.parquet_key for v in versions)[3]
    state.remove(gone)
    extra = dataset_key("alice", first.dataset_id, "zzzz-" + new_id())  # sorts last
    state.put(extra, b"nobody's")
    pages: list[int] = []
    client = s3_client(state.store.block)
    count_page = lambda **_: pages.append(1)  # noqa: E731
    client.meta.events.register("before-call.s3.ListObjectsV2", count_page)
    try:
        report = state.fsck(page_size=2)
    finally:
        client.meta.events.unregister("before-call.s3.ListObjectsV2", count_page)
    assert report.checked["objects datasets/"] == 7  # 6 recorded + the extra one
    assert report.checked["objects uploads/temp/"] == 7  # the tombstones
    assert len(pages) >= 4 + 4  # datasets/ and uploads/temp/ took several pages each
    found = sorted((f.kind, f.key) for f in report.findings if f.key is not None)
    assert found == [(FindingKind.MISSING_OBJECT, gone), (FindingKind.UNRECORDED_OBJECT, extra)]


@pytest.mark.e2e
@pytest.mark.parametrize("store", ["default"], indirect=True)
def test_a_catalog_that_sorts_by_language_is_compared_in_byte_order(
    bucket: Store, language_collated_database: str
) -> None:
    with stored_state(bucket) as state:
        for user in ("alice", "Bob", "bob", "Zoë", "_x", "a-b", "a_b"):
            version = state.ready_version(user)
        report = state.fsck(page_size=3)
        assert report.clean, report.findings
        assert report.checked["objects datasets/"] == 7
        state.remove(version.parquet_key)
        [finding] = [f for f in state.fsck().findings if f.kind == FindingKind.MISSING_OBJECT]
        assert finding.key == version.parquet_key
