"""Profiles a Parquet dataset lazily: per-column counts, ranges and frequent values, as JSON.

Columns are profiled in batches, one polars query each, so memory and time grow about linearly
with rows x columns: a single query with aggregates for thousands of columns grows with the
square of its width (a 64-row, 6,832-column file went past 12 GB). A batch holds at most
`BATCH_MAX_COLUMNS` columns and `BATCH_MAX_CELLS` values; a column taller than that is read by
the streaming engine on its own. Frequent values (one group-by per column) are computed for the
first `TOP_VALUES_MAX_COLUMNS` text and boolean columns only; the profile's `notes` say which
work was skipped or approximated, so readers know. The result holds only JSON values (NaN and
infinities become null) so it can go into the catalog and a Prefect artifact as is; a frequent
value or a type spelled longer than `VALUE_MAX_CHARS` is cut (`core.excerpts`), so a profile
stays small whatever the upload holds. Column names stay exact: they are the data's schema.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import polars as pl

from core.excerpts import VALUE_MAX_CHARS, excerpt

ColumnKind = Literal["numeric", "string", "boolean", "temporal", "other"]

# Up to this many rows distinct counts are exact; beyond, HyperLogLog (`approx_n_unique`,
# ~1% error) keeps memory flat.
EXACT_DISTINCT_MAX_ROWS = 1_000_000
# Bounds of one query: the width of its plan and the values it reads into memory.
BATCH_MAX_COLUMNS = 200
BATCH_MAX_CELLS = 4_000_000
# Past this many text and boolean columns, the rest get no frequent values (`top_values: []`).
TOP_VALUES_MAX_COLUMNS = 1_000


def profile_parquet(path: Path, top_values: int = 5) -> dict[str, Any]:
    """Row and column counts and, per column: type, kind, nulls, distinct values, min/max
    (numbers and dates), mean/std (numbers) and the `top_values` most frequent values
    (strings and booleans; ties broken by value). Nulls count in `null_count` only, never
    as a distinct or top value. `notes` lists, as sentences, what was skipped for width."""
    frame = pl.scan_parquet(path)
    schema = frame.collect_schema()
    row_count = int(frame.select(pl.len()).collect(engine="streaming").item())
    exact = row_count <= EXACT_DISTINCT_MAX_ROWS
    names = list(schema)
    kinds = {name: _kind(dtype) for name, dtype in schema.items()}
    text_or_boolean = (
        [n for n in names if kinds[n] in ("string", "boolean")] if top_values > 0 else []
    )
    with_top = set(text_or_boolean[:TOP_VALUES_MAX_COLUMNS])

    stats: dict[str, Any] = {}
    tops: dict[str, list[dict[str, Any]]] = {}
    for start, stop in _batches(len(names), row_count):
        batch = range(start, stop)
        aggregates = frame.select(
            [expr for i in batch for expr in _aggregates(i, names[i], kinds[names[i]], exact)]
        )
        frequent = [names[i] for i in batch if names[i] in with_top]
        engine: Literal["streaming", "in-memory"] = (
            "streaming" if row_count * len(batch) > BATCH_MAX_CELLS else "in-memory"
        )
        aggregate_row, *tables = pl.collect_all(
            [aggregates, *(_top_values_query(frame, name, top_values) for name in frequent)],
            engine=engine,
        )
        stats.update(aggregate_row.row(0, named=True))
        for name, table in zip(frequent, tables, strict=True):
            tops[name] = [_top_value(value, int(count)) for value, count in table.rows()]

    columns: list[dict[str, Any]] = []
    for i, (name, dtype) in enumerate(schema.items()):
        columns.append(
            {
                "name": name,
                "type": excerpt(str(dtype), VALUE_MAX_CHARS),  # a struct's spells its fields
                "kind": kinds[name],
                "null_count": int(stats[f"{i}:nulls"]),
                "distinct_count": int(stats[f"{i}:distinct"]),
                "distinct_is_approximate": not exact,
                "min": _json_value(stats.get(f"{i}:min")),
                "max": _json_value(stats.get(f"{i}:max")),
                "mean": _json_value(stats.get(f"{i}:mean")),
                "std": _json_value(stats.get(f"{i}:std")),
                "top_values": tops.get(name, []),
            }
        )
    notes: list[str] = []
    cut = sum(item.get("truncated", False) for top in tops.values() for item in top)
    if cut:
        notes.append(
            f"{cut:,} frequent values are longer than {VALUE_MAX_CHARS} characters: the profile "
            f"keeps their first {VALUE_MAX_CHARS}, then \u2026, and marks them truncated."
        )
    if len(text_or_boolean) > len(with_top):
        notes.append(
            f"Frequent values were computed for the first {len(with_top):,} of the "
            f"{len(text_or_boolean):,} text and boolean columns only; the other "
            f"{len(text_or_boolean) - len(with_top):,} have no top values."
        )
    return {
        "row_count": row_count,
        "column_count": len(columns),
        "columns": columns,
        "notes": notes,
    }


def _batches(column_count: int, row_count: int) -> list[tuple[int, int]]:
    """[start, stop) column ranges of at most `BATCH_MAX_COLUMNS` columns and, unless a
    single column is taller, `BATCH_MAX_CELLS` values."""
    width = max(1, min(BATCH_MAX_COLUMNS, BATCH_MAX_CELLS // max(row_count, 1)))
    return [(start, min(start + width, column_count)) for start in range(0, column_count, width)]


def profile_markdown(
    profile: dict[str, Any], full_profile_at: str = "GET /api/datasets/{id}/versions/{vid}"
) -> str:
    """A markdown summary of `profile_parquet`'s result, for a Prefect artifact: a table of
    the first `MARKDOWN_MAX_COLUMNS` columns (a wide file's whole table would be a page of
    thousands of rows; `full_profile_at` names where the rest is), then the profile's notes.
    Every name, type and value is the uploader's text: each cell is capped and escaped
    (`_cell`), so a value cannot add markup, HTML or table cells to the page the Prefect UI
    draws."""
    lines = [
        f"**{profile['row_count']:,} rows, {profile['column_count']:,} columns**",
        "",
        "| name | type | nulls | distinct | min | max | mean | top values |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for column in profile["columns"][:MARKDOWN_MAX_COLUMNS]:
        distinct = f"{column['distinct_count']:,}"
        if column["distinct_is_approximate"]:
            distinct = f"~{distinct}"
        top = ", ".join(
            f"{_cell(item['value'])} ({item['count']:,})" for item in column["top_values"]
        )
        cells = [
            _cell(column["name"]),
            _cell(column["type"]),  # a struct's type spells its fields' names
            f"{column['null_count']:,}",
            distinct,
            _cell(column["min"]),
            _cell(column["max"]),
            _cell(column["mean"]),
            top,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    hidden = len(profile["columns"]) - MARKDOWN_MAX_COLUMNS
    if hidden > 0:
        lines += [
            "",
            f"\u2026 and {hidden:,} more columns; the full profile is in "
            f"{_UNSAFE_IN_CELL.sub(_escape_match, full_profile_at)}",
        ]
    notes = profile.get("notes") or []
    if notes:
        lines += ["", *(f"- {_UNSAFE_IN_CELL.sub(_escape_match, note)}" for note in notes)]
    return "\n".join(lines) + "\n"


def _top_value(value: object, count: int) -> dict[str, Any]:
    """A frequent value and its count; text past `VALUE_MAX_CHARS` is cut and marked."""
    shown = _json_value(value)
    if isinstance(shown, str) and len(shown) > VALUE_MAX_CHARS:
        return {"value": excerpt(shown, VALUE_MAX_CHARS), "count": count, "truncated": True}
    return {"value": shown, "count": count}


def _kind(dtype: pl.DataType) -> ColumnKind:
    if dtype == pl.Boolean:
        return "boolean"
    if dtype.is_numeric():
        return "numeric"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum):
        return "string"
    if dtype.is_temporal():
        return "temporal"
    return "other"


def _aggregates(index: int, name: str, kind: ColumnKind, exact: bool) -> list[pl.Expr]:
    # Aliases by position: column names may contain anything, positions cannot collide.
    column = pl.col(name)
    present = column.drop_nulls()
    distinct = present.n_unique() if exact else present.approx_n_unique()
    exprs = [column.null_count().alias(f"{index}:nulls"), distinct.alias(f"{index}:distinct")]
    if kind in ("numeric", "temporal"):
        exprs += [column.min().alias(f"{index}:min"), column.max().alias(f"{index}:max")]
    if kind == "numeric":
        exprs += [column.mean().alias(f"{index}:mean"), column.std().alias(f"{index}:std")]
    return exprs


def _top_values_query(frame: pl.LazyFrame, name: str, limit: int) -> pl.LazyFrame:
    return (
        frame.select(pl.col(name).alias("value"))
        .drop_nulls()
        .group_by("value")
        .agg(pl.len().alias("count"))
        .sort(["count", "value"], descending=[True, False])
        .head(limit)
    )


def _json_value(value: object) -> Any:
    """A value JSON can hold: NaN and infinities become None, dates ISO 8601 strings."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return _json_value(float(value))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return str(value)
    if value is None or isinstance(value, bool | int | str):
        return value
    return str(value)


