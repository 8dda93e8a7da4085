"""Refuses hostile uploads before polars reads them: compressed content, binary bytes, rows or
headers too large to hold, and Parquet files whose footer declares more than they can be.

Each check reads bounded amounts: the magic bytes of the sniffed head, one vectorised pass over
a CSV in chunks of up to 4 MiB (0.9-1.1 s for 103 MB with quotes on every row, where polars'
conversion took 2.1 s), or a Parquet file's footer alone. Every
refusal is a `ContentRejectedError` whose sentence says what was found and what to upload
instead (docs/spec.md §4, content screening).
"""

from __future__ import annotations

import codecs
import re
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from core.errors import ContentRejectedError
from core.excerpts import quoted_name
from core.settings import GiB, Settings
from tasks.csv_encoding import byte_order_mark_encoding

SCAN_CHUNK_BYTES = 4 * 1024**2
# Parquet files that decode to less than this are never called bombs, whatever their ratio.
PARQUET_EXPANSION_FLOOR_BYTES = 1 * GiB
# polars (without its 64-bit index build) holds at most this many rows in a frame.
MAX_ROWS = 2**32 - 1
# Bytes one decoded value takes at least, by Parquet physical type (variable-length values:
# their offset; their bytes are in the column's uncompressed size).
PHYSICAL_VALUE_BYTES = {
    "BOOLEAN": 1,
    "INT32": 4,
    "INT64": 8,
    "INT96": 12,
    "FLOAT": 4,
    "DOUBLE": 8,
    "BYTE_ARRAY": 8,
    "FIXED_LEN_BYTE_ARRAY": 8,
}
# Separators a CSV header may use (comma, semicolon, tab, pipe): the widest reading counts.
HEADER_SEPARATORS = (ord(","), ord(";"), ord("\t"), ord("|"))
QUOTE = ord('"')
LINE_FEED, CARRIAGE_RETURN = ord("\n"), ord("\r")

# (magic bytes at offset 0, what the file is). Checked before the UTF-8 test, so that a
# compressed upload is named instead of called "not UTF-8". polars would silently decompress
# gzip, zlib and zstd: a few KB could expand without limit.
COMPRESSION_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x1f\x8b", "gzip-compressed"),
    (b"\x28\xb5\x2f\xfd", "zstd-compressed"),
    (b"\xfd7zXZ\x00", "xz-compressed"),
    (b"\x5d\x00\x00", "lzma-compressed"),
    (b"\x04\x22\x4d\x18", "lz4-compressed"),
    (b"PK\x03\x04", "a ZIP archive (an Excel .xlsx workbook is one too)"),
    (b"PK\x05\x06", "a ZIP archive (an Excel .xlsx workbook is one too)"),
    (b"PK\x07\x08", "a ZIP archive (an Excel .xlsx workbook is one too)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an Excel .xls workbook (or another OLE file)"),
)
ZLIB_FIRST_BYTE = 0x78
# "BZh", the block size digit, then a block's magic (pi) or the end of stream's (sqrt pi):
# "BZh" alone is text a header could start with.
BZIP2 = re.compile(rb"BZh[1-9](1AY&SY|\x17rE8P\x90)")


@dataclass(frozen=True)
class ContentLimits:
    """The configured limits of docs/spec.md §1 that screening applies."""

    max_columns: int
    max_row_bytes: int
    max_parquet_expansion: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ContentLimits:
        return cls(
            max_columns=settings.max_columns,
            max_row_bytes=settings.max_row_bytes,
            max_parquet_expansion=settings.max_parquet_expansion,
        )


def refuse_compressed(head: bytes) -> None:
    """Refuses content that is compressed or archived, by its magic bytes: compressed uploads
    are not decompressed (no bomb can expand), the user uploads the CSV or Parquet inside."""
    found = next((what for magic, what in COMPRESSION_MAGIC if head.startswith(magic)), None)
    if found is None and BZIP2.match(head):
        found = "bzip2-compressed"
    if found is None and _is_zlib_stream(head):
        found = "zlib-compressed"
    if found is not None:
        raise ContentRejectedError(f"the file is {found}; upload the uncompressed CSV or Parquet")


def screen_csv(path: Path, limits: ContentLimits) -> None:
    """One pass over the bytes: a NUL byte, a row longer than `max_row_bytes` (outside quoted
    fields a line feed or carriage return ends a row), or a header of more than `max_columns`
    columns is refused, at the first such place, before the rest is read."""
    _CsvScan(path, limits).run()


