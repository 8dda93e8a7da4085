"""`automl serve`'s command line: help, and one-line errors before anything starts (what it does
once started: tests/deployments/test_serve.py)."""

from __future__ import annotations

import pytest

from tests.support.cli import assert_one_line_error, run

# e2e: the `automl` command, run as a subprocess as a user runs it: processes of its own.
pytestmark = pytest.mark.e2e


def test_serve_has_help() -> None:
    result = run("serve", "--help")
    assert result.returncode == 0
    assert "--poll-seconds" in result.stdout
    assert "--limit" in result.stdout


def test_serve_without_a_prefect_server_is_a_one_line_error() -> None:
    result = run("serve", env={"PREFECT_API_URL": ""})
    assert_one_line_error(result, "needs PREFECT_API_URL")


def test_serve_of_an_unknown_deployment_is_a_one_line_error() -> None:
    result = run("serve", "--deployment", "nope", env={"PREFECT_API_URL": "http://127.0.0.1:9/api"})
    assert_one_line_error(result, "no deployment named nope")
