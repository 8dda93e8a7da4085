"""The comparison an `automl.dataset.ingested` event carries stays small whatever the files."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from core.excerpts import NAME_MAX_CHARS
from core.version_changes import compare_profiles
from tasks.version_changes import EVENT_MAX_LISTED, event_changes


def _profile(names: list[str], nulls: int = 0) -> dict[str, Any]:
    return {
        "row_count": 10,
        "column_count": len(names),
        "columns": [{"name": name, "type": "Int64", "null_count": nulls} for name in names],
    }


def test_a_small_comparison_is_carried_whole() -> None:
    changes = compare_profiles(_profile(["a", "b"]), _profile(["b", "c"], nulls=5), 0.05)
    assert event_changes(changes) == {**dataclasses.asdict(changes), "complete": True}


def test_twenty_thousand_long_columns_replaced_stay_far_below_prefects_limit() -> None:
    """Prefect refuses an event over 1.5 MB, and the version would be ready without one."""
    old = [f"old-{i}-" + "x" * 5_000 for i in range(20_000)]
    new = [f"new-{i}-" + "y" * 5_000 for i in range(20_000)]
    payload = event_changes(compare_profiles(_profile(old), _profile(new), 0.05))
    assert payload["complete"] is False
    assert len(payload["columns_added"]) == len(payload["columns_removed"]) == EVENT_MAX_LISTED
    assert payload["columns_added"][0]["name"].startswith("new-0-")
    assert all(len(c["name"]) <= NAME_MAX_CHARS + 1 for c in payload["columns_removed"])
    assert len(json.dumps(payload)) < 100_000


def test_one_long_name_alone_marks_the_comparison_incomplete() -> None:
    long_name = "z" * (NAME_MAX_CHARS + 10)
    payload = event_changes(compare_profiles(_profile(["a"]), _profile(["a", long_name]), 0.05))
    assert payload["complete"] is False
    assert payload["columns_added"] == [
        {"name": long_name[:NAME_MAX_CHARS] + "\u2026", "dtype": "Int64"}
    ]
