"""Profiles a Parquet dataset lazily: per-column counts, ranges and frequent values, as JSON.

Everything is computed by polars' streaming engine over `scan_parquet`, so memory stays bounded
by the widest aggregate, not the file: one pass of aggregate expressions for all columns, plus
one frequency count per string or boolean column. The result holds only JSON values (NaN and
infinities become null) so it can go into the catalog and a Prefect artifact as is.
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import polars as pl

ColumnKind = Literal["numeric", "string", "boolean", "temporal", "other"]

# Up to this many rows distinct counts are exact; beyond, HyperLogLog (`approx_n_unique`,
# ~1% error) keeps memory flat.
EXACT_DISTINCT_MAX_ROWS = 1_000_000


def profile_parquet(path: Path, top_values: int = 5) -> dict[str, Any]:
    """Row and column counts and, per column: type, kind, nulls, distinct values, min/max
    (numbers and dates), mean/std (numbers) and the `top_values` most frequent values
    (strings and booleans; ties broken by value). Nulls count in `null_count` only, never
    as a distinct or top value."""
    frame = pl.scan_parquet(path)
    schema = frame.collect_schema()
    row_count = int(frame.select(pl.len()).collect(engine="streaming").item())
    exact = row_count <= EXACT_DISTINCT_MAX_ROWS
    kinds = {name: _kind(dtype) for name, dtype in schema.items()}

    aggregates = frame.select(
        [expr for i, name in enumerate(schema) for expr in _aggregates(i, name, kinds[name], exact)]
    )
    frequent = [
        _top_values_query(frame, name, top_values)
        for name in schema
        if kinds[name] in ("string", "boolean") and top_values > 0
    ]
    aggregate_row, *frequency_tables = pl.collect_all([aggregates, *frequent], engine="streaming")
    stats = aggregate_row.row(0, named=True) if aggregate_row.width else {}
    tops = iter(frequency_tables)

    columns: list[dict[str, Any]] = []
    for i, (name, dtype) in enumerate(schema.items()):
        kind = kinds[name]
        column: dict[str, Any] = {
            "name": name,
            "type": str(dtype),
            "kind": kind,
            "null_count": int(stats[f"{i}:nulls"]),
            "distinct_count": int(stats[f"{i}:distinct"]),
            "distinct_is_approximate": not exact,
            "min": _json_value(stats.get(f"{i}:min")),
            "max": _json_value(stats.get(f"{i}:max")),
            "mean": _json_value(stats.get(f"{i}:mean")),
            "std": _json_value(stats.get(f"{i}:std")),
            "top_values": [],
        }
        if kind in ("string", "boolean") and top_values > 0:
            table = next(tops)
            column["top_values"] = [
                {"value": _json_value(value), "count": int(count)} for value, count in table.rows()
            ]
        columns.append(column)
    return {"row_count": row_count, "column_count": len(columns), "columns": columns}


def profile_markdown(profile: dict[str, Any]) -> str:
    """A markdown summary of `profile_parquet`'s result, for a Prefect artifact. Every name,
    type and value is the uploader's text: each cell is capped and escaped (`_cell`), so a
    value cannot add markup, HTML or table cells to the page the Prefect UI draws."""
    lines = [
        f"**{profile['row_count']:,} rows, {profile['column_count']:,} columns**",
        "",
        "| name | type | nulls | distinct | min | max | mean | top values |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for column in profile["columns"]:
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
    return "\n".join(lines) + "\n"


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