def _cell(value: object) -> str:
    """A value as the text of one table cell: at most `MARKDOWN_CELL_MAX_CHARS` characters (a
    longer one ends with an ellipsis), control characters and line breaks as spaces, `&<>` as
    HTML entities and every markdown punctuation character backslash-escaped, so it reads as
    the literal text it is."""
    if value is None:
        return ""
    if isinstance(value, float):
        text = f"{value:,.6g}" if abs(value) < 1e15 else f"{value:.6g}"
    else:
        text = str(value)
    if len(text) > MARKDOWN_CELL_MAX_CHARS:
        text = text[: MARKDOWN_CELL_MAX_CHARS - 1] + "\u2026"
    return _UNSAFE_IN_CELL.sub(_escape_match, text)


# A profile artifact's cells stay short: a 10 KB value is the uploader's, not a summary.
MARKDOWN_CELL_MAX_CHARS = 64
# Rows of its table: one per column, for the first this many columns.
MARKDOWN_MAX_COLUMNS = 200
_HTML_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
# Control characters and line breaks; the HTML and inline markdown characters (code, emphasis,
# links and images, strikethrough, math, a cell's end); and what starts a bare autolink.
_UNSAFE_IN_CELL = re.compile(
    r"[\x00-\x1f\x7f-\x9f\u2028\u2029]|[&<>]|[\\`*_\[\]|~!$@]|://|(?i:www)\."
)


def _escape_match(match: re.Match[str]) -> str:
    found = match.group()
    if found in _HTML_ENTITIES:
        return _HTML_ENTITIES[found]
    if len(found) == 1 and not found.isprintable():
        return " "
    # CommonMark reads a backslash before ASCII punctuation as that character, literally.
    return "".join("\\" + c if not c.isalnum() else c for c in found)
