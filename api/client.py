"""A client of the upload protocol: what `automl upload` (and a script) use to send a file.

It speaks only HTTP: the API for plans and confirmation, the presigned URLs for the bytes,
which are streamed from disk part by part (several parts at once), never read whole into memory.
A failed upload is left open at the store, so `resume` sends only the parts it lacks.
The read and delete side (`automl datasets`, `automl usage`) is api/datasets_client.py.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, BinaryIO

import httpx

from core.errors import UploadError

CHUNK_BYTES = 1024**2
PART_URL_BATCH = 100  # part URLs asked for at a time (they expire, so not all up front)
PART_ATTEMPTS = 4
PART_RETRY_DELAYS = (1.0, 3.0, 8.0)  # seconds before a part's 2nd, 3rd and 4th attempt
DEFAULT_PARALLEL_PARTS = 4
EXPIRED_URL_STATUSES = (400, 403)  # a presigned URL past its expiry (S3: 403; some stores: 400)
CLOSED_UPLOAD_STATUSES = (404, 409, 410)  # API answers that mean the upload cannot be resumed
VERSION_POLL_SECONDS = 1.0
FINISHED_VERSION_STATES = ("ready", "failed")
CONFIRM_RETRY_DELAYS = (2.0, 5.0)  # seconds before the 2nd and 3rd confirm after a 503
# A confirm answered before its ingestion run existed (`flow_run_id` null, docs/spec.md §3.2) is
# repeated (idempotent, cheap) every RUN_ID_POLL_SECONDS until it names the run, this long at most.
RUN_ID_WAIT_SECONDS = 30.0
RUN_ID_POLL_SECONDS = 0.25

Progress = Callable[[int], None]  # called with the number of bytes just sent
Warn = Callable[[str], None]  # called with each warning of the upload-url answer
# Called with the upload's id and its multipart plan (None for a single PUT) before any byte.
Started = Callable[[str, dict[str, int] | None], None]


class StoreBusyError(UploadError):
    """The store answered 5xx: worth sending the part again."""


class PartUrlRefusedError(UploadError):
    """The store refused a part's URL (expired, most likely): ask the API for a new one."""


class UploadInterruptedError(UploadError):
    """Some parts could not be sent; the upload stays open, so it can be resumed."""

    def __init__(self, message: str, upload_id: str) -> None:
        super().__init__(message)
        self.upload_id = upload_id


def _file_chunks(
    handle: BinaryIO, offset: int, length: int, progress: Progress | None
) -> Iterator[bytes]:
    handle.seek(offset)
    remaining = length
    while remaining > 0:
        chunk = handle.read(min(CHUNK_BYTES, remaining))
        if not chunk:
            raise UploadError("the file got shorter while it was being uploaded")
        remaining -= len(chunk)
        if progress is not None:
            progress(len(chunk))
        yield chunk


