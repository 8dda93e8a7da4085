"""Confirmed uploads made straight in the catalog and the bucket, as the API's confirm leaves
them (a temp object and a pending version), for the flow tests to ingest."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from blocks.objects import head_object
from catalog.database import catalog_for, migrate
from catalog.datasets import create_upload, create_version
from catalog.tables import DatasetVersion, Upload, User
from core.settings import get_settings
from core.statuses import UploadStatus, VersionStatus
from tests.support.stores import Store


@dataclass
class Ingestion:
    store: Store
    version_id: str
    upload_id: str
    temp_key: str
    parquet_key: str

    def version(self) -> DatasetVersion:
        with catalog_for(get_settings().catalog_url).session() as session:
            found = session.get(DatasetVersion, self.version_id)
            assert found is not None
            return found

    def upload(self) -> Upload:
        with catalog_for(get_settings().catalog_url).session() as session:
            found = session.get(Upload, self.upload_id)
            assert found is not None
            return found

    def temp_is_tombstone(self) -> bool:
        """The temp key holds a zero-byte tombstone (what ingestion leaves in its place)."""
        info = head_object(self.store.block, self.temp_key)
        return info is not None and info.tombstone and info.size == 0

    def used_bytes(self) -> int:
        with catalog_for(get_settings().catalog_url).session() as session:
            user = session.get(User, "alice")
            assert user is not None
            return user.used_bytes


MakeIngestion = Callable[..., Ingestion]


@contextmanager
def confirmed_uploads(bucket: Store) -> Iterator[MakeIngestion]:
    """Makes confirmed uploads of given bytes: temp object in the bucket, pending version."""
    url = get_settings().catalog_url
    migrate(url)
    with catalog_for(url).session() as session:
        session.add(User(id="alice", tier="free"))

    def make(content: bytes, filename: str = "data.csv") -> Ingestion:
        with catalog_for(url).session() as session:
            upload = create_upload(
                session, "alice", filename, len(content), datetime.now(UTC) + timedelta(hours=1)
            )
            version = create_version(session, upload.id, "my dataset")
            ids = (version.id, upload.id, upload.temp_key, version.parquet_key)
        bucket.client.put_object(Bucket=bucket.bucket_name, Key=ids[2], Body=content)
        return Ingestion(bucket, *ids)

    yield make
    catalog_for(url).dispose()
    catalog_for.cache_clear()


def assert_stopped_at_time_limit(ingestion: Ingestion, seconds: int) -> None:
    """What an ingestion stopped at its time limit leaves (flows/time_limits.py): the version
    failed saying so, the reservation released, no Parquet file, nothing counted."""
    version = ingestion.version()
    assert version.status == VersionStatus.FAILED
    assert version.error == (
        f"ingestion took longer than its time limit of {seconds} seconds and was stopped; try "
        "a smaller file, or ask the operator for a longer limit"
    )
    upload = ingestion.upload()
    assert (upload.status, upload.reserved_bytes) == (UploadStatus.FAILED, 0)
    assert ingestion.store.keys() == [ingestion.temp_key]  # no Parquet file left
    assert ingestion.used_bytes() == 0
