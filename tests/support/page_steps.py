"""What a person does on the upload page, as DevTools calls: type the token, pick a file, press
a button, press a key (tests/api/test_upload_page*.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flows.ingest_dataset import ingest_dataset
from tests.support.devtools import DevtoolsBrowser
from tests.support.upload_page import PageStack

# DevTools' key events need the key's code and its Windows virtual key code.
KEYS = {"Enter": ("Enter", 13, "\r"), "Tab": ("Tab", 9, ""), " ": ("Space", 32, " ")}


def press_key(browser: DevtoolsBrowser, key: str, shift: bool = False) -> None:
    """One key pressed and released, as the keyboard sends it to the focused element."""
    code, virtual_code, text = KEYS[key]
    for kind in ("keyDown", "keyUp"):
        browser.call(
            "Input.dispatchKeyEvent",
            type=kind,
            key=key,
            code=code,
            windowsVirtualKeyCode=virtual_code,
            modifiers=8 if shift else 0,
            text=text if kind == "keyDown" else "",
        )


def type_token(browser: DevtoolsBrowser, token: str) -> None:
    """With the keyboard: focus the field, type, press Enter."""
    browser.evaluate("document.getElementById('token').focus()")
    browser.call("Input.insertText", text=token)
    press_key(browser, "Enter")
    browser.wait_for("!document.getElementById('token-saved').hidden")


def open_page(browser: DevtoolsBrowser, stack: PageStack) -> None:
    browser.navigate(stack.api_url + "/")
    type_token(browser, stack.token)
    browser.wait_for("document.getElementById('usage').textContent.includes('free')")


def pick(browser: DevtoolsBrowser, path: Path) -> None:
    browser.set_files("#file", [path])
    browser.wait_for(f"document.getElementById('drop-text').textContent.includes({path.name!r})")


def press_upload(browser: DevtoolsBrowser) -> None:
    browser.wait_for("!document.getElementById('upload-button').disabled")
    browser.evaluate("document.getElementById('upload-button').click()")


def ingest_when_confirmed(browser: DevtoolsBrowser, stack: PageStack) -> str:
    """Runs the ingestion the confirm asked for (nothing serves the deployment in tests)."""
    browser.wait_for("document.getElementById('result').textContent.includes('profiling')", 120)
    _, version_id = stack.latest_version()
    assert ingest_dataset(version_id) == "ready"
    return version_id


def store_puts(browser: DevtoolsBrowser) -> list[dict[str, Any]]:
    return [r for r in browser.paused_requests if r["method"] == "PUT"]