def screen_parquet(path: Path, limits: ContentLimits) -> None:
    """Checks the footer before any data is read: the column count, the declared data against
    the file's size (a footer that declares more than the file holds is damaged), and the
    decoded size against `max_parquet_expansion` times the file's size (a bomb)."""
    try:
        metadata = pq.read_metadata(path)
        columns = len(pq.read_schema(path).names)
    except (pa.ArrowException, OSError, ValueError) as exc:
        raise ContentRejectedError(
            "the Parquet file is damaged: its footer cannot be read"
        ) from exc
    if columns > limits.max_columns:
        raise ContentRejectedError(
            f"the file has {columns:,} columns; at most {limits.max_columns:,} are supported"
        )
    size = path.stat().st_size
    declared_bytes = decoded_bytes = declared_rows = 0
    for group_index in range(metadata.num_row_groups):
        group = metadata.row_group(group_index)
        declared_rows += group.num_rows
        for column_index in range(group.num_columns):
            chunk = group.column(column_index)
            if chunk.num_values < group.num_rows:  # every row holds a value or a null
                raise ContentRejectedError(
                    f"the Parquet file is damaged: its footer declares {group.num_rows:,} rows "
                    f"in row group {group_index + 1}, whose column "
                    f"{quoted_name(chunk.path_in_schema)} "
                    f"holds {chunk.num_values:,} values"
                )
            declared_bytes += chunk.total_compressed_size
            width = PHYSICAL_VALUE_BYTES.get(chunk.physical_type, 8)
            decoded_bytes += max(chunk.total_uncompressed_size, chunk.num_values * width)
    if declared_bytes > size or declared_rows != metadata.num_rows or declared_rows < 0:
        raise ContentRejectedError(
            "the Parquet file is damaged: its footer declares "
            f"{declared_rows:,} rows in {byte_size(declared_bytes)} of data, which a file of "
            f"{byte_size(size)} cannot hold"
        )
    if declared_rows > MAX_ROWS:
        raise ContentRejectedError(
            f"the Parquet file has {declared_rows:,} rows; at most {MAX_ROWS:,} are supported"
        )
    allowed = max(PARQUET_EXPANSION_FLOOR_BYTES, limits.max_parquet_expansion * size)
    if decoded_bytes > allowed:
        raise ContentRejectedError(
            f"the Parquet file would expand from {byte_size(size)} to about "
            f"{byte_size(decoded_bytes)} once decoded ({declared_rows:,} rows; "
            f"{decoded_bytes // max(size, 1):,} times its size, at most "
            f"{limits.max_parquet_expansion:,} times is accepted): it looks like a "
            "decompression bomb"
        )


def _is_zlib_stream(head: bytes) -> bool:
    """A zlib header (0x78, a check byte) on bytes that are not UTF-8 text and inflate: polars
    decompresses these. `x^` is such a header too, and text may start with it."""
    if len(head) < 2 or head[0] != ZLIB_FIRST_BYTE or (head[0] * 256 + head[1]) % 31:
        return False
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        pass
    else:
        return False
    try:
        zlib.decompressobj().decompress(head[:4096], 64 * 1024)
    except zlib.error:
        return False
    return True


