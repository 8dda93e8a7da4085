"""`/` serves the upload page, and its script and style, from the API's own origin with the
types a browser needs (a script served as text/plain is refused under nosniff)."""

from __future__ import annotations

import re

from tests.support.api_client import Api


def test_the_root_serves_the_page_and_its_assets_with_their_types(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assets = re.findall(r'(?:src|href)="(/page/[^"]+)"', page.text)
    assert sorted(assets) == ["/page/app.js", "/page/style.css"]
    script = api.client.get("/page/app.js")
    assert script.status_code == 200
    assert script.headers["content-type"] == "text/javascript; charset=utf-8"
    assert "/api/datasets/upload-url" in script.text
    style = api.client.get("/page/style.css")
    assert style.status_code == 200
    assert style.headers["content-type"] == "text/css; charset=utf-8"


def test_every_control_of_the_page_has_a_label(api: Api) -> None:
    page = api.client.get("/").text
    controls = re.findall(r"<(?:input|select)[^>]*\bid=\"([^\"]+)\"", page)
    labelled = set(re.findall(r'<label[^>]*\bfor="([^"]+)"', page))
    assert controls and set(controls) <= labelled


def test_only_the_pages_own_files_are_served(api: Api) -> None:
    for path in ("/page/index.html", "/page/..%2Fapp.py", "/page/routes", "/page/"):
        answer = api.client.get(path)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/json"


def test_the_page_is_not_in_the_api_document(api: Api) -> None:
    paths = api.client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/page/") for path in paths)
