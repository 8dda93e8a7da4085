"""`/` serves the upload page, and its script and style, from the API's own origin with the
types a browser needs (a script served as text/plain is refused under nosniff)."""

from __future__ import annotations

import re

from api.routes.page import PAGE_DIR, SCRIPT_MODULES
from tests.support.api_client import Api


def test_the_root_serves_the_page_and_its_assets_with_their_types(api: Api) -> None:
    page = api.client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["x-content-type-options"] == "nosniff"
    assets = re.findall(r'(?:src|href)="(/page/[^"]+)"', page.text)
    assert sorted(assets) == ["/page/app.js", "/page/style.css"]
    assert '<script type="module" src="/page/app.js">' in page.text
    # Every module the script imports, and those they import, is served as JavaScript (a module
    # served as anything else is refused by the browser, and the page would stay dead).
    modules, scripts = ["app.js"], {}
    while modules:
        name = modules.pop()
        script = api.client.get(f"/page/{name}")
        assert script.status_code == 200, name
        assert script.headers["content-type"] == "text/javascript; charset=utf-8", name
        assert script.headers["x-content-type-options"] == "nosniff", name
        scripts[name] = script.text
        imported = re.findall(r'^import [^;]+ from "\./([a-z]+\.js)";$', script.text, re.M)
        modules += [module for module in imported if module not in scripts]
    assert len(scripts) == len(SCRIPT_MODULES)  # nothing served that the page does not use
    assert sorted(scripts) == sorted(path.name for path in PAGE_DIR.glob("*.js"))
    assert any("/api/datasets/upload-url" in text for text in scripts.values())
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