class UploadClient:
    """One API base URL and token; `upload` sends a file and confirms it."""

    def __init__(
        self,
        api_url: str,
        token: str,
        timeout: float = 60.0,
        api_client: httpx.Client | None = None,
    ) -> None:
        """`api_client` replaces the HTTP client of the API (an in-process test client)."""
        self._auth = {"Authorization": f"Bearer {token}"}
        self._owns_api = api_client is None  # a client passed in is closed by its owner
        self._api = api_client or httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout)
        self._store = httpx.Client(timeout=httpx.Timeout(timeout, write=None))
        self._api_lock = threading.Lock()  # part threads ask for new part URLs too

    def close(self) -> None:
        if self._owns_api:
            self._api.close()
        self._store.close()

    def __enter__(self) -> UploadClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One API call; its JSON answer, or an UploadError carrying the error body's message."""
        try:
            with self._api_lock:
                response = self._api.request(method, path, json=body, headers=self._auth)
        except httpx.HTTPError as exc:
            raise UploadError(
                f"the API at {self._api.base_url} cannot be reached ({exc})"
            ) from None
        if response.is_success:
            return response.json()
        raise api_error(response, method, path)

    def _put(
        self,
        url: str,
        headers: dict[str, str],
        handle: BinaryIO,
        offset: int,
        length: int,
        progress: Progress | None,
    ) -> httpx.Response:
        sent = {**headers, "Content-Length": str(length)}
        response = self._store.put(
            url, content=_file_chunks(handle, offset, length, progress), headers=sent
        )
        if response.status_code >= 500:
            raise StoreBusyError(f"the store failed the upload: HTTP {response.status_code}")
        if response.status_code in EXPIRED_URL_STATUSES:
            raise PartUrlRefusedError(f"the store refused the URL: HTTP {response.status_code}")
        if not response.is_success:
            raise UploadError(f"the store refused the upload: HTTP {response.status_code}")
        return response

    def upload(
        self,
        path: Path,
        dataset_name: str,
        dataset_id: str | None = None,
        progress: Progress | None = None,
        warn: Warn | None = None,
        parallel: int = DEFAULT_PARALLEL_PARTS,
        started: Started | None = None,
    ) -> dict[str, Any]:
        """Uploads `path` (single PUT or multipart, as the API plans it) and confirms it.

        The API's warnings (a file too large for the stack's embedded store) go to `warn`
        before any byte is sent; `started` gets the upload's id and plan before the first
        byte, so a caller can say how to resume it if the process dies."""
        size = path.stat().st_size
        plan = self.request(
            "POST", "/api/datasets/upload-url", {"filename": path.name, "size_bytes": size}
        )
        if warn is not None:
            for message in plan.get("warnings") or []:
                warn(str(message))
        upload_id = plan["upload_id"]
        if started is not None:
            started(upload_id, plan.get("multipart"))
        confirm = self._confirm_body(upload_id, dataset_name, dataset_id)
        if plan.get("multipart"):
            multipart = plan["multipart"]
            confirm["parts"] = self._send_parts(
                upload_id,
                path,
                multipart["part_size"],
                multipart["part_count"],
                {},
                progress,
                parallel,
            )
        else:
            with path.open("rb") as handle:
                self._put(plan["upload_url"], plan["headers"], handle, 0, size, progress)
        return self._confirm(confirm)

    def resume(
        self,
        upload_id: str,
        path: Path,
        dataset_name: str,
        dataset_id: str | None = None,
        progress: Progress | None = None,
        parallel: int = DEFAULT_PARALLEL_PARTS,
    ) -> dict[str, Any]:
        """Sends the parts of `path` the store does not hold yet for `upload_id`, then confirms.

        The parts already stored count as sent (`progress` gets their bytes first). A part
        stored with another length than the plan's is sent again. The file must be the one
        declared: another size is refused before any byte is sent."""
        state = self.upload_state(upload_id)
        size = path.stat().st_size
        if size != state["size_bytes"]:
            raise UploadError(
                f"{path} is {size:,} bytes, but upload {upload_id} was declared with "
                f"{state['size_bytes']:,}: resume it with the same file"
            )
        confirm = self._confirm_body(upload_id, dataset_name, dataset_id)
        if not state["multipart"]:
            # A single PUT cannot be resumed: its bytes are there (confirm) or not (start over).
            return self._confirm(confirm)
        part_size, part_count = int(state["part_size"]), int(state["part_count"])
        stored: dict[int, str] = {}
        for part in state["stored_parts"]:
            number = int(part["part_number"])
            if part["size_bytes"] == _part_length(number, part_size, part_count, size):
                stored[number] = str(part["etag"])
        if progress is not None:
            progress(sum(_part_length(n, part_size, part_count, size) for n in stored))
        confirm["parts"] = self._send_parts(
            upload_id, path, part_size, part_count, stored, progress, parallel
        )
        return self._confirm(confirm)

    def upload_state(self, upload_id: str) -> dict[str, Any]:
        """The upload's plan and the parts the store holds (`GET /api/datasets/uploads/{id}`)."""
        state: dict[str, Any] = self.request("GET", f"/api/datasets/uploads/{upload_id}")
        return state

    def pending_uploads(self) -> list[dict[str, Any]]:
        """The caller's open uploads, newest first (`GET /api/datasets/uploads`)."""
        answer = self.request("GET", "/api/datasets/uploads")
        return list(answer["uploads"])

    def version(self, dataset_id: str, version_id: str) -> dict[str, Any]:
        version: dict[str, Any] = self.request(
            "GET", f"/api/datasets/{dataset_id}/versions/{version_id}"
        )
        return version

    def wait_for_version(
        self, dataset_id: str, version_id: str, timeout_seconds: float
    ) -> dict[str, Any]:
        """The version once `ready` or `failed`, or as it is when the wait is over."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            version = self.version(dataset_id, version_id)
            if version["status"] in FINISHED_VERSION_STATES or time.monotonic() >= deadline:
                return version
            time.sleep(VERSION_POLL_SECONDS)

    @staticmethod
    def _confirm_body(upload_id: str, dataset_name: str, dataset_id: str | None) -> dict[str, Any]:
        confirm: dict[str, Any] = {"upload_id": upload_id, "dataset_name": dataset_name}
        if dataset_id:
            confirm["dataset_id"] = dataset_id
        return confirm

    def _confirm(self, body: dict[str, Any]) -> dict[str, Any]:
        """Confirms, then again until the answer names the ingestion run (or the wait is over)."""
        result = self._confirm_once(body)
        deadline = time.monotonic() + RUN_ID_WAIT_SECONDS
        while result.get("flow_run_id") is None and time.monotonic() < deadline:
            time.sleep(RUN_ID_POLL_SECONDS)
            result = self._confirm_once(body)
        return result

    def _confirm_once(self, body: dict[str, Any]) -> dict[str, Any]:
        """Confirms, again after a 503 (confirm is idempotent: a retry never makes a second
        version); the last failure names the upload so it can be confirmed later."""
        for delay in (*CONFIRM_RETRY_DELAYS, None):
            try:
                result: dict[str, Any] = self.request("POST", "/api/datasets/confirm", body)
                return result
            except UploadError as exc:
                if exc.status != 503 or delay is None:
                    raise UploadError(f"{exc.message}; upload id {body['upload_id']}") from None
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _part_urls(self, upload_id: str, numbers: list[int]) -> dict[int, dict[str, Any]]:
        batch = self.request(
            "POST", "/api/datasets/upload-parts", {"upload_id": upload_id, "part_numbers": numbers}
        )
        return {int(part["part_number"]): part for part in batch["parts"]}

    def _send_parts(
        self,
        upload_id: str,
        path: Path,
        part_size: int,
        part_count: int,
        stored: dict[int, str],
        progress: Progress | None,
        parallel: int,
    ) -> list[dict[str, Any]]:
        """Sends every part not in `stored` (number -> ETag), `parallel` at a time; every
        part's ETag in order. Part URLs are asked for PART_URL_BATCH at a time, as they are
        needed, since they expire.

        A part that still fails after its retries stops the upload but does not abort it: no
        part starts after it, the parts in flight finish, the parts sent stay at the store, and
        UploadInterruptedError names the upload to resume."""
        size = path.stat().st_size
        etags = dict(stored)
        missing = [n for n in range(1, part_count + 1) if n not in stored]
        stop = threading.Event()  # set when the upload stops: the parts in flight break off
        with ThreadPoolExecutor(max(1, parallel), thread_name_prefix="part") as pool:
            try:
                for first in range(0, len(missing), PART_URL_BATCH):
                    urls = self._part_urls(upload_id, missing[first : first + PART_URL_BATCH])
                    futures = [
                        pool.submit(
                            self._send_part,
                            upload_id,
                            path,
                            url,
                            part_size,
                            part_count,
                            size,
                            progress,
                            stop,
                        )
                        for url in urls.values()
                    ]
                    wait(futures, return_when=FIRST_EXCEPTION)
                    failed = [f for f in futures if f.done() and f.exception() is not None]
                    if failed:
                        for other in futures:
                            other.cancel()  # the parts not started stay for the resume
                        wait(futures)  # the parts in flight finish: less to send on resume
                        failed[0].result()  # raises the part's error
                    for future in futures:
                        number, etag = future.result()
                        etags[number] = etag
            except (UploadError, httpx.HTTPError, OSError) as exc:
                stop.set()
                if isinstance(exc, UploadError) and exc.status in CLOSED_UPLOAD_STATUSES:
                    raise  # the API closed the upload (expired, aborted): nothing to resume
                message = exc.message if isinstance(exc, UploadError) else str(exc)
                raise UploadInterruptedError(message, upload_id) from exc
            except BaseException:  # Ctrl-C: the parts sent stay, the rest break off at once
                stop.set()
                raise
        return [{"part_number": n, "etag": etags[n]} for n in range(1, part_count + 1)]

    def _send_part(
        self,
        upload_id: str,
        path: Path,
        part: dict[str, Any],
        part_size: int,
        part_count: int,
        size: int,
        progress: Progress | None,
        stop: threading.Event,
    ) -> tuple[int, str]:
        """PUTs one part from its own file handle, again from its start after a dropped
        connection or a 5xx (after a pause), and with a new URL after the store refused the
        URL (it expired)."""
        number = int(part["part_number"])
        offset = (number - 1) * part_size
        length = _part_length(number, part_size, part_count, size)
        with path.open("rb") as handle:
            for attempt in range(1, PART_ATTEMPTS + 1):
                sent = 0

                def counted(count: int) -> None:
                    nonlocal sent
                    if stop.is_set():
                        raise UploadError(f"part {number} stopped: the upload stopped")
                    sent += count
                    if progress is not None:
                        progress(count)

                try:
                    response = self._put(
                        part["upload_url"], part["headers"], handle, offset, length, counted
                    )
                    return number, str(response.headers["etag"])
                except (httpx.HTTPError, StoreBusyError, PartUrlRefusedError) as exc:
                    if progress is not None:
                        progress(-sent)
                    if attempt == PART_ATTEMPTS:
                        raise UploadError(
                            f"part {number} failed {PART_ATTEMPTS} times: {exc}"
                        ) from exc
                    time.sleep(PART_RETRY_DELAYS[min(attempt, len(PART_RETRY_DELAYS)) - 1])
                    if isinstance(exc, PartUrlRefusedError):
                        part = self._part_urls(upload_id, [number])[number]
        raise AssertionError("unreachable")


def api_error(response: httpx.Response, method: str, path: str) -> UploadError:
    """The error body's message with its code and status: how every client here words it."""
    try:
        error = response.json()["error"]
        message = f"{error['message']} ({error['code']}, HTTP {response.status_code})"
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code} from {method} {path}"
    return UploadError(message, response.status_code)


def _part_length(number: int, part_size: int, part_count: int, size: int) -> int:
    """Bytes in part `number` (1-based): every part is full except the last."""
    return part_size if number < part_count else size - part_size * (part_count - 1)
