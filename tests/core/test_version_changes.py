"""The comparison of two profiles: columns added and removed, types, rows, null rates."""

from __future__ import annotations

from typing import Any

import pytest

from core.version_changes import (
    ColumnType,
    NullRateChange,
    RowCountChange,
    TypeChange,
    compare_profiles,
)


def _profile(row_count: int, *columns: tuple[str, str, int]) -> dict[str, Any]:
    """A profile as `tasks.profiling.profile_parquet` writes it: (name, type, null_count)."""
    return {
        "row_count": row_count,
        "column_count": len(columns),
        "columns": [
            {"name": name, "type": dtype, "kind": "other", "null_count": nulls}
            for name, dtype, nulls in columns
        ],
        "notes": [],
    }


BEFORE = _profile(100, ("id", "Int64", 0), ("city", "String", 10), ("price", "Int64", 0))


def test_a_first_version_has_nothing_to_compare_with() -> None:
    changes = compare_profiles(None, BEFORE, 0.05)
    assert changes.row_count == RowCountChange(before=None, after=100, change=None)
    assert changes.columns_added == changes.columns_removed == []
    assert changes.type_changes == []
    assert changes.null_rate_changes == []
    assert changes.null_rate_threshold == 0.05


def test_the_same_profile_has_no_changes() -> None:
    changes = compare_profiles(BEFORE, BEFORE, 0.05)
    assert changes.row_count == RowCountChange(100, 100, 0)
    assert changes.columns_added == changes.columns_removed == []
    assert changes.type_changes == []
    assert changes.null_rate_changes == []


def test_added_and_removed_columns_are_named_with_their_types_in_profile_order() -> None:
    after = _profile(100, ("id", "Int64", 0), ("zone", "String", 0), ("area", "Float64", 0))
    changes = compare_profiles(BEFORE, after, 0.05)
    assert changes.columns_added == [ColumnType("zone", "String"), ColumnType("area", "Float64")]
    assert changes.columns_removed == [ColumnType("city", "String"), ColumnType("price", "Int64")]
    assert changes.type_changes == []


def test_a_type_change_names_both_types_and_a_renamed_column_is_not_one() -> None:
    after = _profile(100, ("id", "String", 0), ("city", "String", 10), ("cost", "Int64", 0))
    changes = compare_profiles(BEFORE, after, 0.05)
    assert changes.type_changes == [TypeChange("id", before="Int64", after="String")]
    assert changes.columns_added == [ColumnType("cost", "Int64")]
    assert changes.columns_removed == [ColumnType("price", "Int64")]


@pytest.mark.parametrize(("rows", "change"), [(250, 150), (40, -60), (100, 0)])
def test_the_row_count_change_is_signed(rows: int, change: int) -> None:
    after = _profile(rows, ("id", "Int64", 0), ("city", "String", 0), ("price", "Int64", 0))
    assert compare_profiles(BEFORE, after, 0.05).row_count == RowCountChange(100, rows, change)


def test_null_rates_are_listed_only_past_the_threshold() -> None:
    # city 10% -> 16% (listed), price 0% -> 5% (exactly the threshold: not), id 0% -> 4% (not).
    after = _profile(200, ("id", "Int64", 8), ("city", "String", 32), ("price", "Int64", 10))
    changes = compare_profiles(BEFORE, after, 0.05)
    assert changes.null_rate_changes == [NullRateChange("city", before=0.1, after=0.16)]
    # The threshold is the setting's, not a constant: 0.03 lists id's change too.
    lower = compare_profiles(BEFORE, after, 0.03)
    assert [change.name for change in lower.null_rate_changes] == ["id", "city", "price"]


def test_a_null_rate_that_falls_is_listed_too() -> None:
    after = _profile(100, ("id", "Int64", 0), ("city", "String", 0), ("price", "Int64", 0))
    changes = compare_profiles(BEFORE, after, 0.05)
    assert changes.null_rate_changes == [NullRateChange("city", before=0.1, after=0.0)]


@pytest.mark.parametrize(("before", "after"), [(50, 55), (30, 35), (20, 25)])
def test_a_change_of_exactly_the_threshold_is_never_listed(before: int, after: int) -> None:
    """0.55 - 0.5 is 0.050000000000000044 in floating point: not past 0.05."""
    old = _profile(100, ("x", "Int64", before))
    new = _profile(100, ("x", "Int64", after))
    assert compare_profiles(old, new, 0.05).null_rate_changes == []


def test_an_empty_file_has_a_null_rate_of_zero() -> None:
    empty = _profile(0, ("id", "Int64", 0), ("city", "String", 0), ("price", "Int64", 0))
    changes = compare_profiles(BEFORE, empty, 0.05)
    assert changes.row_count == RowCountChange(100, 0, -100)
    assert changes.null_rate_changes == [NullRateChange("city", before=0.1, after=0.0)]
    assert compare_profiles(empty, BEFORE, 0.05).null_rate_changes == [
        NullRateChange("city", before=0.0, after=0.1)
    ]
