"""Every test starts from the defaults of docs/spec.md §1 (no R2_* or AUTOML_* variable) in a
data dir of its own; module-scoped fixtures that build state for several tests start the
same way."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from core.settings import get_settings


def isolate_environment(monkeypatch: pytest.MonkeyPatch, directory: Path) -> None:
    """Defaults of docs/spec.md §1 (no R2_* or AUTOML_* variable), data dir in `directory`."""
    for name in list(os.environ):
        if name.startswith(("R2_", "AUTOML_")) and not name.startswith("AUTOML_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AUTOML_DATA_DIR", str(directory / "automl-data"))
    get_settings.cache_clear()
