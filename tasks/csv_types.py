"""Column types of a CSV file, chosen so that no value changes what it says.

Every column is read as text; a column becomes typed only when every one of its values is
written the way that type writes it (empty fields are nulls and fit any type):
- boolean: `true`/`false`, in lower, upper or title case;
- integer: `-?(0|[1-9][0-9]*)` within 64 bits. A leading zero (`08123`, `007`), a `+` sign
  (`+4420...`), spaces around the digits or more than 64 bits (an id a float would round)
  keep the column text;
- float: the same integer part, a fraction (`.` or the file's decimal comma) and/or an exponent
  (`1.50`, `1e5`, `-2.5E-3`; `1.50` reads back as 1.5, the same number). `NaN`, `inf` and
  `Infinity` count as numbers only in a column that also has ordinary ones (`Nan` is a name).
  More than 17 significant digits (leading and trailing zeros aside), which a 64-bit float
  cannot hold, or an exponent out of its range (`1e400` would become infinity, `1e-400` zero)
  keep the column text;
- date: ISO 8601 `YYYY-MM-DD`;
- datetime: ISO 8601 `YYYY-MM-DDTHH:MM:SS[.fraction]` (`T` or a space), all without a zone,
  or all with one (`Z`, `+02:00`, `+0200`), which are stored as UTC instants;
- anything else, and a column with no values, is text.
Types are guessed from a sample of rows; `fit_types` decides them over a whole file in one
streaming pass when a later value does not fit its guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

import polars as pl
import polars.selectors as cs

ColumnType = Literal["boolean", "integer", "float", "date", "datetime", "datetime_utc", "string"]
# The narrowest type first: a column takes the first one that every value fits.
TYPE_ORDER: tuple[ColumnType, ...] = (
    "boolean",
    "integer",
    "float",
    "date",
    "datetime",
    "datetime_utc",
    "string",
)

_INTEGER = r"-?(?:0|[1-9][0-9]*)"
_EXPONENT = r"(?:[eE][+-]?[0-9]+)"
_SPECIAL_FLOAT = r"-?(?:[Nn]a[Nn]|NAN|[Ii]nf|INF|[Ii]nfinity|INFINITY)"
_DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
_TIME = r"[ T][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,9})?"
_ZONE = r"(?:Z|[+-][0-9]{2}:?[0-9]{2})"
_BOOLEANS = {"true": True, "false": False}
_BOOLEAN_WORDS = [case(word) for word in _BOOLEANS for case in (str.lower, str.upper, str.title)]
# Up to this many (column, type) checks are one aggregate each; past it (wide files) the values
# are checked in long form (see `_narrowest`).
MAX_COLUMN_CHECKS = 2_000
# The types a column guessed as the key may turn out to be over a whole file, narrowest first.
_WIDER: dict[ColumnType, tuple[ColumnType, ...]] = {
    "boolean": ("boolean",),
    "integer": ("integer", "float"),
    "float": ("float",),
    "date": ("date",),
    "datetime": ("datetime",),
    "datetime_utc": ("datetime_utc",),
    "string": (),
}
# Guarded values that fail their type's check become this, which no strict cast accepts: the
# conversion then stops with `InvalidOperationError` instead of changing the value.
_NOT_A_VALUE = "\x00not a value"
# A 64-bit float tells apart every decimal number of up to 17 significant digits.
FLOAT_SIGNIFICANT_DIGITS = 17


def _plain_number(decimal: str) -> str:
    fraction = rf"(?:{re.escape(decimal)}[0-9]+)"
    # A bare integer of more than 18 digits (a 64-bit id) would lose digits as a float.
    return (
        rf"(?:-?(?:0|[1-9][0-9]{{0,17}})|{_INTEGER}{fraction}{_EXPONENT}?"
        rf"|{_INTEGER}{_EXPONENT}|-?{fraction}{_EXPONENT}?)"
    )


def _float_keeps_meaning(column: pl.Expr, decimal: str) -> pl.Expr:
    """False where a number spelled as a float would not read back as itself: more than
    `FLOAT_SIGNIFICANT_DIGITS` significant digits (rounded), or an exponent out of range
    (infinity, or zero for a number that is not)."""
    mantissa = column.str.replace(r"[eE].*$", "").str.replace_all(r"[^0-9]", "")
    digits = mantissa.str.strip_chars_start("0").str.strip_chars_end("0").str.len_chars()
    text = column.str.replace(",", ".", literal=True) if decimal == "," else column
    number = text.cast(pl.Float64, strict=False)
    special = column.str.contains(rf"^{_SPECIAL_FLOAT}$")
    in_range = ~number.is_infinite() & ~((number == 0) & (digits > 0))
    return special | ((digits <= FLOAT_SIGNIFICANT_DIGITS) & in_range)


def _written_as(column: pl.Expr, column_type: ColumnType, decimal: str) -> pl.Expr:
    """True where a (non-null) value is spelled as `column_type` writes it. The value itself
    (a 30th of February, an integer past 64 bits) is checked by parsing it (`_fits`)."""
    pattern = {
        "integer": _INTEGER,
        "float": rf"{_plain_number(decimal)}|{_SPECIAL_FLOAT}",
        "date": _DATE,
        "datetime": rf"{_DATE}{_TIME}",
        "datetime_utc": rf"{_DATE}{_TIME}{_ZONE}",
    }.get(column_type)
    if column_type == "boolean":
        return column.is_in(_BOOLEAN_WORDS)
    return pl.lit(True) if pattern is None else column.str.contains(rf"^(?:{pattern})$")


def _fits(column: pl.Expr, column_type: ColumnType, decimal: str) -> pl.Expr:
    """True where a (non-null) value is spelled as `column_type` writes it and parses."""
    spelled = _written_as(column, column_type, decimal)
    if column_type == "integer":
        return spelled & column.cast(pl.Int64, strict=False).is_not_null()
    if column_type == "float":
        return spelled & _float_keeps_meaning(column, decimal)
    if column_type in ("date", "datetime", "datetime_utc"):
        return spelled & _parsed(column, column_type).is_not_null()
    return spelled


def _parsed(column: pl.Expr, column_type: ColumnType, strict: bool = False) -> pl.Expr:
    if column_type == "date":
        return column.str.to_date("%Y-%m-%d", strict=strict)
    text = column.str.replace(" ", "T", literal=True)
    if column_type == "datetime":
        return text.str.to_datetime("%Y-%m-%dT%H:%M:%S%.f", time_unit="us", strict=strict)
    return text.str.replace(r"Z$", "+00:00").str.to_datetime(
        "%Y-%m-%dT%H:%M:%S%.f%z", time_unit="us", time_zone="UTC", strict=strict
    )


def guess_types(
    sample: pl.LazyFrame, columns: list[str], decimal: str, streaming: bool = False
) -> dict[str, ColumnType]:
    """Every column's type as a sample of rows (or, `streaming`, a whole file) shows it."""
    return _narrowest(sample, dict.fromkeys(columns, TYPE_ORDER[:-1]), decimal, streaming)


