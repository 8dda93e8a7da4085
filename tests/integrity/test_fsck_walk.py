"""fsck over more objects than one listing page, and over a catalog that does not sort as the
store lists (PostgreSQL with a language collation): the bucket is checked whole, in bounded
chunks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from blocks.storage import s3_client
from catalog import integrity as catalog_integrity
from core.keys import dataset_key, new_id
from core.settings import get_settings
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
    monkeypatch.setattr(catalog_integrity, "IN_CHUNK", 2)
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


@pytest.fixture
def language_collated_database(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Iterator[str]:
    """A PostgreSQL catalog whose text sorts by language (ICU en-US: "alice" before "Bob"),
    not by bytes as S3 lists keys ("Bob" before "alice")."""
    server_url: str = request.getfixturevalue("postgres_server")
    name = f"automl_icu_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(
            sa.text(
                f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' "
                "LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'"
            )
        )
    url = sa.engine.make_url(server_url).set(database=name).render_as_string(hide_password=False)
    engine = sa.create_engine(url)
    with engine.connect() as connection:  # the premise: this database does not sort by bytes
        assert connection.execute(sa.text("SELECT 'alice' < 'Bob'")).scalar_one() is True
    engine.dispose()
    monkeypatch.setenv("AUTOML_DATABASE_URL", url)
    get_settings.cache_clear()
    yield url
    with admin.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


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
