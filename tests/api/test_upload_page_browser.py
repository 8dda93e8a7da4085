"""The upload page at `/` as a person uses it, in headless Chromium against LocalStack (real
signatures, real CORS preflights): paste a token, pick a file, watch it upload, see its profile;
a refused file sends no byte; a cut multipart upload resumes after a reload with only its missing
parts. Screenshots of each state go to the test's tmp dir (their paths are printed)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.settings import MiB, get_settings
from tests.support.devtools import DevtoolsBrowser
from tests.support.page_steps import (
    ingest_when_confirmed,
    open_page,
    pick,
    press_key,
    press_upload,
    store_puts,
    type_token,
)
from tests.support.upload_page import PAGE_MULTIPART_THRESHOLD, PageStack
from tests.support.upload_steps import CSV

pytestmark = pytest.mark.e2e  # headless Chromium, LocalStack, the API over HTTP

# Elements whose right edge is past the screen's, except inside a box that scrolls sideways.
ELEMENTS_PAST_THE_RIGHT_EDGE = """
[...document.body.querySelectorAll('*')]
  .filter((e) => !e.parentElement.closest('.table-wrap'))
  .filter((e) => e.getBoundingClientRect().right > document.documentElement.clientWidth + 0.5)
  .map((e) => e.tagName + '#' + e.id + '.' + e.className)