def fit_types(
    frame: pl.LazyFrame, guesses: Mapping[str, ColumnType], decimal: str
) -> dict[str, ColumnType]:
    """Each column's type over a whole file, in one streaming pass of aggregates. A type
    guessed from a sample can only hold or widen (an integer column to float, any to text), so
    only those types are tried."""
    return _narrowest(
        frame, {name: _WIDER[guess] for name, guess in guesses.items()}, decimal, streaming=True
    )


def _narrowest(
    frame: pl.LazyFrame,
    candidates: dict[str, tuple[ColumnType, ...]],
    decimal: str,
    streaming: bool,
) -> dict[str, ColumnType]:
    checks = sum(len(types) for types in candidates.values())
    if checks == 0:
        return dict.fromkeys(candidates, "string")
    engine: Literal["streaming", "auto"] = "streaming" if streaming else "auto"
    fitting: dict[str, dict[str, Any]]
    if checks <= MAX_COLUMN_CHECKS:
        # One aggregate per column and type: each value is checked only for its column's types.
        flags = [
            _all_fit(cs.by_name(name).as_expr(), kind, decimal).alias(f"{index}:{kind}")
            for index, (name, types) in enumerate(candidates.items())
            for kind in types
        ]
        row = frame.select(flags).collect(engine=engine).row(0, named=True)
        fitting = {
            name: {kind: row[f"{index}:{kind}"] for kind in types}
            for index, (name, types) in enumerate(candidates.items())
        }
    else:
        # Wide files: in long form (one row per column and value) one aggregate per type serves
        # every column, a few expressions whatever the width (one per column and type took 23 s
        # at 6,832 columns).
        tried = [kind for kind in TYPE_ORDER if any(kind in types for types in candidates.values())]
        table = (
            frame.select(cs.by_name(list(candidates)))
            .unpivot(variable_name="column", value_name="value")
            .group_by("column")
            .agg([_all_fit(pl.col("value"), kind, decimal).alias(kind) for kind in tried])
            .collect(engine=engine)
        )
        fitting = {row.pop("column"): row for row in table.iter_rows(named=True)}
    return {
        name: next((kind for kind in types if fitting.get(name, {}).get(kind)), "string")
        for name, types in candidates.items()
    }


