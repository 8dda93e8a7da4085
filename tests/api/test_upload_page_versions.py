"""The upload page's versions, in headless Chromium against LocalStack: a second version of a
dataset shows what changed since the first in plain words, and the Download button fetches the
version's Parquet file through the API's download URL. Screenshots go to the test's tmp dir."""

from __future__ import annotations

import io
import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import polars as pl
import pytest

from tests.support.devtools import DevtoolsBrowser
from tests.support.page_steps import (
    ingest_when_confirmed,
    open_page,
    pick,
    press_key,
    press_upload,
)
from tests.support.upload_page import PageStack
from tests.support.upload_steps import CSV

pytestmark = pytest.mark.e2e  # headless Chromium, LocalStack, the API over HTTP

# Against CSV: `rainy` removed, `wind` added, `temperature` now text, a 4th row, `city` 25% empty.
SECOND = b"city,temperature,wind\nOslo,cold,3\nLima,mild,5\n,hot,2\nRome,warm,4\n"
IN_PLAIN_WORDS = [
    "New column wind (Int64)",
    "Column rainy (Boolean) is gone",
    "Column temperature changed type from Float64 to String",
    "4 rows, 1 more than before (3)",
    "Nulls in city went from 0% to 25% of rows",
]


def upload_ready(browser: DevtoolsBrowser, stack: PageStack, path: Path) -> None:
    """Uploads the picked file and waits for its version to be ready on the page."""
    pick(browser, path)
    press_upload(browser)
    ingest_when_confirmed(browser, stack)
    browser.wait_for("!!document.querySelector('#result .ready')", 60)


def first_dataset_ready(browser: DevtoolsBrowser, stack: PageStack, tmp_path: Path) -> str:
    """Opens the page and uploads a first file until its version is ready; its dataset's id."""
    open_page(browser, stack)
    first = tmp_path / "weather.csv"
    first.write_bytes(CSV)
    upload_ready(browser, stack, first)
    dataset_id, _ = stack.latest_version()
    return dataset_id


def choose_dataset(browser: DevtoolsBrowser, dataset_id: str) -> None:
    """Chooses "as a new version" of the dataset in the form, as a user's click does."""
    option = f'#dataset-id option[value="{dataset_id}"]'
    browser.wait_for(f"!!document.querySelector({json.dumps(option)})")
    browser.evaluate(
        f"const select = document.getElementById('dataset-id'); select.value = {dataset_id!r};"
        "select.dispatchEvent(new Event('change'))"
    )


# Every request for one dataset's versions answered 400 ms late (a slow network), and the ones
# in flight counted: the window in which a refresh of the list used to reset the form's choice.
SLOW_VERSIONS = r"""
window.versionsInFlight = 0;
const realFetch = window.fetch;
window.fetch = async (path, options) => {
  if (!/^\/api\/datasets\/[0-9a-f-]+$/.test(String(path))) return realFetch(path, options);
  window.versionsInFlight += 1;
  try {
    await new Promise((resolve) => setTimeout(resolve, 400));
    return await realFetch(path, options);
  } finally {
    window.versionsInFlight -= 1;
  }
};
"""


def test_a_dataset_chosen_while_the_list_refreshes_stays_chosen(
    page_stack: PageStack, browser: DevtoolsBrowser, tmp_path: Path
) -> None:
    stack = page_stack
    dataset_id = first_dataset_ready(browser, stack, tmp_path)
    browser.wait_for("!!document.querySelector('#datasets .dataset')")
    browser.evaluate(SLOW_VERSIONS)
    browser.evaluate(
        "document.querySelector('#datasets .dataset').dataset.before = 'yes';"
        "document.getElementById('refresh').click()"
    )
    browser.wait_for("window.versionsInFlight === 1")  # the list answered; its versions not yet
    choose_dataset(browser, dataset_id)
    # The refresh has ended: nothing in flight, the list drawn anew.
    browser.wait_for(
        "window.versionsInFlight === 0 && !!document.querySelector('#datasets .dataset')"
        " && !document.querySelector('#datasets [data-before]')",
        30,
    )
    assert browser.evaluate("document.getElementById('dataset-id').value") == dataset_id
    assert browser.evaluate("document.getElementById('name-field').hidden") is True


