"""Counts, per text column, the values a spreadsheet would run as a formula (CSV injection).

Values are stored verbatim: the count only tells whoever exports the data to a spreadsheet that
the column needs escaping. A value counts when it starts with `=`, `+`, `-`, `@`, a tab or a
carriage return (OWASP's list) and is not a plain number such as `-5` or `+3.2`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"
PLAIN_NUMBER = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"
# Columns counted per query: the expressions of one query grow with the columns they hold.
COLUMNS_PER_QUERY = 500


def formula_like_counts(path: Path) -> dict[str, int]:
    """Text column name -> how many of its values look like formulas (0 included)."""
    frame = pl.scan_parquet(path)
    text_columns = [name for name, dtype in frame.collect_schema().items() if dtype == pl.String]
    counts: dict[str, int] = {}
    for first in range(0, len(text_columns), COLUMNS_PER_QUERY):
        names = text_columns[first : first + COLUMNS_PER_QUERY]
        row = frame.select(
            [
                (
                    pl.col(name).str.contains(FORMULA_START)
                    & ~pl.col(name).str.contains(PLAIN_NUMBER)
                )
                .sum()
                .alias(str(position))
                for position, name in enumerate(names)
            ]
        ).collect(engine="streaming")
        counts.update(
            (name, int(row[str(position)][0] or 0)) for position, name in enumerate(names)
        )
    return counts


def add_formula_like(profile: dict[str, Any], path: Path) -> dict[str, Any]:
    """Adds `formula_like` (a count; 0 for columns that hold no text) to each column of a
    `profile_parquet` result, and `formula_like_columns` (the names of those with any)."""
    counts = formula_like_counts(path)
    for column in profile["columns"]:
        column["formula_like"] = counts.get(column["name"], 0)
    profile["formula_like_columns"] = [name for name, count in counts.items() if count]
    return profile
