"""On a store that checks signatures, a presigned PUT accepts only what it was signed for."""

from __future__ import annotations

import time

import httpx
import pytest

from tasks import storage
from tests.support.stores import Store

pytestmark = pytest.mark.e2e  # a store that checks signatures: LocalStack (moto does not)

BODY = b"a,b\n1,2\n3,4\n"
KEY = "uploads/temp/signed.csv"


def _put(url: str, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.put(url, content=body, headers=headers)


def test_the_signed_request_itself_is_accepted(signing_bucket: Store) -> None:
    request = storage.presign_put(KEY, len(BODY), 600)
    assert _put(request.url, request.headers).status_code == 200


def test_a_tampered_signature_is_refused(signing_bucket: Store) -> None:
    request = storage.presign_put(KEY, len(BODY), 600)
    tampered = request.url[:-4] + ("0000" if not request.url.endswith("0000") else "1111")
    assert _put(tampered, request.headers).status_code == 403
    assert signing_bucket.keys() == []


def test_a_different_length_is_refused(signing_bucket: Store) -> None:
    request = storage.presign_put(KEY, len(BODY), 600)
    longer = BODY + b"5,6\n"
    headers = {**request.headers, "Content-Length": str(len(longer))}
    assert _put(request.url, headers, longer).status_code == 403
    assert signing_bucket.keys() == []


def test_a_different_content_type_is_refused(signing_bucket: Store) -> None:
    request = storage.presign_put(KEY, len(BODY), 600)
    headers = {**request.headers, "Content-Type": "text/csv"}
    assert _put(request.url, headers).status_code == 403
    assert signing_bucket.keys() == []


def test_an_expired_url_is_refused(signing_bucket: Store) -> None:
    request = storage.presign_put(KEY, len(BODY), 1)
    time.sleep(2.5)  # the URL's lifetime is the behaviour under test, not a wait for work
    assert _put(request.url, request.headers).status_code == 403
    assert signing_bucket.keys() == []
