"""Multipart uploads through the API: plan, presigned part URLs, confirm assembles, abort."""

from __future__ import annotations

from sqlalchemy import select, update

from catalog.database import catalog_for
from catalog.tables import Upload
from tests.support.api_client import Api
from tests.support.upload_steps import error_of, put_parts

MiB = 1024**2


def _csv(size: int) -> bytes:
    rows = b"".join(b"%d,%d\n" % (i, i * 7) for i in range(size // 8))
    body = (b"a,b\n" + rows)[:size]
    return body[: body.rfind(b"\n") + 1]


def _plan(api: Api, size: int) -> dict[str, object]:
    response = api.post("/api/datasets/upload-url", {"filename": "big.csv", "size_bytes": size})
    assert response.status_code == 200, response.text
    plan: dict[str, object] = response.json()
    return plan


def test_a_large_file_uploads_in_parts_and_confirms(multipart_api: Api) -> None:
    body = _csv(40 * MiB)
    plan = _plan(multipart_api, len(body))
    assert plan["upload_url"] is None
    assert plan["multipart"] == {"part_size": 16 * MiB, "part_count": 3}
    upload_id = str(plan["upload_id"])
    parts = put_parts(multipart_api, upload_id, body, 16 * MiB, 3)
    confirmed = multipart_api.post(
        "/api/datasets/confirm",
        {"upload_id": upload_id, "dataset_name": "big", "parts": list(reversed(parts))},
    )
    assert confirmed.status_code == 202, confirmed.text
    key = f"uploads/temp/{upload_id}.csv"
    stored = multipart_api.store.client.get_object(Bucket=multipart_api.store.bucket_name, Key=key)[
        "Body"
    ].read()
    assert stored == body
    again = multipart_api.post(
        "/api/datasets/confirm", {"upload_id": upload_id, "dataset_name": "big", "parts": parts}
    )
    assert again.json() == confirmed.json()


def test_confirm_without_every_part_is_400_and_stays_confirmable(multipart_api: Api) -> None:
    body = _csv(20 * MiB)
    upload_id = str(_plan(multipart_api, len(body))["upload_id"])
    parts = put_parts(multipart_api, upload_id, body, 16 * MiB, 2)
    partial = multipart_api.post(
        "/api/datasets/confirm",
        {"upload_id": upload_id, "dataset_name": "big", "parts": parts[:1]},
    )
    assert error_of(partial) == (400, "invalid_input")
    wrong_etag = [parts[0], {"part_number": 2, "etag": "0" * 32}]
    refused = multipart_api.post(
        "/api/datasets/confirm",
        {"upload_id": upload_id, "dataset_name": "big", "parts": wrong_etag},
    )
    assert error_of(refused) == (409, "conflict")
    good = multipart_api.post(
        "/api/datasets/confirm", {"upload_id": upload_id, "dataset_name": "big", "parts": parts}
    )
    assert good.status_code == 202, good.text


def test_part_numbers_outside_the_plan_are_400(multipart_api: Api) -> None:
    upload_id = str(_plan(multipart_api, 20 * MiB)["upload_id"])
    response = multipart_api.post(
        "/api/datasets/upload-parts", {"upload_id": upload_id, "part_numbers": [1, 3]}
    )
    assert error_of(response) == (400, "invalid_input")


def test_abort_discards_the_parts_and_releases_the_reservation(multipart_api: Api) -> None:
    body = _csv(20 * MiB)
    upload_id = str(_plan(multipart_api, len(body))["upload_id"])
    put_parts(multipart_api, upload_id, body, 16 * MiB, 2)
    aborted = multipart_api.post("/api/datasets/upload-abort", {"upload_id": upload_id})
    assert aborted.status_code == 200 and aborted.json()["status"] == "aborted"
    listed = multipart_api.store.client.list_multipart_uploads(
        Bucket=multipart_api.store.bucket_name
    )
    assert listed.get("Uploads", []) == []
    with catalog_for(multipart_api.settings.catalog_url).session() as session:
        upload = session.execute(select(Upload).where(Upload.id == upload_id)).scalar_one()
        assert (upload.status, upload.reserved_bytes) == ("aborted", 0)
    assert (
        multipart_api.post("/api/datasets/upload-abort", {"upload_id": upload_id}).status_code
        == 200
    )
    after = multipart_api.post(
        "/api/datasets/upload-parts", {"upload_id": upload_id, "part_numbers": [1]}
    )
    assert error_of(after) == (409, "conflict")
    assert error_of(
        multipart_api.post("/api/datasets/upload-abort", {"upload_id": upload_id}, user="mallory")
    ) == (404, "not_found")


def test_part_urls_of_an_upload_closed_as_expired_are_410(multipart_api: Api) -> None:
    upload_id = str(_plan(multipart_api, 20 * MiB)["upload_id"])
    with catalog_for(multipart_api.settings.catalog_url).session() as session:
        session.execute(update(Upload).where(Upload.id == upload_id).values(status="expired"))
    after = multipart_api.post(
        "/api/datasets/upload-parts", {"upload_id": upload_id, "part_numbers": [1]}
    )
    assert error_of(after) == (410, "expired")
