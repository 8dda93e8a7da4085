"""Column types of converted CSV files: no value changes what it says (tasks/csv_types.py)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from tasks.conversion import convert_to_parquet


def converted(source: Path, destination: Path) -> pl.DataFrame:
    convert_to_parquet(source, "csv", destination)
    return pl.read_parquet(destination)


@pytest.mark.parametrize(
    "values",
    [
        ["08123", "10115", "90210"],  # ZIP codes
        ["007", "042", "100"],  # ids with leading zeros
        ["+447911123456", "+4930123456"],  # phone numbers with a + sign
        ["0049301234567", "0033142685300"],  # phone numbers with an international prefix
        ["007.5", "1.5"],  # a decimal with a leading zero
        [" 12 ", "13"],  # spaces around digits
        ["12345678901234567890", "1"],  # past 64 bits
        ["1_000", "2"],
        ["12345678901234567890.5", "1.5"],  # more than 17 significant digits
        ["0.12345678901234567890", "1.5"],
        ["1e400", "1.5"],  # past the float range: infinity
        ["1e-400", "1.5"],  # below it: zero
    ],
)
def test_numbers_whose_text_a_number_would_change_stay_text(write, destination, values):
    source = write(("v\n" + "\n".join(values) + "\n").encode())
    column = converted(source, destination)["v"]
    assert column.dtype == pl.String
    assert column.to_list() == values


def test_plain_integers_and_decimals_are_numbers(write, destination):
    frame = converted(write(b"i,f\n0,0.5\n-3,1.50\n42,-2.25\n"), destination)
    assert frame.schema == {"i": pl.Int64, "f": pl.Float64}
    assert frame.rows() == [(0, 0.5), (-3, 1.5), (42, -2.25)]


def test_floats_of_up_to_17_significant_digits_are_numbers(write, destination):
    # Leading and trailing zeros are not significant: 0.000...0012 and 1.50000... are floats.
    values = ["0.12345678901234567", "0.00000000000000000000012", "1.5000000000000000000000"]
    column = converted(write(("f\n" + "\n".join(values) + "\n").encode()), destination)["f"]
    assert column.dtype == pl.Float64
    assert column.to_list() == [0.12345678901234567, 1.2e-22, 1.5]


def test_scientific_notation_is_a_float(write, destination):
    column = converted(write(b"x\n1e5\n-2.5E-3\n3\n"), destination)["x"]
    assert column.dtype == pl.Float64
    assert column.to_list() == [100000.0, -0.0025, 3.0]


def test_nan_and_infinities_are_numbers_beside_ordinary_numbers(write, destination):
    column = converted(write(b"x\n1.5\nNaN\ninf\n-Infinity\n"), destination)["x"]
    assert column.dtype == pl.Float64
    assert column[0] == 1.5 and column[1] != column[1]  # NaN
    assert column.to_list()[2:] == [float("inf"), float("-inf")]


def test_a_column_of_only_nan_like_words_is_text(write, destination):
    column = converted(write(b"name\nNan\nInf\n"), destination)["name"]
    assert column.dtype == pl.String
    assert column.to_list() == ["Nan", "Inf"]


def test_true_and_false_in_any_usual_case_are_booleans(write, destination):
    column = converted(write(b"ok\nTRUE\nfalse\nTrue\n\nFALSE\n"), destination)["ok"]
    assert column.dtype == pl.Boolean
    assert column.to_list() == [True, False, True, None, False]


def test_other_spellings_of_booleans_stay_text(write, destination):
    column = converted(write(b"ok\nyes\nno\ntRuE\n"), destination)["ok"]
    assert column.to_list() == ["yes", "no", "tRuE"]


def test_iso_dates_become_dates(write, destination):
    column = converted(write(b"d\n2024-01-02\n\n1999-12-31\n"), destination)["d"]
    assert column.dtype == pl.Date
    assert column.to_list() == [date(2024, 1, 2), None, date(1999, 12, 31)]


def test_a_date_that_does_not_exist_keeps_the_column_text(write, destination):
    column = converted(write(b"d\n2024-01-02\n2024-02-30\n"), destination)["d"]
    assert column.to_list() == ["2024-01-02", "2024-02-30"]


def test_other_date_spellings_stay_text(write, destination):
    column = converted(write(b"d\n02/01/2024\n03/01/2024\n"), destination)["d"]
    assert column.to_list() == ["02/01/2024", "03/01/2024"]


def test_iso_datetimes_without_a_zone_become_datetimes(write, destination):
    source = write(b"t\n2024-01-02T10:30:00\n2024-01-02 10:30:05.250\n")
    column = converted(source, destination)["t"]
    assert column.dtype == pl.Datetime("us")
    assert column.to_list() == [
        datetime(2024, 1, 2, 10, 30),
        datetime(2024, 1, 2, 10, 30, 5, 250_000),
    ]


def test_iso_datetimes_with_a_zone_become_utc_instants(write, destination):
    source = write(
        b"t\n2024-01-02T10:30:00Z\n2024-01-02T10:30:00+02:00\n2024-01-02 10:30:00-0100\n"
    )
    column = converted(source, destination)["t"]
    assert column.dtype == pl.Datetime("us", "UTC")
    assert column.to_list() == [
        datetime(2024, 1, 2, 10, 30, tzinfo=UTC),
        datetime(2024, 1, 2, 8, 30, tzinfo=UTC),
        datetime(2024, 1, 2, 11, 30, tzinfo=UTC),
    ]


def test_datetimes_with_and_without_a_zone_mixed_stay_text(write, destination):
    source = write(b"t\n2024-01-02T10:30:00Z\n2024-01-02T10:30:00\n")
    assert converted(source, destination)["t"].dtype == pl.String


def test_a_leading_zero_after_the_sampled_rows_keeps_every_value_verbatim(write, destination):
    source = write(b"id,n\n" + b"123,1\n" * 20_000 + b"0123,2\n")
    frame = converted(source, destination)
    assert frame.schema == {"id": pl.String, "n": pl.Int64}
    assert frame["id"][0] == "123"
    assert frame["id"][-1] == "0123"


def test_a_date_column_with_a_later_non_date_becomes_text(write, destination):
    source = write(b"d\n" + b"2024-01-02\n" * 20_000 + b"soon\n")
    column = converted(source, destination)["d"]
    assert column.dtype == pl.String
    assert column[-1] == "soon"


def test_a_column_empty_in_the_sampled_rows_is_text(write, destination):
    source = write(b"a,b\n" + b"1,\n" * 20_000 + b"2,5\n")
    frame = converted(source, destination)
    assert frame.schema == {"a": pl.Int64, "b": pl.String}
    assert frame["b"][-1] == "5"


def test_a_boolean_column_with_a_later_other_word_becomes_text(write, destination):
    source = write(b"ok\n" + b"true\nFALSE\n" * 10_000 + b"maybe\n")
    column = converted(source, destination)["ok"]
    assert column.dtype == pl.String
    assert (column[0], column[1], column[-1]) == ("true", "FALSE", "maybe")


def test_a_wide_file_is_typed_column_by_column(write, destination):
    # 400 columns x 6 types: past MAX_COLUMN_CHECKS, so the values are checked in long form.
    kinds = ["1", "08123", "2024-01-02", "1.5", "TRUE", "x"]
    header = ",".join(f"c{i}" for i in range(400))
    row = ",".join(kinds[i % len(kinds)] for i in range(400))
    frame = converted(write(f"{header}\n{row}\n{row}\n".encode()), destination)
    assert [frame.schema[f"c{i}"] for i in range(6)] == [
        pl.Int64,
        pl.String,
        pl.Date,
        pl.Float64,
        pl.Boolean,
        pl.String,
    ]
    assert frame.row(0)[:6] == (1, "08123", date(2024, 1, 2), 1.5, True, "x")


def test_late_values_are_fitted_in_long_form_too(write, destination, monkeypatch):
    monkeypatch.setattr("tasks.csv_types.MAX_COLUMN_CHECKS", 0)
    source = write(b"a,b,c\n" + b"1,2024-01-02,5\n" * 20_000 + b"2.5,2024-01-03,007\n")
    frame = converted(source, destination)
    assert frame.schema == {"a": pl.Float64, "b": pl.Date, "c": pl.String}
    assert (frame["a"][-1], frame["c"][0], frame["c"][-1]) == (2.5, "5", "007")


def test_column_names_that_look_like_regular_expressions_are_names(write, destination):
    frame = converted(write(b"^a.*$,ab,a1,b\n08,1,x,2024-01-02\n"), destination)
    assert frame.columns == ["^a.*$", "ab", "a1", "b"]
    assert frame.row(0) == ("08", 1, "x", date(2024, 1, 2))


@pytest.mark.parametrize(
    ("sampled", "late", "delimiter"),
    [
        (b"1", b"+1", b","),  # a sign the integer cast would drop
        (b"1", b"-01", b","),
        (b"1.5", b"007.5", b","),  # leading zeros the float cast would drop
        (b"1.5", b"12345678901234567890", b","),  # an id a float would round
        (b"1,5", b"1.234", b";"),  # a thousands point in a file of decimal commas
        (b"1.5", b"0.12345678901234567890", b","),  # digits a float would round
        (b"1.5", b"1e400", b","),  # an exponent a float would make infinity
        (b"1,5", b"1,7976931348623159e308", b";"),
    ],
)
def test_a_late_value_a_cast_would_change_keeps_the_column_text(
    write, destination, sampled, late, delimiter
):
    source = write(
        b"x"
        + delimiter
        + b"y\n"
        + (sampled + delimiter + b"a\n") * 20_000
        + late
        + delimiter
        + b"b\n"
    )
    column = converted(source, destination)["x"]
    assert column.dtype == pl.String
    assert (column[0], column[-1]) == (sampled.decode(), late.decode())


def test_wide_files_decide_types_over_the_whole_file_first(write, destination, monkeypatch):
    # Past EXACT_TYPES_PAST_COLUMNS the casts are unguarded: the whole-file types must hold.
    monkeypatch.setattr("tasks.csv_conversion.EXACT_TYPES_PAST_COLUMNS", 0)
    source = write(
        b"a,b,c,d,e\n" + b"1,5,2024-01-02,true,1.5\n" * 20_000 + b"2.5,007,2024-01-03,FALSE,NaN\n"
    )
    frame = converted(source, destination)
    assert frame.schema == {
        "a": pl.Float64,
        "b": pl.String,
        "c": pl.Date,
        "d": pl.Boolean,
        "e": pl.Float64,
    }
    assert frame.row(0) == (1.0, "5", date(2024, 1, 2), True, 1.5)
    assert frame.row(-1)[:4] == (2.5, "007", date(2024, 1, 3), False)
