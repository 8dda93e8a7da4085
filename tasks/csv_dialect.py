"""Reads a CSV file's dialect from a sample of its first rows: delimiter, decimal mark and line
ending.

The sample is at least the first 64 KiB, and grows in 64 KiB steps until it holds the header and
`DIALECT_SAMPLE_ROWS` complete rows (row ends outside quoted fields), or the file's end: a wide
file's header alone can outgrow 64 KiB (10,000 columns: 79 KB), and a sample without data rows
sees no decimal comma and no line ending. Past `DIALECT_SAMPLE_MAX_BYTES` it stops as soon as it
holds one complete row after the header; screening has bounded every row by
`AUTOML_MAX_ROW_BYTES`, so the sample is bounded too. The line ending is the first row end outside
quoted fields (LF when there is none).

The delimiter is the one of comma, semicolon, tab and pipe that splits the sampled rows into
the same number of fields as the header, more than one (the most fields wins, then that order).
When none is consistent, the one giving the header the most fields is taken, so a ragged row is
reported against the columns the user meant (comma for a one-column file). A file delimited by
anything but commas has a decimal comma when its sampled values hold numbers like `1,99` and
none like `1.99` (Excel's export where the comma is the decimal mark).
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from tasks.csv_encoding import Encoding, detect_encoding

DIALECT_SAMPLE_BYTES = 64 * 1024
DIALECT_SAMPLE_ROWS = 5
# Past this, a sample with one row after the header is enough (memory: csv parses it 4 times).
DIALECT_SAMPLE_MAX_BYTES = 4 * 1024**2
DELIMITERS = (",", ";", "\t", "|")
LineEnding = Literal["LF", "CRLF", "CR"]

_DECIMAL_COMMA_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*),[0-9]+")
_DECIMAL_POINT_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)\.[0-9]+")
_ROW_END = re.compile(r"\r\n|\r|\n")
_LINE_ENDINGS: dict[str, LineEnding] = {"\r\n": "CRLF", "\r": "CR", "\n": "LF"}


@dataclass(frozen=True)
class CsvDialect:
    """How a CSV file was read; recorded in the version's profile under `dialect`."""

    encoding: Encoding
    delimiter: str
    decimal: Literal[".", ","]
    line_ending: LineEnding

    def as_profile(self) -> dict[str, Any]:
        return {
            "encoding": self.encoding,
            "delimiter": self.delimiter,
            "decimal": self.decimal,
            "line_ending": self.line_ending,
        }


def read_layout(utf8_path: Path, encoding: Encoding) -> CsvDialect:
    """The dialect of a UTF-8 file (`encoding` is the one it was transcoded from, if any)."""
    return _sampled_dialect(utf8_path, encoding, "utf-8")


def read_dialect(path: Path) -> CsvDialect:
    """The dialect a CSV file in any accepted encoding is read in, without converting it."""
    encoding = detect_encoding(path)
    return _sampled_dialect(path, encoding, encoding)


def _sampled_dialect(path: Path, encoding: Encoding, codec: str) -> CsvDialect:
    sample, complete = _read_sample(path, codec)
    delimiter = _delimiter(sample, complete)
    decimal_comma = delimiter != "," and _has_decimal_commas(
        _sample_rows(sample, complete, delimiter)
    )
    decimal: Literal[".", ","] = "," if decimal_comma else "."
    return CsvDialect(encoding, delimiter, decimal, _line_ending(sample))


def _read_sample(path: Path, codec: str) -> tuple[str, bool]:
    """The sample's text (see the module's docstring), and whether it is the whole file."""
    # A character cut by the sample's end is dropped; the file is checked while converting.
    decoder = codecs.getincrementaldecoder(codec)(errors="ignore")
    parts: list[str] = []
    size = row_ends = 0
    inside_quotes = False
    with path.open("rb") as file:
        while chunk := file.read(DIALECT_SAMPLE_BYTES):
            size += len(chunk)
            text = decoder.decode(chunk)
            parts.append(text)
            # A CRLF cut between chunks counts twice: it only ends the sample a row early.
            segments = text.split('"')
            outside = segments[1 if inside_quotes else 0 :: 2]
            row_ends += sum(len(_ROW_END.findall(segment)) for segment in outside)
            inside_quotes ^= len(segments) % 2 == 0
            if row_ends > DIALECT_SAMPLE_ROWS or (
                size >= DIALECT_SAMPLE_MAX_BYTES and row_ends > 1
            ):
                complete = not file.read(1)
                break
        else:
            parts.append(decoder.decode(b"", final=True))
            complete = True
    return "".join(parts).removeprefix("\ufeff"), complete


def _sample_rows(sample: str, complete: bool, delimiter: str) -> list[list[str]]:
    rows: list[list[str]] = []
    # A quote the sample cuts open ends it: the rows read so far are the sample.
    with contextlib.suppress(csv.Error):
        rows.extend(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter))
    if not complete and len(rows) > 1:
        rows.pop()  # the last row may be cut by the sample's end
    return rows


def _delimiter(sample: str, complete: bool) -> str:
    ranked: list[tuple[tuple[bool, int, int, int], str]] = []
    for position, delimiter in enumerate(DELIMITERS):
        rows = _sample_rows(sample, complete, delimiter)
        if not rows or len(rows[0]) < 2:
            continue
        width = len(rows[0])
        matching = sum(1 for row in rows[1:] if len(row) == width)
        consistent = matching == len(rows) - 1
        # Consistent delimiters rank by width; the others by how many rows they fit.
        ranked.append(
            ((consistent, width if consistent else matching, width, -position), delimiter)
        )
    return max(ranked)[1] if ranked else ","


def _has_decimal_commas(rows: list[list[str]]) -> bool:
    commas = points = False
    for row in rows[1:]:
        for value in row:
            commas = commas or _DECIMAL_COMMA_NUMBER.fullmatch(value) is not None
            points = points or _DECIMAL_POINT_NUMBER.fullmatch(value) is not None
    return commas and not points


def _line_ending(sample: str) -> LineEnding:
    """The first row end outside quoted fields: a value may hold other line breaks."""
    for segment in sample.split('"')[::2]:
        found = _ROW_END.search(segment)
        if found is not None:
            return _LINE_ENDINGS[found.group()]
    return "LF"
