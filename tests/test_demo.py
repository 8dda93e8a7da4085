"""`automl demo` fails with the step and its reason; its waits report each state they pass."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

from demo import DemoError, Steps
from tests.support.cli import assert_one_line_error, run
from tests.support.ports import free_port


@pytest.mark.e2e  # the `automl` command as a subprocess: the e2e marker's rule (pyproject.toml)
def test_an_api_that_does_not_answer_is_a_one_line_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = run("demo", "--api", url, "--token", "aml_not-a-real-token")
    assert result.returncode == 1
    assert_one_line_error(result, f"the API at {url} cannot be reached")


@pytest.mark.e2e  # the `automl` command as a subprocess: the e2e marker's rule (pyproject.toml)
def test_a_remote_api_needs_a_token() -> None:
    result = run("demo", "--api", "http://127.0.0.1:9")
    assert result.returncode == 2
    assert_one_line_error(result, "needs a token")


def _steps(console_output: io.StringIO) -> Steps:
    return Steps(Console(file=console_output, width=200), timeout=30)


def test_a_wait_prints_each_state_once_and_returns_the_final_answer() -> None:
    answers: Iterator[dict[str, Any]] = iter(
        [{"status": "pending"}, {"status": "pending"}, {"status": "ready", "n": 1}]
    )
    output = io.StringIO()
    final = _steps(output).wait_for(
        "ingestion", lambda: next(answers), lambda a: a["status"], "ready"
    )
    assert final == {"status": "ready", "n": 1}
    lines = [line.split(" (")[0].strip() for line in output.getvalue().splitlines()]
    assert lines == ["ingestion: pending", "ingestion: ready"]


def test_a_failed_step_is_an_error_carrying_its_reason() -> None:
    answer: dict[str, Any] = {"status": "failed", "error": "row 3 has 2 fields, expected 3"}
    with pytest.raises(DemoError, match="ingestion failed: row 3 has 2 fields, expected 3"):
        _steps(io.StringIO()).wait_for("ingestion", lambda: answer, lambda a: a["status"], "ready")


def test_a_step_that_never_ends_times_out_naming_its_state() -> None:
    steps = Steps(Console(file=io.StringIO()), timeout=0.0)
    with pytest.raises(DemoError, match="training is still running after 0 s"):
        steps.wait_for("training", lambda: {"status": "running"}, lambda a: a["status"], "done")


def test_the_demo_token_is_revoked_when_a_step_fails() -> None:
    """The demo's own token is revoked however the demo ends: here a failed ingestion step."""
    from catalog.accounts import list_tokens, user_for_token
    from catalog.database import catalog_for
    from core.settings import get_settings
    from demo import demo_token

    settings = get_settings()
    failed: dict[str, Any] = {"status": "failed", "error": "row 3 has 2 fields, expected 3"}
    with pytest.raises(DemoError, match="ingestion failed"), demo_token(settings) as token:
        with catalog_for(settings.catalog_url).session() as session:
            assert user_for_token(session, token) is not None  # live during the demo
        _steps(io.StringIO()).wait_for("ingestion", lambda: failed, lambda a: a["status"], "ready")
    with catalog_for(settings.catalog_url).session() as session:
        assert user_for_token(session, token) is None
        (listed,) = list_tokens(session, "demo")
        assert listed.revoked_at is not None and listed.expires_at is not None
