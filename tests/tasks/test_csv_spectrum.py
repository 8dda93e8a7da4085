"""csv-spectrum's acid test: every CSV of the package converts and every value says what its
JSON says (tests/fixtures/csv_spectrum/README.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from tasks.conversion import convert_to_parquet

SPECTRUM = Path(__file__).parents[1] / "fixtures" / "csv_spectrum"
CASES = sorted(path.stem for path in (SPECTRUM / "csvs").glob("*.csv"))
# The package's own errata (its JSON disagrees with its CSV): the CSV's value is the truth.
ERRATA = {("location_coordinates", 0, "Contact Phone Number"): "2095257564"}


def expected_rows(case: str) -> list[dict[str, str]]:
    loaded = json.loads((SPECTRUM / "json" / f"{case}.json").read_text(encoding="utf-8"))
    rows: list[dict[str, str]] = loaded if isinstance(loaded, list) else [loaded]
    return [
        {name: ERRATA.get((case, index, name), text) for name, text in row.items()}
        for index, row in enumerate(rows)
    ]


def as_text(value: Any) -> str:
    """A stored value written back as CSV text; null is the empty field it was read from."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def test_the_fixture_holds_the_whole_package() -> None:
    assert len(CASES) == 12
    assert sorted(path.stem for path in (SPECTRUM / "json").glob("*.json")) == CASES


@pytest.mark.parametrize("case", CASES)
def test_every_value_matches_the_json(case: str, tmp_path: Path) -> None:
    destination = tmp_path / "out.parquet"
    result = convert_to_parquet(SPECTRUM / "csvs" / f"{case}.csv", "csv", destination)
    expected = expected_rows(case)
    frame = pl.read_parquet(destination)
    assert result.columns == list(expected[0])
    assert frame.height == len(expected)
    for stored, wanted in zip(frame.iter_rows(named=True), expected, strict=True):
        for name, text in wanted.items():
            value = stored[name]
            if isinstance(value, float):  # `1.50` may read back as 1.5: the same number
                assert value == float(text), (case, name)
            else:
                assert as_text(value) == text, (case, name)


def test_the_acid_tests_zip_code_keeps_its_leading_zero(tmp_path: Path) -> None:
    destination = tmp_path / "out.parquet"
    convert_to_parquet(SPECTRUM / "csvs" / "comma_in_quotes.csv", "csv", destination)
    zip_code = pl.read_parquet(destination)["zip"]
    assert zip_code.dtype == pl.String
    assert zip_code.to_list() == ["08123"]
