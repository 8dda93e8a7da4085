"""The API's read and delete side as a client: `DatasetsClient`, what `automl datasets` and
`automl usage` use (the upload side is api/client.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from api.client import CHUNK_BYTES, Progress, api_error
from api.schemas import (
    DatasetDetail,
    DatasetPage,
    DatasetSummary,
    DeleteResponse,
    DownloadUrlResponse,
    UsageResponse,
    VersionChangesResponse,
    VersionDetail,
)
from core.errors import UploadError

LIST_PAGE_SIZE = 200  # the most `GET /api/datasets` gives at once


class DatasetsClient:
    """The API's read and delete routes, a method each, answers typed by the API's own schemas:
    what `automl datasets` and `automl usage` use. Built on any `httpx.Client` carrying the
    base URL and token (tests pass the app's test client), or by `connect`."""

    def __init__(self, api: httpx.Client, store: httpx.Client | None = None) -> None:
        self._api = api
        # Presigned URLs go to the store, another origin: no API token on them.
        self._store = store or httpx.Client(timeout=httpx.Timeout(60.0, read=None))

    @classmethod
    def connect(cls, api_url: str, token: str, timeout: float = 60.0) -> DatasetsClient:
        api = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
        )
        return cls(api)

    def close(self) -> None:
        self._api.close()
        self._store.close()

    def __enter__(self) -> DatasetsClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self._api.request(method, path, params=params)
        except httpx.HTTPError as exc:
            raise UploadError(
                f"the API at {self._api.base_url} cannot be reached ({exc})"
            ) from None
        if not response.is_success:
            raise api_error(response, method, path)
        return response.json()

    def list_datasets(self, limit: int = 50, offset: int = 0) -> DatasetPage:
        """`GET /api/datasets`: one page, newest first."""
        answer = self._call("GET", "/api/datasets", {"limit": limit, "offset": offset})
        return DatasetPage.model_validate(answer)

    def all_datasets(self) -> list[DatasetSummary]:
        """Every page of `list_datasets`, newest first."""
        items: list[DatasetSummary] = []
        while True:
            page = self.list_datasets(limit=LIST_PAGE_SIZE, offset=len(items))
            items.extend(page.items)
            if not page.items or len(items) >= page.total:
                return items

    def dataset(self, dataset_id: str) -> DatasetDetail:
        """`GET /api/datasets/{id}`: the dataset and its versions."""
        return DatasetDetail.model_validate(self._call("GET", f"/api/datasets/{dataset_id}"))

    def version(self, dataset_id: str, version_id: str) -> VersionDetail:
        """`GET /api/datasets/{id}/versions/{vid}`: status, profile, counts, sizes, error."""
        answer = self._call("GET", f"/api/datasets/{dataset_id}/versions/{version_id}")
        return VersionDetail.model_validate(answer)

    def version_changes(
        self, dataset_id: str, version_id: str, since: str | None = None
    ) -> VersionChangesResponse:
        """`GET .../changes[?since=]`: the version against the ready one before it (or
        `since`), from their profiles (409 until both are ready)."""
        path = f"/api/datasets/{dataset_id}/versions/{version_id}/changes"
        params = None if since is None else {"since": since}
        return VersionChangesResponse.model_validate(self._call("GET", path, params))

    def download_url(self, dataset_id: str, version_id: str) -> DownloadUrlResponse:
        """`GET .../download-url`: a presigned GET of the version's Parquet file (409 until
        ready)."""
        path = f"/api/datasets/{dataset_id}/versions/{version_id}/download-url"
        return DownloadUrlResponse.model_validate(self._call("GET", path))

    def delete_dataset(self, dataset_id: str, permanent: bool = False) -> DeleteResponse:
        """`DELETE /api/datasets/{id}[?permanent=true]` (200, or 202 while finishing)."""
        params = {"permanent": "true"} if permanent else None
        answer = self._call("DELETE", f"/api/datasets/{dataset_id}", params)
        return DeleteResponse.model_validate(answer)

    def usage(self) -> UsageResponse:
        """`GET /api/usage`: quota, used, trash, reserved, committed and free bytes."""
        return UsageResponse.model_validate(self._call("GET", "/api/usage"))

    def download(
        self,
        url: str,
        destination: Path,
        started: Callable[[int | None], None] | None = None,
        progress: Progress | None = None,
    ) -> int:
        """Streams a presigned GET to `destination` a chunk at a time (never whole in memory)
        and returns the bytes written. It is written beside it first and renamed at the end,
        so a cut connection never leaves a short file under the asked name. `started` gets
        the size the store announces."""
        partial = destination.with_name(f".{destination.name}.part")
        written = 0
        try:
            with self._store.stream("GET", url) as response:
                if not response.is_success:
                    raise UploadError(
                        f"the store refused the download: HTTP {response.status_code}",
                        response.status_code,
                    )
                length = response.headers.get("content-length")
                if started is not None:
                    started(int(length) if length is not None else None)
                with partial.open("wb") as handle:
                    for chunk in response.iter_bytes(CHUNK_BYTES):
                        handle.write(chunk)
                        written += len(chunk)
                        if progress is not None:
                            progress(len(chunk))
            partial.replace(destination)
        except httpx.HTTPError as exc:
            raise UploadError(f"the download was cut ({exc}); run it again") from None
        finally:
            partial.unlink(missing_ok=True)
        return written
