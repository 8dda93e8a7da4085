"""A catalog and a bucket that agree, made straight through the catalog's own transitions and
plain S3 writes (no flow runs), for fsck's tests to tamper with: ready versions, a failed
version's kept upload, a published model with its plots."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from blocks.objects import write_tombstone
from catalog.database import Catalog, catalog_for, migrate
from catalog.datasets import (
    IngestionOutcome,
    create_upload,
    create_version,
    mark_failed,
    mark_ingesting,
    mark_ready,
)
from catalog.jobs import create_job, mark_plots_rendered, mark_running, mark_succeeded
from catalog.tables import User
from core.keys import model_key, model_metadata_key, plot_key
from core.settings import get_settings
from integrity.fsck import FsckReport, run_fsck
from tests.support.stores import Store

PARQUET = b"PAR1 pretend parquet bytes PAR1"
RAW = b"id,name\n1,ada\n"


@dataclass(frozen=True)
class Version:
    version_id: str
    dataset_id: str
    upload_id: str
    temp_key: str
    parquet_key: str
    user_id: str


@dataclass
class StoredState:
    store: Store
    url: str

    @property
    def catalog(self) -> Catalog:
        return catalog_for(self.url)

    def fsck(self, **options: Any) -> FsckReport:
        return run_fsck(get_settings(), self.store.block, **options)

    def put(self, key: str, body: bytes = b"x") -> None:
        self.store.client.put_object(Bucket=self.store.bucket_name, Key=key, Body=body)

    def remove(self, key: str) -> None:
        self.store.client.delete_object(Bucket=self.store.bucket_name, Key=key)

    def user(self, user_id: str = "alice") -> str:
        with self.catalog.session() as session:
            if session.get(User, user_id) is None:
                session.add(User(id=user_id, tier="free"))
        return user_id

    def _confirmed(self, user_id: str, raw: bytes, dataset_id: str | None) -> Version:
        self.user(user_id)
        expires_at = datetime.now(UTC) + timedelta(hours=1)
        with self.catalog.session() as session:
            upload = create_upload(session, user_id, "data.csv", len(raw), expires_at)
            version = create_version(session, upload.id, "data", dataset_id)
            return Version(
                version.id,
                version.dataset_id,
                upload.id,
                upload.temp_key,
                version.parquet_key,
                user_id,
            )

    def ready_version(
        self, user_id: str = "alice", body: bytes = PARQUET, dataset_id: str | None = None
    ) -> Version:
        """As ingestion leaves it: the Parquet file recorded, a tombstone at the temp key."""
        made = self._confirmed(user_id, RAW, dataset_id)
        self.put(made.parquet_key, body)
        outcome = IngestionOutcome(
            hashlib.sha256(RAW).hexdigest(), hashlib.sha256(body).hexdigest(), len(body), 1, 2, {}
        )
        with self.catalog.session() as session:
            assert mark_ingesting(session, made.version_id, None)
            assert mark_ready(session, made.version_id, outcome)
        write_tombstone(self.store.block, made.temp_key)
        return made

    def failed_version(self, user_id: str = "alice", raw: bytes = RAW) -> Version:
        """As a failed ingestion leaves it: the upload kept at its temp key, in the ledger."""
        made = self._confirmed(user_id, raw, None)
        self.put(made.temp_key, raw)
        with self.catalog.session() as session:
            assert mark_failed(session, made.version_id, "row 2 has 1 field, expected 2")
        return made

    def published_job(self, version: Version) -> str:
        """As training and render-plots leave it: the model, its metadata and two plots."""
        with self.catalog.session() as session:
            job_id = create_job(session, version.user_id, version.version_id, "name", None).id
            mark_running(session, job_id, None)
        files = {
            model_key(version.user_id, job_id): b"model bytes",
            model_metadata_key(version.user_id, job_id): b'{"schema_version": 1}',
        }
        plots = {plot_key(job_id, name): b"\x89PNG " + name.encode() for name in ("a", "b")}
        for key, body in (files | plots).items():
            self.put(key, body)
        with self.catalog.session() as session:
            sizes = {key: len(body) for key, body in files.items()}
            assert mark_succeeded(session, job_id, "classification", {}, sizes)
            assert mark_plots_rendered(session, job_id, {k: len(b) for k, b in plots.items()})
        return job_id


@contextmanager
def stored_state(store: Store) -> Iterator[StoredState]:
    url = get_settings().catalog_url
    migrate(url)
    yield StoredState(store, url)
    catalog_for(url).dispose()
    catalog_for.cache_clear()