def _all_fit(column: pl.Expr, column_type: ColumnType, decimal: str) -> pl.Expr:
    """Whether every value of `column` fits `column_type`, and there is at least one."""
    present = column.is_not_null()
    fits = (~present | _fits(column, column_type, decimal)).all() & present.any()
    if column_type == "float":  # specials alone are words, not numbers
        fits = fits & column.str.contains(rf"^{_plain_number(decimal)}$").any()
    return fits


def _cast_keeps_meaning(column: pl.Expr, column_type: ColumnType, decimal: str) -> pl.Expr:
    """`_written_as`, or for numbers a cheaper check of the same: polars' strict casts refuse
    every other spelling but a `+` sign and leading zeros (and, for floats, bare integers past
    18 digits, which would round, and a decimal point in a file of decimal commas), so only
    those are looked for (a full pattern per value cost a third of the conversion), and for
    floats the digits and range a float cannot hold."""
    if column_type not in ("integer", "float"):
        return _written_as(column, column_type, decimal)
    changed = r"^(?:\+|-?0[0-9])"
    if column_type == "float":
        changed += r"|^-?[0-9]{19,}$" + (r"|\." if decimal == "," else "")
        return ~column.str.contains(changed) & _float_keeps_meaning(column, decimal)
    return ~column.str.contains(changed)


def typed_columns(
    names: list[str], column_type: ColumnType, decimal: str, guarded: bool = True
) -> pl.Expr:
    """Columns `names` (text) as `column_type`, one expression for them all (20,000 expressions
    of one column each cost seconds to plan and run); a value that does not fit stops the query
    with `InvalidOperationError` rather than being changed or nulled. Unguarded, only values
    known to fit (types decided over the whole file) may be cast: nothing checks them."""
    column = cs.by_name(names)  # by name: `pl.col("^a.*$")` would be a regular expression
    if column_type == "string":
        return column.as_expr()
    checked = (
        # Spelling only: the strict cast below refuses what does not parse.
        pl.when(column.is_null() | _cast_keeps_meaning(column.as_expr(), column_type, decimal))
        .then(column)
        .otherwise(pl.lit(_NOT_A_VALUE))
        if guarded
        else column.as_expr()
    )
    if column_type == "boolean":
        # Not `replace_strict`, which leaves the streaming engine (memory grows with the file).
        words = checked.str.to_lowercase().str.replace("true", "1", literal=True)
        typed = words.str.replace("false", "0", literal=True).cast(pl.Int8).cast(pl.Boolean)
    elif column_type == "integer":
        typed = checked.cast(pl.Int64)
    elif column_type == "float":
        text = checked.str.replace(",", ".", literal=True) if decimal == "," else checked
        typed = text.cast(pl.Float64)
    else:
        typed = _parsed(checked, column_type, strict=True)
    return typed.name.keep()
