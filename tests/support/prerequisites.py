"""Tools a test needs on the machine (LocalStack, PostgreSQL, Chromium): a developer without one
gets a skip, CI (CI=true) a failure, so that nothing CI must run is skipped silently."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() == "true"


def require(reason: str) -> None:
    """Skips a test whose tool is missing on a developer machine; fails it under CI."""
    if IN_CI:
        pytest.fail(f"required under CI: {reason}")
    pytest.skip(reason)
