"""What changed between two dataset profiles: columns, types, row count, null rates."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ColumnType:
    name: str
    dtype: str


@dataclass(frozen=True)
class TypeChange:
    name: str
    before: str
    after: str


@dataclass(frozen=True)
class RowCountChange:
    before: int | None
    after: int
    change: int | None


@dataclass(frozen=True)
class NullRateChange:
    name: str
    before: float
    after: float


@dataclass(frozen=True)
class ProfileChanges:
    """The comparison of a version's profile with an earlier one's (none: a first version, so
    nothing is added, removed or changed and `row_count.before` is null)."""

    row_count: RowCountChange
    null_rate_threshold: float
    columns_added: list[ColumnType] = field(default_factory=list)
    columns_removed: list[ColumnType] = field(default_factory=list)
    type_changes: list[TypeChange] = field(default_factory=list)
    null_rate_changes: list[NullRateChange] = field(default_factory=list)


def compare_profiles(
    before: Mapping[str, Any] | None, after: Mapping[str, Any], null_rate_threshold: float
) -> ProfileChanges:
    """Compares two `tasks.profiling.profile_parquet` results by column name (the profile is
    all there is: the files are never read). Columns keep the order of the profile they come
    from. A null rate is `null_count / row_count` (0 for an empty file); a change is listed when
    it moves by more than `null_rate_threshold`, so a threshold of 0.05 lists 10% -> 16% and
    not 10% -> 14%."""
    rows_after = int(after["row_count"])
    if before is None:
        return ProfileChanges(
            row_count=RowCountChange(before=None, after=rows_after, change=None),
            null_rate_threshold=null_rate_threshold,
        )
    rows_before = int(before["row_count"])
    old = {column["name"]: column for column in before["columns"]}
    new = {column["name"]: column for column in after["columns"]}
    type_changes: list[TypeChange] = []
    null_rate_changes: list[NullRateChange] = []
    for name, column in new.items():
        if name not in old:
            continue
        if old[name]["type"] != column["type"]:
            type_changes.append(TypeChange(name, str(old[name]["type"]), str(column["type"])))
        rate_before = _null_rate(old[name], rows_before)
        rate_after = _null_rate(column, rows_after)
        if round(abs(rate_after - rate_before), 6) > null_rate_threshold:
            null_rate_changes.append(NullRateChange(name, rate_before, rate_after))
    return ProfileChanges(
        row_count=RowCountChange(rows_before, rows_after, rows_after - rows_before),
        null_rate_threshold=null_rate_threshold,
        columns_added=[_column_type(c) for name, c in new.items() if name not in old],
        columns_removed=[_column_type(c) for name, c in old.items() if name not in new],
        type_changes=type_changes,
        null_rate_changes=null_rate_changes,
    )


def _column_type(column: Mapping[str, Any]) -> ColumnType:
    return ColumnType(name=str(column["name"]), dtype=str(column["type"]))


def _null_rate(column: Mapping[str, Any], row_count: int) -> float:
    # Rounded (as their difference is) so the answer reads 0.1, not 0.09999999999999998, and a
    # change exactly at the threshold is not listed because of a float's last bit.
    return round(int(column["null_count"]) / row_count, 6) if row_count else 0.0
