"""Every route checks its input before any query: ids that are not ones the API gives out answer
404 (in the path) or 400 (in a body), text with NUL is 400, never a 500 on either catalog; and a
path cannot forge a line of the access log."""

from __future__ import annotations

import logging
import re
import uuid
from urllib.parse import quote

import pytest

from api.identifiers import ID_PATTERN
from api.request_log import loggable_path
from tests.support.api_client import Api
from tests.support.upload_steps import error_of

KNOWN_SHAPE = str(uuid.uuid4())  # well-formed, never given out
MALFORMED_IDS = [
    "not-an-id",
    "\x00",
    f"{KNOWN_SHAPE[:-1]}\x00",
    "x" * 10_240,
    KNOWN_SHAPE.upper(),
    f"{KNOWN_SHAPE}\n",
    "' OR 1=1 --",
    "é" * 36,
]
PATH_ROUTES = [
    ("get", "/api/datasets/{id}"),
    ("delete", "/api/datasets/{id}"),
    ("get", "/api/datasets/{id}/versions/" + KNOWN_SHAPE),
    ("get", f"/api/datasets/{KNOWN_SHAPE}/versions/{{id}}"),
    ("get", f"/api/datasets/{KNOWN_SHAPE}/versions/{{id}}/download-url"),
    ("get", "/api/jobs/{id}"),
    ("get", "/api/jobs/{id}/plots"),
    ("get", "/api/models/{id}"),
]


def _path(template: str, identifier: str) -> str:
    return template.replace("{id}", quote(identifier, safe=""))


def test_malformed_path_ids_are_404_on_every_route(any_catalog_api: Api) -> None:
    api = any_catalog_api
    headers = api.token()
    for method, template in PATH_ROUTES:
        unknown = api.client.request(method, _path(template, KNOWN_SHAPE), headers=headers)
        assert error_of(unknown) == (404, "not_found"), (method, template)
        for identifier in MALFORMED_IDS:
            response = api.client.request(method, _path(template, identifier), headers=headers)
            assert error_of(response) == (404, "not_found"), (method, template, identifier[:40])
            message = response.json()["error"]["message"]
            assert identifier not in message and len(message) < 100
            without_token = api.client.request(method, _path(template, identifier))
            assert error_of(without_token) == (401, "unauthenticated")


BODY_ROUTES: list[tuple[str, dict[str, object], str]] = [
    ("/api/datasets/upload-parts", {"part_numbers": [1]}, "upload_id"),
    ("/api/datasets/upload-abort", {}, "upload_id"),
    ("/api/datasets/confirm", {"dataset_name": "weather"}, "upload_id"),
    ("/api/datasets/confirm", {"upload_id": KNOWN_SHAPE, "dataset_name": "w"}, "dataset_id"),
    ("/api/jobs/train", {"target": "churned"}, "version_id"),
]


def test_malformed_body_ids_are_400_on_every_route(any_catalog_api: Api) -> None:
    api = any_catalog_api
    for path, body, field in BODY_ROUTES:
        unknown = api.post(path, {**body, field: KNOWN_SHAPE})
        assert unknown.status_code == 404, (path, field, unknown.text)
        for identifier in MALFORMED_IDS:
            response = api.post(path, {**body, field: identifier})
            assert error_of(response) == (400, "invalid_input"), (path, field, identifier[:40])
            assert field in response.json()["error"]["message"]
            assert identifier not in response.json()["error"]["message"]


TEXT_WITH_NUL: list[tuple[str, dict[str, object]]] = [
    ("/api/datasets/upload-url", {"filename": "a\x00.csv", "size_bytes": 10}),
    ("/api/datasets/upload-url", {"filename": "a.csv", "size_bytes": 1, "content_type": "\x00"}),
    ("/api/datasets/confirm", {"upload_id": KNOWN_SHAPE, "dataset_name": "we\x00ther"}),
    (
        "/api/datasets/confirm",
        {
            "upload_id": KNOWN_SHAPE,
            "dataset_name": "weather",
            "parts": [{"part_number": 1, "etag": '"\x00"'}],
        },
    ),
    ("/api/jobs/train", {"version_id": KNOWN_SHAPE, "target": "chur\x00ned"}),
]