def test_a_second_version_shows_what_changed_in_plain_words(
    page_stack: PageStack, browser: DevtoolsBrowser, tmp_path: Path
) -> None:
    stack = page_stack
    dataset_id = first_dataset_ready(browser, stack, tmp_path)
    assert browser.evaluate("document.getElementById('changes')") is None  # nothing before it

    second = tmp_path / "weather-december.csv"
    second.write_bytes(SECOND)
    pick(browser, second)
    choose_dataset(browser, dataset_id)
    # A new version keeps its dataset's name: the field for a new one's name is gone.
    assert browser.evaluate("document.getElementById('name-field').hidden") is True
    browser.screenshot(tmp_path / "page-12-second-version-chosen.png")
    press_upload(browser)
    ingest_when_confirmed(browser, stack)
    browser.wait_for("!!document.querySelector('#changes li')", 60)
    assert browser.text("#changes h3") == "Changes since the previous version"
    changes = browser.evaluate(
        "[...document.querySelectorAll('#changes li')].map((li) => li.textContent)"
    )
    assert changes == IN_PLAIN_WORDS, changes
    browser.screenshot(tmp_path / "page-13-changes.png")
    # One dataset with two versions, not a second dataset.
    items = stack.get("/api/datasets")["items"]
    assert isinstance(items, list)
    assert [(item["name"], item["version_count"]) for item in items] == [("weather", 2)]

    # The list shows the newest version first, numbered as the API orders them (oldest is 1),
    # and opens what changed in version 2 with the keyboard.
    browser.wait_for("document.querySelectorAll('#datasets .versions > li').length === 2")
    versions = browser.evaluate(
        "[...document.querySelectorAll('#datasets .versions > li')].map((li) => li.textContent)"
    )
    assert versions[0].startswith("Version 2ready") and "4 rows \u00d7 3 columns" in versions[0]
    assert versions[1].startswith("Version 1ready") and "3 rows \u00d7 3 columns" in versions[1]
    assert "What changed" not in versions[1]  # the first version has nothing before it
    browser.evaluate("document.querySelector('#datasets details.changes summary').focus()")
    press_key(browser, "Enter")
    browser.wait_for("!!document.querySelector('#datasets details.changes[open] li')")
    listed = browser.evaluate(
        "[...document.querySelectorAll('#datasets details.changes li')].map((li) => li.textContent)"
    )
    assert listed == IN_PLAIN_WORDS, listed
    browser.screenshot(tmp_path / "page-13b-changes-in-the-list.png")
    browser.width(375)
    browser.screenshot(tmp_path / "page-14-changes-phone.png")
    assert browser.evaluate("document.documentElement.scrollWidth <= window.innerWidth") is True


def test_the_download_button_fetches_the_versions_parquet_through_the_apis_download_url(
    page_stack: PageStack, browser: DevtoolsBrowser, tmp_path: Path
) -> None:
    stack = page_stack
    downloads = tmp_path / "downloads"
    browser.save_downloads_to(downloads)
    open_page(browser, stack)
    csv = tmp_path / "weather.csv"
    csv.write_bytes(CSV)
    upload_ready(browser, stack, csv)
    dataset_id, version_id = stack.latest_version()
    button = "#datasets .versions button.secondary"
    browser.wait_for(f"!!document.querySelector({json.dumps(button)})")
    assert browser.evaluate(
        f"document.querySelector({json.dumps(button)}).getAttribute('aria-label')"
    ) == ("Download version 1 of weather")

    # From here on, every call of the download-url route and every request to the store is seen.
    store = stack.store.spec.endpoint
    browser.intercept([stack.api_url + "/api/datasets/*/download-url", store + "/*"])
    browser.evaluate(f"document.querySelector({json.dumps(button)}).focus()")
    press_key(browser, "Enter")  # with the keyboard, as the button is focused
    downloaded = browser.downloaded_file(downloads)

    api_call, store_get = browser.paused_requests
    assert (api_call["method"], api_call["url"]) == (
        "GET",
        f"{stack.api_url}/api/datasets/{dataset_id}/versions/{version_id}/download-url",
    )
    assert store_get["method"] == "GET" and store_get["url"].startswith(store + "/")
    # The browser followed the presigned URL the API answered: the version's Parquet file.
    key = unquote(urlsplit(store_get["url"]).path).removeprefix(f"/{stack.store.bucket_name}/")
    assert key.endswith(".parquet") and version_id in key, key
    stored = stack.store.client.get_object(Bucket=stack.store.bucket_name, Key=key)["Body"].read()
    assert downloaded.name == f"{dataset_id}-{version_id}.parquet"
    assert downloaded.read_bytes() == stored
    table = pl.read_parquet(io.BytesIO(downloaded.read_bytes()))
    assert table.columns == ["city", "temperature", "rainy"] and table.height == 3
    assert browser.evaluate("location.pathname") == "/"  # the page stayed where it was
    browser.screenshot(tmp_path / "page-15-downloaded.png")
