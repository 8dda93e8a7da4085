"""On a store that checks signatures, an upload URL (single PUT or part) that was used once
never writes again while it is valid: after ingestion, a failed ingestion, a rejected confirm,
an abort, and the cleanup flow (docs/spec.md §3.2; docs/architecture.md, *Single-use URLs*).

The store itself refuses: a used key is kept occupied (a tombstone) until the URL expired, so the
PUT URL's signed `If-None-Match: *` answers 412; a part URL is bound to its multipart upload,
which the store forgets once it is completed or aborted (404 `NoSuchUpload`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from blocks.objects import head_object
from flows.cleanup_stale_uploads import cleanup_stale_uploads
from flows.ingest_dataset import ingest_dataset
from tests.support.api_client import Api
from tests.support.upload_steps import CSV, confirm, error_of

pytestmark = pytest.mark.e2e  # a store that checks signatures: LocalStack (moto does not)

MiB = 1024**2
RAGGED = b"a,b\n1,2\n3\n"  # fails ingestion: row 3 has one field


def _plan(api: Api, size: int, filename: str = "a.csv") -> dict[str, Any]:
    response = api.post("/api/datasets/upload-url", {"filename": filename, "size_bytes": size})
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    return plan


def _put(plan: dict[str, Any], body: bytes) -> int:
    return httpx.put(plan["upload_url"], content=body, headers=plan["headers"]).status_code


def _stored(api: Api, key: str) -> bytes:
    body: bytes = api.store.client.get_object(Bucket=api.store.bucket_name, Key=key)["Body"].read()
    return body


def _is_tombstone(api: Api, key: str) -> bool:
    info = head_object(api.store.block, key)
    return info is not None and info.tombstone and info.size == 0


def _confirmed(api: Api, plan: dict[str, Any], **extra: Any) -> str:
    response = confirm(api, str(plan["upload_id"]), **extra)
    assert response.status_code == 202, response.text
    return str(response.json()["version_id"])


def test_the_put_url_is_refused_after_ingestion(signing_api_with: Callable[..., Api]) -> None:
    api = signing_api_with()
    plan = _plan(api, len(CSV))
    assert _put(plan, CSV) == 200
    assert ingest_dataset(_confirmed(api, plan)) == "ready"
    key = f"uploads/temp/{plan['upload_id']}.csv"
    assert _is_tombstone(api, key)  # the bytes are gone, the key is not free
    assert _put(plan, CSV) == 412
    assert _is_tombstone(api, key)


def test_the_put_url_is_refused_after_a_failed_ingestion(
    signing_api_with: Callable[..., Api],
) -> None:
    api = signing_api_with()
    plan = _plan(api, len(RAGGED))
    assert _put(plan, RAGGED) == 200
    version_id = _confirmed(api, plan)
    assert ingest_dataset(version_id, return_state=True).is_failed()
    fixed = b"a,b\n1,2\n3,"  # same length: the URL's signed Content-Length
    assert len(fixed) == len(RAGGED)
    assert _put(plan, fixed) == 412
    assert _stored(api, f"uploads/temp/{plan['upload_id']}.csv") == RAGGED  # kept as it was


@pytest.mark.parametrize("permanent", [False, True], ids=["delete", "permanent-delete"])
def test_the_put_url_of_a_failed_upload_is_refused_after_its_dataset_is_deleted(
    signing_api_with: Callable[..., Api], permanent: bool
) -> None:
    """Deleting the dataset moves the failed version's kept upload away (and a permanent delete
    purges it): the temp key keeps a tombstone, so the still-valid URL cannot write it again."""
    api = signing_api_with()
    plan = _plan(api, len(RAGGED))
    assert _put(plan, RAGGED) == 200
    response = confirm(api, str(plan["upload_id"]))
    assert response.status_code == 202, response.text
    assert ingest_dataset(response.json()["version_id"], return_state=True).is_failed()
    dataset_id = response.json()["dataset_id"]
    query = "?permanent=true" if permanent else ""
    deleted = api.client.delete(f"/api/datasets/{dataset_id}{query}", headers=api.token())
    assert deleted.status_code == 200, deleted.text
    key = f"uploads/temp/{plan['upload_id']}.csv"
    assert _is_tombstone(api, key)
    assert (head_object(api.store.block, f"deleted/{key}") is not None) is not permanent
    assert _put(plan, RAGGED) == 412
    assert _is_tombstone(api, key)


def test_the_put_url_of_a_failed_upload_is_refused_after_the_trash_is_purged(
    signing_api_with: Callable[..., Api],
) -> None:
    api = signing_api_with()
    plan = _plan(api, len(RAGGED))
    assert _put(plan, RAGGED) == 200
    assert ingest_dataset(_confirmed(api, plan), return_state=True).is_failed()
    purged = api.client.delete("/api/trash", headers=api.token())
    assert purged.status_code == 200, purged.text
    assert purged.json()["objects_purged"] == 1
    key = f"uploads/temp/{plan['upload_id']}.csv"
    assert _is_tombstone(api, key)
    assert _put(plan, RAGGED) == 412


def test_the_put_url_is_refused_after_a_rejected_confirm(
    signing_api_with: Callable[..., Api],
) -> None:
    api = signing_api_with()
    plan = _plan(api, len(CSV))
    key = f"uploads/temp/{plan['upload_id']}.csv"
    # Written past the URL with another size (a store that does not check signed lengths).
    api.store.client.put_object(Bucket=api.store.bucket_name, Key=key, Body=CSV + b"x,y,z\n")
    assert error_of(confirm(api, str(plan["upload_id"]))) == (422, "content_rejected")
    assert _is_tombstone(api, key)
    assert _put(plan, CSV) == 412
    assert _is_tombstone(api, key)


def test_the_tombstone_is_removed_by_cleanup_only_once_the_url_expired(
    signing_api_with: Callable[..., Api],
) -> None:
    api = signing_api_with(AUTOML_PRESIGN_EXPIRES_SECONDS="5")
    plan = _plan(api, len(CSV))
    assert _put(plan, CSV) == 200
    assert ingest_dataset(_confirmed(api, plan)) == "ready"
    key = f"uploads/temp/{plan['upload_id']}.csv"

    cleanup_stale_uploads()  # the upload's URLs may still be valid: the key stays occupied
    assert _is_tombstone(api, key)
    assert _put(plan, CSV) in (412, 403)  # 412 while the URL is valid, 403 once it expired

    expired = datetime.fromisoformat(plan["expires_at"]) + timedelta(seconds=1)
    time.sleep(max(0.0, (expired - datetime.now(UTC)).total_seconds()))  # the URL's lifetime
    report = cleanup_stale_uploads(now=datetime.now(UTC) + timedelta(hours=2))
    assert report.strays_removed == 1
    assert api.store.keys("uploads/temp/") == []
    assert _put(plan, CSV) == 403  # expired: the store refuses it, nothing is written
    assert api.store.keys("uploads/temp/") == []


def _csv_of(size: int) -> bytes:
    rows = b"".join(b"%d,%d\n" % (i, i * 7) for i in range(size // 8))
    body = (b"a,b\n" + rows)[:size]
    return body[: body.rfind(b"\n") + 1]


def _part_url(api: Api, upload_id: str) -> dict[str, Any]:
    response = api.post("/api/datasets/upload-parts", {"upload_id": upload_id, "part_numbers": [1]})
    assert response.status_code == 200, response.text
    [part] = response.json()["parts"]
    return dict(part)


def _put_part(part: dict[str, Any], body: bytes) -> httpx.Response:
    return httpx.put(part["upload_url"], content=body, headers=part["headers"])


def _refused_no_such_upload(response: httpx.Response) -> bool:
    return response.status_code == 404 and "NoSuchUpload" in response.text


def test_a_part_url_is_refused_after_an_abort(signing_api_with: Callable[..., Api]) -> None:
    api = signing_api_with(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))
    body = _csv_of(6 * MiB)
    plan = _plan(api, len(body), "big.csv")
    assert plan["multipart"] == {"part_size": 16 * MiB, "part_count": 1}
    part = _part_url(api, str(plan["upload_id"]))
    assert _put_part(part, body).status_code == 200
    aborted = api.post("/api/datasets/upload-abort", {"upload_id": plan["upload_id"]})
    assert aborted.status_code == 200, aborted.text
    assert _refused_no_such_upload(_put_part(part, body))
    assert api.store.keys() == []
    listed = api.store.client.list_multipart_uploads(Bucket=api.store.bucket_name)
    assert listed.get("Uploads", []) == []


def test_a_part_url_is_refused_after_ingestion(signing_api_with: Callable[..., Api]) -> None:
    api = signing_api_with(AUTOML_MULTIPART_THRESHOLD_BYTES=str(5 * MiB))
    body = _csv_of(6 * MiB)
    plan = _plan(api, len(body), "big.csv")
    part = _part_url(api, str(plan["upload_id"]))
    put = _put_part(part, body)
    assert put.status_code == 200
    parts = [{"part_number": 1, "etag": put.headers["etag"]}]
    assert ingest_dataset(_confirmed(api, plan, parts=parts)) == "ready"
    assert _refused_no_such_upload(_put_part(part, body))
    assert _is_tombstone(api, f"uploads/temp/{plan['upload_id']}.csv")
