"""The API serving its upload page over LocalStack's S3 (real signatures, real CORS), with the
bucket's CORS rules listing the API's origin or not (tests/api/test_upload_page_browser.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import pytest

from api.app import create_app
from catalog.accounts import create_token
from catalog.database import catalog_for
from core.settings import MiB, get_settings
from flows.setup_storage import setup_storage
from tests.support.api_server import serve_api
from tests.support.stores import Store, StoreSpec, use_store

PAGE_QUOTA = 100 * MiB
PAGE_MULTIPART_THRESHOLD = 16 * MiB  # the smallest part the API plans: 2 parts need > 16 MiB


@dataclass
class PageStack:
    api_url: str
    token: str
    store: Store

    def get(self, path: str) -> dict[str, object]:
        answer = httpx.get(
            self.api_url + path, headers={"Authorization": f"Bearer {self.token}"}, timeout=30
        )
        answer.raise_for_status()
        result: dict[str, object] = answer.json()
        return result

    def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        answer = httpx.post(
            self.api_url + path,
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )
        answer.raise_for_status()
        result: dict[str, object] = answer.json()
        return result

    def latest_version(self) -> tuple[str, str]:
        """(dataset id, version id) of the newest dataset's latest version."""
        item = self.get("/api/datasets")["items"][0]  # type: ignore[index]
        return item["id"], item["latest_version"]["id"]


@contextmanager
def serve_page_stack(
    spec: StoreSpec, monkeypatch: pytest.MonkeyPatch, *, bucket_lists_the_page: bool
) -> Iterator[PageStack]:
    store = use_store(spec, monkeypatch)
    monkeypatch.setenv("AUTOML_MULTIPART_THRESHOLD_BYTES", str(PAGE_MULTIPART_THRESHOLD))
    # A quota a test can fill with one reservation; files up to 100 MiB as on the free tier.
    monkeypatch.setenv(
        "AUTOML_TIERS",
        json.dumps({"free": {"max_file_bytes": PAGE_QUOTA, "quota_bytes": PAGE_QUOTA}}),
    )
    get_settings.cache_clear()
    settings = get_settings()
    app = create_app(settings, storage=store.block)
    with catalog_for(settings.catalog_url).session() as session:
        token = create_token(session, settings, "page-user", "free")
    try:
        with serve_api(app) as api_url:
            # The page's origin is the API's: the only origin the store must let in.
            setup_storage(cors_origins=[api_url if bucket_lists_the_page else "http://127.0.0.1:9"])
            yield PageStack(api_url, token, store)
    finally:
        store.remove_bucket()
