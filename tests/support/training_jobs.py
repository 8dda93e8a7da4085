"""Training jobs in a test: a job on a ready version of an uploaded file, recorded as the API
records one, and what it published."""

from __future__ import annotations

from dataclasses import dataclass

from catalog.database import catalog_for
from catalog.jobs import create_job
from catalog.tables import Job
from core.settings import get_settings
from flows.ingest_dataset import ingest_dataset
from tests.support.ingestions import MakeIngestion
from tests.support.stores import Store


@dataclass
class Trained:
    """A training job on a ready dataset version, and the store it reads and publishes to."""

    store: Store
    version_id: str
    job_id: str

    def job(self) -> Job:
        with catalog_for(get_settings().catalog_url).session() as session:
            found = session.get(Job, self.job_id)
            assert found is not None
            return found

    def object(self, key: str) -> bytes:
        body: bytes = self.store.client.get_object(Bucket=self.store.bucket_name, Key=key)[
            "Body"
        ].read()
        return body


def job_on(store: Store, make: MakeIngestion, content: bytes, target: str) -> Trained:
    """`content` uploaded, confirmed and ingested to a ready version, and a job of alice's on it
    for `target`, as the API's train route records one (not started)."""
    ingestion = make(content)
    assert ingest_dataset(ingestion.version_id) == "ready"
    with catalog_for(get_settings().catalog_url).session() as session:
        job_id = create_job(session, "alice", ingestion.version_id, target, None).id
    return Trained(store, ingestion.version_id, job_id)