"""


def focus_ring(browser: DevtoolsBrowser, selector: str) -> str:
    """The outline style drawn around an element (`none` if focus would not show)."""
    return str(
        browser.evaluate(f"getComputedStyle(document.querySelector({selector!r})).outlineStyle")
    )


def test_a_small_csv_ends_ready_and_its_profile_shows(
    page_stack: PageStack, browser: DevtoolsBrowser, tmp_path: Path
) -> None:
    stack = page_stack
    browser.intercept(stack.store.spec.endpoint + "/*")  # counts what reaches the store
    browser.navigate(stack.api_url + "/")
    browser.screenshot(tmp_path / "page-01-no-token.png")
    type_token(browser, stack.token)
    csv = tmp_path / "weather.csv"
    csv.write_bytes(CSV)
    pick(browser, csv)
    assert browser.evaluate("document.getElementById('dataset-name').value") == "weather"
    browser.screenshot(tmp_path / "page-02-file-chosen.png")
    # With the keyboard: Tab goes from the token's link to the file (its ring on the drop zone),
    # the dataset, the name and the Upload button, each with a visible focus ring.
    browser.evaluate("document.getElementById('forget-token').focus()")
    press_key(browser, "Tab")
    assert browser.evaluate("document.activeElement.id") == "file"
    assert focus_ring(browser, "#drop-zone") == "solid"
    browser.screenshot(tmp_path / "page-02b-keyboard-focus-on-file.png")
    for expected in ("dataset-id", "dataset-name", "upload-button"):
        press_key(browser, "Tab")
        assert browser.evaluate("document.activeElement.id") == expected
        assert focus_ring(browser, "#" + expected) == "solid", expected
    browser.screenshot(tmp_path / "page-02c-keyboard-focus-on-upload.png")
    press_upload(browser)
    ingest_when_confirmed(browser, stack)
    browser.wait_for("!!document.querySelector('#result .ready')", 60)
    assert "3 rows \u00d7 3 columns" in browser.text("#result")
    columns = browser.evaluate(
        "[...document.querySelectorAll('#profile tbody th')].map((th) => th.textContent)"
    )
    assert columns == ["city", "temperature", "rainy"]
    assert "100%" not in browser.text("#progress-text")
    assert browser.text("#progress-text").startswith("Uploaded")
    browser.wait_for("!!document.querySelector('#datasets .dataset h3')")
    assert browser.text("#datasets .dataset h3") == "weather"
    assert len(store_puts(browser)) == 1  # one PUT, straight to the store
    browser.screenshot(tmp_path / "page-03-ready.png")
    browser.width(375)
    browser.screenshot(tmp_path / "page-04-ready-phone.png")
    overflow = browser.evaluate("document.documentElement.scrollWidth > window.innerWidth")
    assert overflow is False  # readable at phone width: nothing wider than the screen
    assert browser.evaluate(ELEMENTS_PAST_THE_RIGHT_EDGE) == []
    # The profile is wider than a phone: its own box scrolls sideways, and says so.
    wrap = "document.querySelector('#result .table-wrap')"
    assert browser.evaluate(f"getComputedStyle({wrap}).overflowX") == "auto"
    assert browser.evaluate(f"{wrap}.scrollWidth > {wrap}.clientWidth") is True
    browser.wait_for("!document.querySelector('#result .scroll-hint').hidden")
    browser.evaluate(f"{wrap}.scrollLeft = {wrap}.scrollWidth")
    last_column_shown = (
        "document.querySelector('#profile thead th:last-child').getBoundingClientRect().right"
        f" <= {wrap}.getBoundingClientRect().right + 1"
    )
    browser.wait_for(last_column_shown)
    browser.screenshot(tmp_path / "page-04b-ready-phone-table-scrolled.png")
    browser.evaluate("window.confirm = () => true")  # the person answers the dialog: yes
    browser.evaluate("document.querySelector('#datasets button.danger').click()")
    browser.wait_for("document.getElementById('datasets').textContent.includes('No datasets')")
    assert stack.get("/api/datasets")["items"] == []


def test_refused_files_show_the_reason_and_send_no_byte(
    page_stack: PageStack, browser: DevtoolsBrowser, tmp_path: Path
) -> None:
    stack = page_stack
    browser.intercept(stack.store.spec.endpoint + "/*")
    open_page(browser, stack)
    big = tmp_path / "too-big.csv"
    with big.open("wb") as file:  # sparse: only its size matters, no byte is read
        file.truncate(101 * MiB)
    pick(browser, big)
    press_upload(browser)
    message = browser.wait_for("document.getElementById('message').textContent")
    # The free tier's limit, read from the API's answer, in plain words.
    assert message == (
        "This file (101 MiB) is too large for your tier, which takes files up to 100 MiB."
    ), message
    browser.screenshot(tmp_path / "page-05-too-large.png")
    stack.post("/api/datasets/upload-url", {"filename": "held.csv", "size_bytes": 90 * MiB})
    fits = tmp_path / "fits-the-tier.csv"
    with fits.open("wb") as file:
        file.truncate(20 * MiB)
    pick(browser, fits)
    assert browser.evaluate("document.getElementById('dataset-name').value") == "fits-the-tier"
    press_upload(browser)
    message = browser.wait_for(
        "document.getElementById('message').textContent.includes('quota') && "
        "document.getElementById('message').textContent"
    )
    # The usage from GET /api/usage, in plain words: the 90 MiB held by the upload in progress.
    assert message.startswith("Your storage quota is full: 90 MiB of 100 MiB are used"), message
    assert "90 MiB held by uploads in progress" in message and "only 10 MiB are free" in message
    browser.screenshot(tmp_path / "page-05b-quota-full.png")
    wrong = tmp_path / "notes.txt"
    wrong.write_text("not a table\n")
    pick(browser, wrong)
    press_upload(browser)
    message = browser.wait_for(
        "document.getElementById('message').textContent.includes('.parquet') && "
        "document.getElementById('message').textContent"
    )
    assert message.startswith("This is not a file the platform takes"), message
    browser.screenshot(tmp_path / "page-06-wrong-type.png")
    limit = get_settings().tier("free").max_uploads_in_flight  # the page stack's free tier
    for n in range(limit - 1):  # with held.csv above: as many uploads in flight as free allows
        stack.post("/api/datasets/upload-url", {"filename": f"held-{n}.csv", "size_bytes": 1})
    one_more = tmp_path / "one-more.csv"
    one_more.write_bytes(CSV)
    pick(browser, one_more)
    press_upload(browser)
    message = browser.wait_for(
        "document.getElementById('message').textContent.includes('in progress') && "
        "document.getElementById('message').textContent"
    )
    assert message.startswith(
        f"You have {limit} uploads in progress, as many as your tier allows at once."
    ), message
    # Not even a preflight reached the store (the reservation above was made by the test).
    assert browser.paused_requests == []
    assert stack.store.keys("uploads/") == []


def test_the_browser_enforces_the_stores_cors_rules(
    page_stack_unlisted: PageStack, browser: DevtoolsBrowser, tmp_path: Path
) -> None:
    """The bucket lists another origin only: the preflight fails and the PUT never happens."""
    stack = page_stack_unlisted
    open_page(browser, stack)
    csv = tmp_path / "weather.csv"
    csv.write_bytes(CSV)
    pick(browser, csv)
    press_upload(browser)
    message = browser.wait_for("document.getElementById('message').textContent")
    assert "connection to the store failed" in message, message
    browser.screenshot(tmp_path / "page-07-cors-refused.png")
    assert stack.store.keys("uploads/") == []


def multipart_csv(path: Path) -> Path:
    """A CSV of three parts at the page stack's threshold: two whole ones and a short last."""
    row = b"%012d,%012d,some text to fill the row\n"
    rows_per_mib = MiB // len(row % (0, 0))
    with path.open("wb") as file:
        file.write(b"id,twice,note\n")
        for i in range((2 * PAGE_MULTIPART_THRESHOLD // MiB + 1) * rows_per_mib):
            file.write(row % (i, 2 * i))
    assert 2 * PAGE_MULTIPART_THRESHOLD < path.stat().st_size < 3 * PAGE_MULTIPART_THRESHOLD
    return path


def part_number(request: dict[str, Any]) -> int:
    return int(parse_qs(urlsplit(request["url"]).query)["partNumber"][0])


def test_a_cut_multipart_upload_resumes_after_a_reload_with_only_the_missing_parts(
    page_stack: PageStack, browser: DevtoolsBrowser, tmp_path: Path
) -> None:
    stack = page_stack
    csv = multipart_csv(tmp_path / "big-table.csv")
    attempts: dict[int, int] = {}

    def cut(request: dict[str, Any]) -> bool:
        """Part 2 fails once (retried), part 3 always: the connection is gone."""
        if request["method"] != "PUT":
            return True
        number = part_number(request)
        attempts[number] = attempts.get(number, 0) + 1
        return not (number == 3 or (number == 2 and attempts[number] == 1))

    browser.intercept(stack.store.spec.endpoint + "/*", cut)
    open_page(browser, stack)
    pick(browser, csv)
    press_upload(browser)
    message = browser.wait_for("document.getElementById('message').textContent", 120)
    assert "2 of 3 parts are stored" in message, message
    assert attempts[2] == 2 and attempts[3] == 4  # part 2 retried once; part 3 until given up
    browser.wait_for("document.getElementById('upload-button').textContent === 'Resume upload'")
    browser.screenshot(tmp_path / "page-08-upload-cut.png")

    upload_id = stack.get("/api/datasets/uploads")["uploads"][0]["upload_id"]  # type: ignore[index]
    key = f"uploads/temp/{upload_id}.csv"
    uploads = stack.store.client.list_multipart_uploads(Bucket=stack.store.bucket_name)
    multipart_id = next(u["UploadId"] for u in uploads["Uploads"] if u["Key"] == key)
    before = stack.store.client.list_parts(
        Bucket=stack.store.bucket_name, Key=key, UploadId=multipart_id
    )["Parts"]
    assert [p["PartNumber"] for p in before] == [1, 2]

    browser.paused_requests.clear()
    browser.intercept(stack.store.spec.endpoint + "/*")  # the connection is back
    browser.reload()
    resume = browser.wait_for(
        "!document.getElementById('resume').hidden && document.getElementById('resume').textContent"
    )
    assert "big-table.csv" in resume and "2 of 3 parts stored" in resume, resume
    browser.screenshot(tmp_path / "page-09-resume-offered.png")
    pick(browser, csv)  # the browser cannot keep the file: it is picked again
    assert browser.text("#upload-button") == "Resume upload"
    press_upload(browser)
    browser.wait_for("document.getElementById('result').textContent.includes('Resuming')")
    browser.screenshot(tmp_path / "page-10-resuming.png")
    ingest_when_confirmed(browser, stack)
    browser.wait_for("!!document.querySelector('#result .ready')", 120)
    assert [part_number(r) for r in store_puts(browser)] == [3]  # only the missing part
    rows = browser.text("#result .ready")
    assert rows.startswith("Ready:") and "\u00d7 3 columns" in rows, rows
    browser.screenshot(tmp_path / "page-11-resumed-ready.png")
    dataset_id, version_id = stack.latest_version()
    version = stack.get(f"/api/datasets/{dataset_id}/versions/{version_id}")
    assert version["raw_size_bytes"] == csv.stat().st_size  # the whole file, assembled
    assert version["row_count"] == csv.read_bytes().count(b"\n") - 1