def byte_size(count: int) -> str:
    """A byte count as people read it (decimal units: "2.7 KB", "1.0 GB")."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if count >= scale:
            return f"{count / scale:,.1f} {unit}"
    return f"{count:,} bytes"


class _CsvScan:
    """The state of `screen_csv`'s pass, carried from chunk to chunk: where the current row
    started, whether a quoted field is open, and the header's separator counts until it ends.

    Chunks are at most `max_row_bytes` long, so a row over the limit cannot lie inside one: only
    each chunk's first row end (against the row carried in) and an unended row need checking.
    Positions are in code units: bytes, or 16- or 32-bit units for UTF-16 or UTF-32 with a BOM
    (whose ASCII characters each hold zero bytes, so it is scanned in units, not bytes). Line
    numbers are counted only for a refusal, by reading the file again up to it."""

    def __init__(self, path: Path, limits: ContentLimits) -> None:
        self.path = path
        self.limits = limits
        with path.open("rb") as file:
            self.dtype = _code_unit_dtype(file.read(4))
        self.unit_bytes = np.dtype(self.dtype).itemsize
        self.max_row_units = limits.max_row_bytes // self.unit_bytes
        self.chunk_bytes = min(SCAN_CHUNK_BYTES, self.max_row_units * self.unit_bytes)
        self.row_start = 0
        self.inside_quotes = False
        self.header_done = False
        self.header_separators = [0] * len(HEADER_SEPARATORS)

    def run(self) -> None:
        offset = 0
        with self.path.open("rb") as file:
            while chunk := file.read(self.chunk_bytes):
                data = np.frombuffer(chunk, dtype=self.dtype, count=len(chunk) // self.unit_bytes)
                self._scan(chunk, data, offset)
                offset += len(data)
        if not self.header_done:
            self._refuse_wide_header(complete=True)

    def _scan(self, chunk: bytes, data: np.ndarray, offset: int) -> None:
        quotes = np.flatnonzero(data == QUOTE)
        row_ends = np.flatnonzero((data == LINE_FEED) | (data == CARRIAGE_RETURN))
        if len(quotes) or self.inside_quotes:
            # A break is outside quoted fields after an even number of quotes (a doubled
            # quote counts twice), those of earlier chunks included.
            before = np.searchsorted(quotes, row_ends) + int(self.inside_quotes)
            row_ends = row_ends[before % 2 == 0]
        nul = chunk.find(b"\x00") if self.unit_bytes == 1 else _first(data == 0)
        first_end = int(row_ends[0]) if len(row_ends) else len(data)
        too_long = offset + first_end - self.row_start > self.max_row_units
        if nul != -1 and not (too_long and self.row_start + self.max_row_units < offset + nul):
            self._refuse_nul(offset + nul)
        if not self.header_done:
            self._count_header_separators(data[:first_end], quotes)
            self._refuse_wide_header(complete=len(row_ends) > 0)
            self.header_done = len(row_ends) > 0
        if too_long:
            self._refuse_long_row()
        if len(row_ends):
            self.row_start = offset + int(row_ends[-1]) + 1
        self.inside_quotes ^= len(quotes) % 2 == 1

    def _count_header_separators(self, part: np.ndarray, quotes: np.ndarray) -> None:
        for index, separator in enumerate(HEADER_SEPARATORS):
            found = np.flatnonzero(part == separator)
            if len(quotes) or self.inside_quotes:
                before = np.searchsorted(quotes, found) + int(self.inside_quotes)
                found = found[before % 2 == 0]
            self.header_separators[index] += len(found)

    def _refuse_wide_header(self, complete: bool) -> None:
        columns = 1 + max(self.header_separators)
        if columns > self.limits.max_columns:
            counted = f"{columns:,}" if complete else f"more than {self.limits.max_columns:,}"
            raise ContentRejectedError(
                f"the header row has {counted} columns; at most "
                f"{self.limits.max_columns:,} are supported"
            )

    def _line_of(self, position: int) -> int:
        """The line number (1-based) of a unit position: line feeds before it, or carriage
        returns in a file that has none (old Mac line endings)."""
        feeds = returns = 0
        remaining = position * self.unit_bytes
        with self.path.open("rb") as file:
            while remaining > 0 and (chunk := file.read(min(SCAN_CHUNK_BYTES, remaining))):
                remaining -= len(chunk)
                data = np.frombuffer(chunk, dtype=self.dtype, count=len(chunk) // self.unit_bytes)
                feeds += int(np.count_nonzero(data == LINE_FEED))
                returns += int(np.count_nonzero(data == CARRIAGE_RETURN))
        return 1 + (feeds or returns)

    def _refuse_nul(self, position: int) -> None:
        raise ContentRejectedError(
            f"line {self._line_of(position):,} holds a NUL byte (byte offset "
            f"{position * self.unit_bytes:,}): the file is binary, not CSV text; "
            "save it as CSV UTF-8 or Parquet"
        )

    def _refuse_long_row(self) -> None:
        raise ContentRejectedError(
            f"the row starting at line {self._line_of(self.row_start):,} is longer than "
            f"{byte_size(self.limits.max_row_bytes)}, the most one row may hold: a value may be "
            "missing its closing quote, or the file is not a table"
        )


def _code_unit_dtype(head: bytes) -> str:
    """The numpy type of one code unit of a file whose first bytes are `head`: the byte-order
    mark decides (UTF-32's before UTF-16's, whose LE mark starts UTF-32 LE's), else bytes."""
    encoding = byte_order_mark_encoding(head)
    if encoding not in ("utf-16", "utf-32"):
        return "u1"
    order = "<" if head.startswith(codecs.BOM_UTF16_LE) else ">"
    return f"{order}u{2 if encoding == 'utf-16' else 4}"


def _first(mask: np.ndarray) -> int:
    found = np.flatnonzero(mask)
    return int(found[0]) if len(found) else -1


def check_column_names(names: list[str]) -> None:
    """Every column has a name, and no name appears twice (CSV header or Parquet schema)."""
    for position, name in enumerate(names, start=1):
        if not name.strip():
            raise ContentRejectedError(f"column {position} has no name")
    for name, count in Counter(names).items():
        if count > 1:
            times = "twice" if count == 2 else f"{count} times"
            raise ContentRejectedError(f"column name {quoted_name(name)} appears {times}")
