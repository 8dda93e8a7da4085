"""Catalog and bucket states for the lifecycle flows' tests: uploads and versions in each state,
their objects in the bucket, and the run's artifact."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId
from prefect.client.schemas.objects import State

from blocks.objects import head_object
from catalog.database import catalog_for, migrate
from catalog.datasets import create_upload, create_version, mark_failed
from catalog.tables import DatasetVersion, Upload, User
from catalog.uploads import attach_multipart, committed_bytes
from core.settings import get_settings
from core.statuses import VersionStatus
from tests.support.stores import Store

CSV = b"id,name,score\n1,ada,3.5\n2,bob,\n3,cy,7.25\n"


@dataclass(frozen=True)
class Made:
    """An upload (and its version, once confirmed) as the test made it."""

    upload_id: str
    temp_key: str
    version_id: str | None = None


@dataclass
class LifecycleState:
    """One test's catalog (SQLite in its data dir) and bucket."""

    store: Store

    @property
    def url(self) -> str:
        return get_settings().catalog_url

    def pending_upload(self, expired: bool, content: bytes | None = CSV) -> Made:
        """A pending upload whose confirm window has (or has not) closed; its object if given."""
        expires_at = datetime.now(UTC) + (timedelta(minutes=-1) if expired else timedelta(hours=1))
        with catalog_for(self.url).session() as session:
            upload = create_upload(session, "alice", "data.csv", len(CSV), expires_at)
            made = Made(upload.id, upload.temp_key)
        if content is not None:
            self.put(made.temp_key, content)
        return made

    def pending_multipart_upload(self, expired: bool) -> tuple[Made, str]:
        """A pending multipart upload with one part at the store; returns it and its store id."""
        made = self.pending_upload(expired, content=None)
        multipart_id = self.open_multipart(made.temp_key)
        with catalog_for(self.url).session() as session:
            attach_multipart(session, made.upload_id, multipart_id, 5 * 1024**2, 1)
        return made, multipart_id

    def open_multipart(self, key: str) -> str:
        client, bucket = self.store.client, self.store.bucket_name
        multipart_id = str(client.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"])
        client.upload_part(
            Bucket=bucket, Key=key, UploadId=multipart_id, PartNumber=1, Body=b"x" * 1024
        )
        return multipart_id

    def open_multipart_ids(self) -> set[str]:
        listed = self.store.client.list_multipart_uploads(Bucket=self.store.bucket_name)
        return {u["UploadId"] for u in listed.get("Uploads", [])}

    def multipart_initiated(self, multipart_id: str) -> datetime:
        listed = self.store.client.list_multipart_uploads(Bucket=self.store.bucket_name)
        [initiated] = [u["Initiated"] for u in listed["Uploads"] if u["UploadId"] == multipart_id]
        return datetime.fromisoformat(initiated.isoformat()).astimezone(UTC)

    def confirmed_upload(
        self, version_status: VersionStatus = VersionStatus.PENDING, run_id: str | None = None
    ) -> Made:
        """A confirmed upload with its object and a version in `version_status`."""
        made = self.pending_upload(expired=False)
        with catalog_for(self.url).session() as session:
            version = create_version(session, made.upload_id, "my dataset")
            version_id = version.id
            if version_status == VersionStatus.FAILED:
                session.flush()
                mark_failed(session, version_id, "row 2 has 2 fields, expected 3")
            else:
                version.status = version_status
            version.flow_run_id = run_id
        return Made(made.upload_id, made.temp_key, version_id)

    def put(self, key: str, content: bytes = CSV) -> None:
        self.store.client.put_object(Bucket=self.store.bucket_name, Key=key, Body=content)

    def is_tombstone(self, key: str) -> bool:
        info = head_object(self.store.block, key)
        return info is not None and info.tombstone and info.size == 0

    def upload(self, upload_id: str) -> Upload:
        with catalog_for(self.url).session() as session:
            found = session.get(Upload, upload_id)
            assert found is not None
            return found

    def version(self, version_id: str | None) -> DatasetVersion:
        assert version_id is not None
        with catalog_for(self.url).session() as session:
            found = session.get(DatasetVersion, version_id)
            assert found is not None
            return found

    def set_version(self, version_id: str | None, **values: Any) -> None:
        with catalog_for(self.url).session() as session:
            version = session.get(DatasetVersion, version_id)
            assert version is not None
            for name, value in values.items():
                setattr(version, name, value)

    def set_upload(self, upload_id: str, **values: Any) -> None:
        with catalog_for(self.url).session() as session:
            upload = session.get(Upload, upload_id)
            assert upload is not None
            for name, value in values.items():
                setattr(upload, name, value)

    def committed_bytes(self) -> int:
        with catalog_for(self.url).session() as session:
            return committed_bytes(session, "alice", datetime.now(UTC))


@contextmanager
def lifecycle_state(store: Store) -> Iterator[LifecycleState]:
    url = get_settings().catalog_url
    migrate(url)
    with catalog_for(url).session() as session:
        session.add(User(id="alice", tier="free"))
    yield LifecycleState(store)
    catalog_for(url).dispose()
    catalog_for.cache_clear()


def run_artifact(state: State[Any], key: str) -> str:
    """The markdown of the run's artifact `key`."""
    flow_run_id = state.state_details.flow_run_id
    assert flow_run_id is not None
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[UUID(str(flow_run_id))])
            )
        )
    [artifact] = [a for a in artifacts if a.key == key]
    return str(artifact.data)