def test_text_with_nul_is_400_before_any_query(any_catalog_api: Api) -> None:
    for path, body in TEXT_WITH_NUL:
        response = any_catalog_api.post(path, body)
        assert error_of(response) == (400, "invalid_input"), (path, response.text)
        assert "NUL" in response.json()["error"]["message"]


def test_names_and_query_strings_are_bounded(api: Api) -> None:
    headers = api.token()
    long_name = {"upload_id": KNOWN_SHAPE, "dataset_name": "n" * 256}
    assert error_of(api.post("/api/datasets/confirm", long_name)) == (400, "invalid_input")
    long_file = {"filename": "f" * 252 + ".csv", "size_bytes": 1}
    assert error_of(api.post("/api/datasets/upload-url", long_file)) == (400, "invalid_input")
    long_target = {"version_id": KNOWN_SHAPE, "target": "t" * 1025}
    assert error_of(api.post("/api/jobs/train", long_target)) == (400, "invalid_input")
    for query in ("limit=0", "limit=201", f"offset={10**30}", "offset=-1", "limit=%00"):
        response = api.client.get(f"/api/datasets?{query}", headers=headers)
        assert error_of(response) == (400, "invalid_input"), query
    refused = api.client.delete(f"/api/datasets/{KNOWN_SHAPE}?permanent=%0A", headers=headers)
    assert error_of(refused) == (400, "invalid_input")


def _access_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        line
        for record in caplog.records
        if record.name == "api.access"
        for line in logging.Formatter("%(message)s").format(record).splitlines()
    ]


@pytest.mark.parametrize(
    "encoded",
    [
        "x%0Aforged-id GET /api/usage 200 1.0ms",
        "x%0D%0Aforged-id GET /api/usage 200 1.0ms",
        "x%E2%80%A8forged-id GET /api/usage 200 1.0ms",
        "x%1B%5B2Kforged-id GET /api/usage 200 1.0ms",
        "x%5Cnforged-id GET /api/usage 200 1.0ms",
    ],
)
def test_an_encoded_control_character_cannot_forge_an_access_log_line(
    api: Api, caplog: pytest.LogCaptureFixture, encoded: str
) -> None:
    headers = {**api.token(), "X-Request-ID": "mine"}
    with caplog.at_level(logging.INFO, logger="api.access"):
        response = api.client.get(f"/api/datasets/{encoded}", headers=headers)
    assert error_of(response) == (404, "not_found")
    lines = _access_lines(caplog)
    assert len(lines) == 1, lines
    assert re.fullmatch(r"mine GET /api/datasets/x\\\S+forged-id .* 404 \d+\.\dms", lines[0])
    assert all(char.isprintable() for char in lines[0])


def test_a_long_path_is_logged_cut_and_its_length_named(
    api: Api, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        api.client.get("/api/datasets/" + "y" * 10_240)
    [line] = _access_lines(caplog)
    assert len(line) < 1_200
    assert f"...[{len('/api/datasets/') + 10_240} characters]" in line


def test_loggable_path_escapes_only_what_could_forge_or_hide() -> None:
    assert loggable_path("/api/datasets/ok-é") == "/api/datasets/ok-é"
    assert loggable_path("/a\nb\rc\x00d\x1be\u2028f\u200bg") == (
        "/a\\nb\\rc\\x00d\\x1be\\u2028f\\u200bg"
    )
    assert loggable_path("/a\\nb") == "/a\\\\nb"  # a literal backslash-n is not a newline


def test_the_openapi_document_declares_the_answers_validation_really_gives(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    assert "HTTPValidationError" not in str(spec)  # FastAPI's 422 body: never answered
    error_body = {"$ref": "#/components/schemas/ErrorBody"}
    for path, methods in spec["paths"].items():
        for method, operation in methods.items():
            parameters = operation.get("parameters", [])
            if "requestBody" in operation or any(p["in"] == "query" for p in parameters):
                declared = operation["responses"]["400"]["content"]["application/json"]
                assert declared["schema"] == error_body, (method, path)
            for parameter in parameters:
                if parameter["in"] == "path":
                    assert parameter["schema"]["pattern"] == ID_PATTERN, (method, path)
                    assert "404" in operation["responses"], (method, path)
