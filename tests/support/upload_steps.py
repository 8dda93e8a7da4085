"""Steps of the upload protocol, as a client performs them (tests of the API share them)."""

from __future__ import annotations

from typing import Any

import httpx

from tests.support.api_client import Api

# One client for the store's presigned URLs: `httpx.put` builds a client, and its TLS context
# from certifi's CA file, on every call (19 ms).
STORE_HTTP = httpx.Client()

CSV = b"city,temperature,rainy\nOslo,4.5,true\nLima,19.0,false\nPune,31.2,false\n"


def upload(api: Api, body: bytes = CSV, filename: str = "weather.csv", user: str = "alice") -> str:
    """Asks for an upload URL and PUTs `body` through it; returns the upload id."""
    response = api.post(
        "/api/datasets/upload-url", {"filename": filename, "size_bytes": len(body)}, user
    )
    assert response.status_code == 200, response.text
    plan = response.json()
    put = STORE_HTTP.put(plan["upload_url"], content=body, headers=plan["headers"])
    assert put.status_code == 200, put.text
    return str(plan["upload_id"])


def confirm(api: Api, upload_id: str, user: str = "alice", **extra: Any) -> httpx.Response:
    return api.post(
        "/api/datasets/confirm",
        {"upload_id": upload_id, "dataset_name": "weather", **extra},
        user,
    )


def error_of(response: httpx.Response) -> tuple[int, str]:
    """Status and code of an error answer, after checking it has the body of docs/spec.md §3."""
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message"}, body
    assert body["error"]["message"]
    return response.status_code, str(body["error"]["code"])


def put_parts(
    api: Api, upload_id: str, body: bytes, part_size: int, count: int
) -> list[dict[str, object]]:
    response = api.post(
        "/api/datasets/upload-parts",
        {"upload_id": upload_id, "part_numbers": list(range(1, count + 1))},
    )
    assert response.status_code == 200, response.text
    parts = []
    for part in response.json()["parts"]:
        number = part["part_number"]
        chunk = body[(number - 1) * part_size : number * part_size]
        assert part["headers"] == {"Content-Length": str(len(chunk))}
        put = STORE_HTTP.put(part["upload_url"], content=chunk, headers=part["headers"])
        assert put.status_code == 200, put.text
        parts.append({"part_number": number, "etag": put.headers["etag"]})
    return parts
